//! The SQL behind [`super::TenantStats`]: each query reads one tenant's hourly rows in the
//! window through the tenant-scoped transaction (an index range on `(tenant_id, hour, ...)`).

use super::{
    Bucket, BudgetHistory, BudgetOut, IdentityStats, MemberStats, MonthStats, RepositoryStats, RouteStats,
    StatusCounts, TokenStats, Window,
};
use crate::Error;
use crate::db::TenantTx;
use sqlx::types::Json;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Answers that spent no rate-limit unit.
const FROM_CACHE: &str = "cache_status IN ('HIT', 'REVALIDATED', 'STALE')";
/// The bucket of an hourly row: `$2` is the window's start, `$3` the bucket size in hours.
const BUCKET: &str = "floor(floor(extract(epoch FROM hour - $2) / 3600) / $3)::int";

/// One tenant and window.
pub(super) struct Scope {
    pub tenant: Uuid,
    pub window: Window,
}

#[derive(sqlx::FromRow)]
struct IdentityRow {
    id: Uuid,
    name: String,
    kind: String,
    enabled: bool,
    state: Option<String>,
    reason: Option<String>,
    until: Option<OffsetDateTime>,
    budgets: Option<Json<Vec<BudgetOut>>>,
    reported_at: Option<OffsetDateTime>,
    calls: i64,
    units: i64,
    not_modified: i64,
}

impl Scope {
    fn empty_series(&self) -> Vec<Bucket> {
        (0..self.window.buckets)
            .map(|i| Bucket {
                start: self.window.bucket_start(i),
                requests: StatusCounts::default(),
                errors: 0,
                upstream_calls: 0,
                units: 0,
                units_saved: 0,
            })
            .collect()
    }

