//! `POST /internal/v1/usage`: a worker's aggregated counters, applied once per report id into
//! the hourly tables the dashboard and billing read.

use super::auth::authenticate;
use crate::Error;
use crate::db::begin_tenant;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use serde_json::{Value, json};
use shoal_common::protocol::{self, HealthState, UsageReport};

/// Applies a usage report; a report id seen before changes nothing.
pub async fn post_usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let worker = authenticate(&state, &headers, "POST", path_and_query, &body).await?;
    let report: UsageReport =
        serde_json::from_slice(&body).map_err(|e| Error::BadRequest(format!("the body is not a usage report: {e}")))?;
    protocol::check_version(report.protocol_version).map_err(Error::BadRequest)?;
    if report.tenant != worker.tenant {
        return Err(Error::Forbidden("a worker reports only for its own tenant".into()));
    }

    let mut tx = begin_tenant(&state.pool, worker.tenant).await?;
    let tenant = worker.tenant.as_uuid();
    let fresh = sqlx::query("INSERT INTO usage_reports (report_id, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(report.report_id)
        .bind(tenant)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !fresh {
        return Ok(Json(json!({ "status": "duplicate" })));
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
    tx.commit().await?;
    Ok(Json(json!({ "status": "applied" })))
}
