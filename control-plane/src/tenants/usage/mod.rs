//! A tenant's use as its worker reports it: each report applied once into the hourly tables
//! ([`apply_report`]), with the dashboard's rollups ([`rollup`]), pruned by age ([`retention`]).
//! What is read back is in
//! [`crate::tenants::stats`].

pub mod retention;
mod rollup;

use crate::Error;
use crate::db::begin_tenant;
use shoal_common::TenantId;
use shoal_common::protocol::{HealthState, UsageReport};
use sqlx::PgPool;

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
    rollup::apply_report(&mut tx, report).await?;
    tx.commit().await?;
    Ok(true)
}
