//! A tenant's use: workers' reports applied once each into hourly tables ([`apply_report`]), and
//! what the dashboard shows of the last 24 hours: requests and how many the cache answered
//! without spending, upstream spend per identity with the budget each account had left at its
//! worker's last report, and requests per caller token and per route class.

use crate::Error;
use crate::db::{TenantTx, begin_tenant};
use shoal_common::TenantId;
use shoal_common::protocol::{Budget, HealthState, UsageReport};
use sqlx::PgPool;
use sqlx::types::Json;
use time::OffsetDateTime;

/// Hourly rows from the current hour and the 23 before it.
const LAST_DAY: &str = "hour >= date_trunc('hour', now()) - interval '23 hours'";
/// Answers that spent no rate-limit unit.
const FROM_CACHE: &str = "cache_status IN ('HIT', 'REVALIDATED', 'STALE')";

/// The tenant's last 24 hours.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Summary {
    pub requests: i64,
    pub from_cache: i64,
    pub upstream_calls: i64,
    pub units: i64,
    pub not_modified: i64,
}

impl Summary {
    /// The share of requests answered without spending a unit, as `87%`, or `-` before any.
    pub fn hit_rate(&self) -> String {
        percent(self.from_cache, self.requests)
    }
}

/// One identity with its health, budgets and spend.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityUsage {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    /// `healthy`, `quarantined`, `cooling_down`; `None` before its worker reported.
    pub state: Option<String>,
    pub reason: Option<String>,
    pub budgets: Option<Json<Vec<Budget>>>,
    pub reported_at: Option<OffsetDateTime>,
    pub calls: i64,
    pub units: i64,
}

impl IdentityUsage {
    /// `core 4,990/5,000 · graphql 4,870/5,000`, or `-` before GitHub told.
    pub fn budget_text(&self) -> String {
        let parts: Vec<String> = self
            .budgets
            .iter()
            .flat_map(|b| b.0.iter())
            .map(|b| format!("{} {}/{}", b.resource, b.remaining, b.limit))
            .collect();
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" · ")
        }
    }
}

/// Requests of one route class (`pulls`, `issues`, `actions`, `graphql`, ...).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RouteUsage {
    pub route_class: String,
    pub requests: i64,
    pub from_cache: i64,
}

impl RouteUsage {
    /// As [`Summary::hit_rate`].
    pub fn hit_rate(&self) -> String {
        percent(self.from_cache, self.requests)
    }
}

/// One live caller token's requests.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallerUsage {
    pub name: String,
    pub display_prefix: String,
    pub login: String,
    pub requests: i64,
    pub from_cache: i64,
}

impl CallerUsage {
    /// As [`Summary::hit_rate`].
    pub fn hit_rate(&self) -> String {
        percent(self.from_cache, self.requests)
    }
}

fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "-".into()
    } else {
        format!("{}%", part * 100 / whole)
    }
}

/// Totals of the last 24 hours.
pub async fn summary(tx: &mut TenantTx) -> Result<Summary, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT
            (SELECT coalesce(sum(requests), 0)::bigint FROM usage_requests_hourly WHERE tenant_id = $1 AND {LAST_DAY}) AS requests,
            (SELECT coalesce(sum(requests), 0)::bigint FROM usage_requests_hourly
               WHERE tenant_id = $1 AND {LAST_DAY} AND {FROM_CACHE}) AS from_cache,
            coalesce(sum(calls), 0)::bigint AS upstream_calls,
            coalesce(sum(units), 0)::bigint AS units,
            coalesce(sum(not_modified), 0)::bigint AS not_modified
         FROM usage_upstream_hourly WHERE tenant_id = $1 AND {LAST_DAY}"
    ))
    .bind(tx.tenant().as_uuid())
    .fetch_one(&mut **tx)
    .await?)
}

/// Every identity, oldest first, with what its worker last reported and its 24-hour spend.
pub async fn identities(tx: &mut TenantTx) -> Result<Vec<IdentityUsage>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT i.name, i.kind, i.enabled, h.state, h.reason, h.budgets, h.updated_at AS reported_at,
                coalesce(u.calls, 0)::bigint AS calls, coalesce(u.units, 0)::bigint AS units
         FROM identities i
         LEFT JOIN identity_health h ON h.tenant_id = i.tenant_id AND h.identity_id = i.id
         LEFT JOIN (SELECT identity_id, sum(calls) AS calls, sum(units) AS units FROM usage_upstream_hourly
                    WHERE tenant_id = $1 AND {LAST_DAY} GROUP BY identity_id) u ON u.identity_id = i.id
         WHERE i.tenant_id = $1 ORDER BY i.created_at"
    ))
    .bind(tx.tenant().as_uuid())
    .fetch_all(&mut **tx)
    .await?)
}

