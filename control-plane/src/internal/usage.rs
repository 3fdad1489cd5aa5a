//! `POST /internal/v1/usage`: a worker's aggregated counters, applied once per report id into
//! the hourly tables the dashboard and billing read, and when it last served (`workers.last_served_at`,
//! the clock the scheduler lets idle workers sleep by).

use super::auth::authenticate;
use crate::Error;
use crate::db::begin_tenant;
use crate::state::AppState;
use crate::tenants::usage;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use serde_json::{Value, json};
use shoal_common::TenantId;
use shoal_common::protocol::{self, UsageReport};
use sqlx::PgPool;
use time::OffsetDateTime;

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
    check_counts(&report)?;

    let status = if usage::apply_report(&state.pool, worker.tenant, &report).await? {
        "applied"
    } else {
        "duplicate"
    };
    if let Some(at) = report.last_served {
        record_last_served(&state.pool, worker.tenant, at).await?;
    }
    Ok(Json(json!({ "status": status })))
}

/// Largest count one report may carry: far beyond any real period, and small enough that the
/// hourly sums (`bigint`) cannot overflow, nor a count wrap negative when stored.
const MAX_REPORT_COUNT: u64 = 1 << 40;

fn check_counts(report: &UsageReport) -> Result<(), Error> {
    let mut counts = report
        .requests
        .iter()
        .map(|r| r.count)
        .chain(report.upstream.iter().flat_map(|u| [u.calls, u.units, u.not_modified]))
        .chain(report.policy_module.failures.iter().map(|f| f.count));
    if counts.any(|c| c > MAX_REPORT_COUNT) {
        return Err(Error::BadRequest(format!(
            "a usage report's counts are at most {MAX_REPORT_COUNT}"
        )));
    }
    Ok(())
}

/// Moves the worker's last-served time forward (never back: reports may arrive out of order), and
/// never past now, so a worker with a fast clock cannot keep itself awake.
async fn record_last_served(pool: &PgPool, tenant: TenantId, at: OffsetDateTime) -> Result<(), Error> {
    let mut tx = begin_tenant(pool, tenant).await?;
    sqlx::query(
        "UPDATE workers SET last_served_at = GREATEST(last_served_at, LEAST($2, now()))
         WHERE tenant_id = $1 AND last_served_at IS DISTINCT FROM GREATEST(last_served_at, LEAST($2, now()))",
    )
    .bind(tenant.as_uuid())
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