    /// Requests by cache status, in all and per bucket.
    pub async fn requests(&self, tx: &mut TenantTx) -> Result<(StatusCounts, Vec<Bucket>), Error> {
        let rows: Vec<(i32, String, i64)> = sqlx::query_as(&format!(
            "SELECT {BUCKET} AS b, cache_status, sum(requests)::bigint
             FROM usage_requests_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $4
             GROUP BY 1, 2"
        ))
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.bucket_hours as f64)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?;
        let mut total = StatusCounts::default();
        let mut series = self.empty_series();
        for (b, status, n) in rows {
            total.add(&status, n);
            if let Some(bucket) = series.get_mut(b as usize) {
                bucket.requests.add(&status, n);
                bucket.units_saved = bucket.requests.from_cache();
            }
        }
        Ok((total, series))
    }

    /// Calls, units and free 304s in all, and calls and units per bucket.
    pub async fn upstream(&self, tx: &mut TenantTx, series: &mut [Bucket]) -> Result<(i64, i64, i64), Error> {
        let rows: Vec<(i32, i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT {BUCKET} AS b, sum(calls)::bigint, sum(units)::bigint, sum(not_modified)::bigint
             FROM usage_upstream_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $4
             GROUP BY 1"
        ))
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.bucket_hours as f64)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?;
        let (mut calls, mut units, mut not_modified) = (0, 0, 0);
        for (b, c, u, nm) in rows {
            calls += c;
            units += u;
            not_modified += nm;
            if let Some(bucket) = series.get_mut(b as usize) {
                bucket.upstream_calls += c;
                bucket.units += u;
            }
        }
        Ok((calls, units, not_modified))
    }

    /// Requests answered with an error, in all and per bucket.
    pub async fn errors(&self, tx: &mut TenantTx, series: &mut [Bucket]) -> Result<i64, Error> {
        let rows: Vec<(i32, i64)> = sqlx::query_as(&format!(
            "SELECT {BUCKET} AS b, sum(errors)::bigint FROM usage_errors_hourly
             WHERE tenant_id = $1 AND hour >= $2 AND hour < $4 GROUP BY 1"
        ))
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.bucket_hours as f64)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?;
        let mut total = 0;
        for (b, n) in rows {
            total += n;
            if let Some(bucket) = series.get_mut(b as usize) {
                bucket.errors += n;
            }
        }
        Ok(total)
    }

    /// Every identity, oldest first, with its health, spend in the window and budget history.
    pub async fn identities(&self, tx: &mut TenantTx) -> Result<Vec<IdentityStats>, Error> {
        let rows: Vec<IdentityRow> = sqlx::query_as(
            "SELECT i.id, i.name, i.kind, i.enabled, h.state, h.reason, h.until, h.budgets, h.updated_at AS reported_at,
                    coalesce(u.calls, 0)::bigint AS calls, coalesce(u.units, 0)::bigint AS units,
                    coalesce(u.not_modified, 0)::bigint AS not_modified
             FROM identities i
             LEFT JOIN identity_health h ON h.tenant_id = i.tenant_id AND h.identity_id = i.id
             LEFT JOIN (SELECT identity_id, sum(calls) AS calls, sum(units) AS units, sum(not_modified) AS not_modified
                        FROM usage_upstream_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $3
                        GROUP BY identity_id) u ON u.identity_id = i.id
             WHERE i.tenant_id = $1 ORDER BY i.created_at, i.id",
        )
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?;
        // The last report of each bucket, per identity and resource.
        let points: Vec<(Uuid, String, i32, i64, i64, Option<OffsetDateTime>)> = sqlx::query_as(&format!(
            "SELECT DISTINCT ON (identity_id, resource, b) identity_id, resource, {BUCKET} AS b,
                    budget_limit, remaining, reset_at
             FROM usage_budget_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $4
             ORDER BY identity_id, resource, b, hour DESC"
        ))
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.bucket_hours as f64)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?;
        let mut history: BTreeMap<(Uuid, String), BudgetHistory> = BTreeMap::new();
        for (id, resource, b, limit, remaining, reset) in points {
            let h = history.entry((id, resource.clone())).or_insert_with(|| BudgetHistory {
                resource,
                limit,
                remaining: vec![None; self.window.buckets],
                reset,
            });
            if let Some(slot) = h.remaining.get_mut(b as usize) {
                *slot = Some(remaining);
            }
            // Rows come oldest bucket first: the last one wins.
            h.limit = limit;
            h.reset = reset;
        }
        Ok(rows
            .into_iter()
            .map(|r| IdentityStats {
                history: history
                    .range((r.id, String::new())..)
                    .take_while(|((id, _), _)| *id == r.id)
                    .map(|(_, h)| h.clone())
                    .collect(),
                id: r.id,
                name: r.name,
                kind: r.kind,
                enabled: r.enabled,
                cooling_until: r.until.filter(|_| r.state.as_deref() == Some("cooling_down")),
                state: r.state,
                reason: r.reason,
                reported_at: r.reported_at,
                budgets: r.budgets.map(|b| b.0).unwrap_or_default(),
                calls: r.calls,
                units: r.units,
                not_modified: r.not_modified,
            })
            .collect())
    }

    /// Members with requests in the window, busiest first.
    pub async fn members(&self, tx: &mut TenantTx) -> Result<Vec<MemberStats>, Error> {
        Ok(sqlx::query_as(&format!(
            "SELECT u.login, sum(r.requests)::bigint AS requests,
                    coalesce(sum(r.requests) FILTER (WHERE r.{FROM_CACHE}), 0)::bigint AS from_cache
             FROM usage_requests_hourly r
             JOIN caller_tokens ct ON ct.tenant_id = r.tenant_id AND ct.id = r.caller_token_id
             JOIN users u ON u.id = ct.user_id
             WHERE r.tenant_id = $1 AND r.hour >= $2 AND r.hour < $3
             GROUP BY u.login ORDER BY requests DESC, u.login"
        ))
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?)
    }

    /// Caller tokens that are live or have requests in the window, busiest first (at most 50).
    pub async fn caller_tokens(&self, tx: &mut TenantTx) -> Result<Vec<TokenStats>, Error> {
        Ok(sqlx::query_as(&format!(
            "SELECT ct.id, ct.name, ct.display_prefix AS prefix, u.login,
                    (ct.revoked_at IS NOT NULL OR (ct.expires_at IS NOT NULL AND ct.expires_at <= now())) AS revoked,
                    coalesce(r.requests, 0)::bigint AS requests, coalesce(r.from_cache, 0)::bigint AS from_cache
             FROM caller_tokens ct
             JOIN users u ON u.id = ct.user_id
             LEFT JOIN (SELECT caller_token_id, sum(requests) AS requests,
                               sum(requests) FILTER (WHERE {FROM_CACHE}) AS from_cache
                        FROM usage_requests_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $3
                        GROUP BY caller_token_id) r ON r.caller_token_id = ct.id
             WHERE ct.tenant_id = $1
               AND (r.requests > 0 OR (ct.revoked_at IS NULL AND (ct.expires_at IS NULL OR ct.expires_at > now())))
             ORDER BY requests DESC, ct.name, ct.id LIMIT 50"
        ))
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?)
    }

    /// Route classes, busiest first.
    pub async fn routes(&self, tx: &mut TenantTx) -> Result<Vec<RouteStats>, Error> {
        Ok(sqlx::query_as(&format!(
            "SELECT route_class, sum(requests)::bigint AS requests,
                    coalesce(sum(requests) FILTER (WHERE {FROM_CACHE}), 0)::bigint AS from_cache
             FROM usage_requests_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $3
             GROUP BY route_class ORDER BY requests DESC, route_class"
        ))
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?)
    }

    /// The 20 repositories read most, busiest first.
    pub async fn repositories(&self, tx: &mut TenantTx) -> Result<Vec<RepositoryStats>, Error> {
        Ok(sqlx::query_as(
            "SELECT repository, sum(requests)::bigint AS requests
             FROM usage_repos_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $3
             GROUP BY repository ORDER BY requests DESC, repository LIMIT 20",
        )
        .bind(self.tenant)
        .bind(self.window.start)
        .bind(self.window.end)
        .fetch_all(&mut **tx)
        .await?)
    }

    /// This UTC month so far, from the daily rollup.
    pub async fn month(&self, tx: &mut TenantTx) -> Result<MonthStats, Error> {
        Ok(sqlx::query_as(
            "SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start,
                    coalesce(sum(requests), 0)::bigint AS requests, coalesce(sum(units), 0)::bigint AS units,
                    coalesce(sum(from_cache), 0)::bigint AS units_saved
             FROM usage_daily
             WHERE tenant_id = $1 AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date",
        )
        .bind(self.tenant)
        .fetch_one(&mut **tx)
        .await?)
    }
}