/// Live caller tokens by their 24-hour requests, busiest first (at most 20).
pub async fn callers(tx: &mut TenantTx) -> Result<Vec<CallerUsage>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT ct.name, ct.display_prefix, u.login,
                coalesce(sum(r.requests), 0)::bigint AS requests,
                coalesce(sum(r.requests) FILTER (WHERE r.{FROM_CACHE}), 0)::bigint AS from_cache
         FROM caller_tokens ct
         JOIN users u ON u.id = ct.user_id
         LEFT JOIN usage_requests_hourly r ON r.tenant_id = ct.tenant_id AND r.caller_token_id = ct.id AND r.{LAST_DAY}
         WHERE ct.tenant_id = $1 AND ct.revoked_at IS NULL AND (ct.expires_at IS NULL OR ct.expires_at > now())
         GROUP BY ct.id, ct.name, ct.display_prefix, u.login
         ORDER BY requests DESC, ct.name LIMIT 20"
    ))
    .bind(tx.tenant().as_uuid())
    .fetch_all(&mut **tx)
    .await?)
}

/// Route classes by their 24-hour requests, busiest first.
pub async fn routes(tx: &mut TenantTx) -> Result<Vec<RouteUsage>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT route_class, sum(requests)::bigint AS requests,
                coalesce(sum(requests) FILTER (WHERE {FROM_CACHE}), 0)::bigint AS from_cache
         FROM usage_requests_hourly WHERE tenant_id = $1 AND {LAST_DAY}
         GROUP BY route_class ORDER BY requests DESC, route_class"
    ))
    .bind(tx.tenant().as_uuid())
    .fetch_all(&mut **tx)
    .await?)
}

/// Applies a worker's usage report to the tenant's hourly tables and identity health, once per
/// report id: returns false, changing nothing, for a report id seen before.
pub async fn apply_report(pool: &PgPool, tenant: TenantId, report: &UsageReport) -> Result<bool, Error> {
    let mut tx = begin_tenant(pool, tenant).await?;
    let tenant = tenant.as_uuid();
    let fresh = sqlx::query("INSERT INTO usage_reports (report_id, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(report.report_id)
        .bind(tenant)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !fresh {
        return Ok(false);
    }
    let hour = report.period_end;
    for r in &report.requests {
        sqlx::query(
            "INSERT INTO usage_requests_hourly (tenant_id, hour, caller_token_id, route_class, cache_status, requests)
             VALUES ($1, date_trunc('hour', $2::timestamptz), $3, $4, $5, $6)
             ON CONFLICT (tenant_id, hour, COALESCE(caller_token_id, '00000000-0000-0000-0000-000000000000'::uuid), route_class, cache_status)
             DO UPDATE SET requests = usage_requests_hourly.requests + EXCLUDED.requests",
        )
        .bind(tenant)
        .bind(hour)
        .bind(r.caller_token.map(|c| c.as_uuid()))
        .bind(&r.route_class)
        .bind(r.cache_status.as_str())
        .bind(r.count as i64)
        .execute(&mut *tx)
        .await?;
    }
    for u in &report.upstream {
        sqlx::query(
            "INSERT INTO usage_upstream_hourly (tenant_id, hour, identity_id, resource, calls, units, not_modified)
             VALUES ($1, date_trunc('hour', $2::timestamptz), $3, $4, $5, $6, $7)
             ON CONFLICT (tenant_id, hour, identity_id, resource) DO UPDATE SET
                calls = usage_upstream_hourly.calls + EXCLUDED.calls,
                units = usage_upstream_hourly.units + EXCLUDED.units,
                not_modified = usage_upstream_hourly.not_modified + EXCLUDED.not_modified",
        )
        .bind(tenant)
        .bind(hour)
        .bind(u.identity.as_uuid())
        .bind(&u.resource)
        .bind(u.calls as i64)
        .bind(u.units as i64)
        .bind(u.not_modified as i64)
        .execute(&mut *tx)
        .await?;
    }
    for h in &report.identity_health {
        let (state_name, reason, until) = match &h.state {
            HealthState::Healthy => ("healthy", None, None),
            HealthState::Quarantined { reason } => {
                ("quarantined", Some(reason.chars().take(200).collect::<String>()), None)
            }
            HealthState::CoolingDown { until } => ("cooling_down", None, Some(*until)),
        };
        sqlx::query(
            "INSERT INTO identity_health (tenant_id, identity_id, state, reason, until, budgets)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, identity_id) DO UPDATE SET
                state = EXCLUDED.state, reason = EXCLUDED.reason, until = EXCLUDED.until,
                budgets = EXCLUDED.budgets, updated_at = now()",
        )
        .bind(tenant)
        .bind(h.identity.as_uuid())
        .bind(state_name)
        .bind(reason)
        .bind(until)
        .bind(sqlx::types::Json(&h.budgets))
        .execute(&mut *tx)
        .await?;
    }
    crate::tenants::policy_module::apply_report(&mut tx, &report.policy_module).await?;
    tx.commit().await?;
    Ok(true)
}
