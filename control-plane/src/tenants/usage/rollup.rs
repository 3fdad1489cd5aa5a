//! What a usage report adds besides the hourly request and spend rows: the tenant's daily rollup
//! (`usage_daily`, what the month headline and the operator console read), the hour's top
//! repositories (at most [`REPOSITORIES_PER_HOUR`] names per tenant and hour), each identity's
//! budget at the end of the hour, requests answered with an error, and the worker's version.

use crate::Error;
use crate::db::TenantTx;
use shoal_common::protocol::{CacheStatus, OTHER_REPOSITORIES, TOP_REPOSITORIES, UsageReport};

/// Distinct repository names kept per tenant and hour; reads of any further one count as
/// [`OTHER_REPOSITORIES`].
pub const REPOSITORIES_PER_HOUR: i64 = 100;
/// Longest repository name stored (`owner/name` is at most 140 on GitHub).
const MAX_REPOSITORY_LEN: usize = 200;

/// Applies the parts of `report` the dashboard adds, in the report's transaction.
pub(super) async fn apply_report(tx: &mut TenantTx, report: &UsageReport) -> Result<(), Error> {
    let tenant = tx.tenant().as_uuid();
    let at = report.period_end;
    let requests: i64 = report.requests.iter().map(|r| r.count as i64).sum();
    let from_cache: i64 = report
        .requests
        .iter()
        .filter(|r| {
            matches!(
                r.cache_status,
                CacheStatus::Hit | CacheStatus::Revalidated | CacheStatus::Stale
            )
        })
        .map(|r| r.count as i64)
        .sum();
    let calls: i64 = report.upstream.iter().map(|u| u.calls as i64).sum();
    let units: i64 = report.upstream.iter().map(|u| u.units as i64).sum();
    let not_modified: i64 = report.upstream.iter().map(|u| u.not_modified as i64).sum();
    sqlx::query(
        "INSERT INTO usage_daily (tenant_id, day, requests, from_cache, upstream_calls, units, not_modified, last_request_at)
         VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, $3, $4, $5, $6, $7, CASE WHEN $3 > 0 THEN $2 END)
         ON CONFLICT (tenant_id, day) DO UPDATE SET
            requests = usage_daily.requests + EXCLUDED.requests,
            from_cache = usage_daily.from_cache + EXCLUDED.from_cache,
            upstream_calls = usage_daily.upstream_calls + EXCLUDED.upstream_calls,
            units = usage_daily.units + EXCLUDED.units,
            not_modified = usage_daily.not_modified + EXCLUDED.not_modified,
            last_request_at = GREATEST(usage_daily.last_request_at, EXCLUDED.last_request_at)",
    )
    .bind(tenant)
    .bind(at)
    .bind(requests)
    .bind(from_cache)
    .bind(calls)
    .bind(units)
    .bind(not_modified)
    .execute(&mut **tx)
    .await?;

    for r in report.top_repositories.iter().take(TOP_REPOSITORIES + 1) {
        let name = r.repository.trim();
        if name.is_empty() || name.len() > MAX_REPOSITORY_LEN || name.chars().any(char::is_control) || r.requests == 0 {
            continue;
        }
        sqlx::query(
            "INSERT INTO usage_repos_hourly (tenant_id, hour, repository, requests)
             SELECT $1, h, CASE
                    WHEN $3 = $5
                      OR EXISTS (SELECT 1 FROM usage_repos_hourly WHERE tenant_id = $1 AND hour = h AND repository = $3)
                      OR (SELECT count(*) FROM usage_repos_hourly WHERE tenant_id = $1 AND hour = h) < $6
                    THEN $3 ELSE $5 END, $4
             FROM date_trunc('hour', $2::timestamptz) h
             ON CONFLICT (tenant_id, hour, repository) DO UPDATE SET requests = usage_repos_hourly.requests + EXCLUDED.requests",
        )
        .bind(tenant)
        .bind(at)
        .bind(name)
        .bind(r.requests as i64)
        .bind(OTHER_REPOSITORIES)
        .bind(REPOSITORIES_PER_HOUR)
        .execute(&mut **tx)
        .await?;
    }

    for h in &report.identity_health {
        for b in &h.budgets {
            sqlx::query(
                "INSERT INTO usage_budget_hourly (tenant_id, hour, identity_id, resource, budget_limit, remaining, reset_at)
                 VALUES ($1, date_trunc('hour', $2::timestamptz), $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, hour, identity_id, resource) DO UPDATE SET
                    budget_limit = EXCLUDED.budget_limit, remaining = EXCLUDED.remaining, reset_at = EXCLUDED.reset_at",
            )
            .bind(tenant)
            .bind(at)
            .bind(h.identity.as_uuid())
            .bind(&b.resource)
            .bind(b.limit as i64)
            .bind(b.remaining as i64)
            .bind(b.reset)
            .execute(&mut **tx)
            .await?;
        }
    }

    if report.errors > 0 {
        sqlx::query(
            "INSERT INTO usage_errors_hourly (tenant_id, hour, errors) VALUES ($1, date_trunc('hour', $2::timestamptz), $3)
             ON CONFLICT (tenant_id, hour) DO UPDATE SET errors = usage_errors_hourly.errors + EXCLUDED.errors",
        )
        .bind(tenant)
        .bind(at)
        .bind(report.errors.min(i64::MAX as u64) as i64)
        .execute(&mut **tx)
        .await?;
    }

    if !report.worker_version.is_empty() && report.worker_version.len() <= 64 {
        sqlx::query("UPDATE workers SET version = $2 WHERE tenant_id = $1 AND version IS DISTINCT FROM $2")
            .bind(tenant)
            .bind(&report.worker_version)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
