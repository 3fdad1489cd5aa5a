//! What the operator console reads: every tenant with its plan, status, worker and this month's
//! use (failed workers first), the platform's totals per day, and workers by state. Month and
//! day figures come from the daily rollup (`usage_daily`), so they cost the same with 1,000
//! tenants and 10 million hourly rows as with one.

use crate::Error;
use sqlx::PgPool;
use time::{Date, OffsetDateTime};

/// One tenant as the operator sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRow {
    pub slug: String,
    pub github_org: String,
    pub plan: String,
    /// `active` or `suspended`.
    pub status: String,
    pub suspended_reason: Option<String>,
    /// `running`, `starting`, `failed`, ...
    pub worker_state: String,
    pub restarts: i32,
    pub last_error: Option<String>,
    /// Reads relayed this UTC month.
    pub month_requests: i64,
    /// Units spent this UTC month.
    pub month_units: i64,
    /// The last relayed read.
    pub last_activity: Option<OffsetDateTime>,
}

/// Every tenant: failed workers first, then those restarting, then by this month's reads.
pub async fn tenants(pool: &PgPool) -> Result<Vec<TenantRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT t.slug, t.github_org, t.plan, t.status, t.suspended_reason,
                coalesce(w.observed_state, 'pending') AS worker_state, coalesce(w.restarts, 0) AS restarts,
                w.last_error,
                coalesce(m.requests, 0)::bigint AS month_requests, coalesce(m.units, 0)::bigint AS month_units,
                a.last_activity
         FROM tenants t
         LEFT JOIN workers w ON w.tenant_id = t.id
         LEFT JOIN (SELECT tenant_id, sum(requests) AS requests, sum(units) AS units FROM usage_daily
                    WHERE day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date GROUP BY tenant_id) m
                ON m.tenant_id = t.id
         LEFT JOIN LATERAL (SELECT max(last_request_at) AS last_activity FROM usage_daily d
                            WHERE d.tenant_id = t.id AND d.day >= (now() AT TIME ZONE 'UTC')::date - 400) a ON true
         ORDER BY (w.observed_state = 'failed') DESC NULLS LAST, (w.restarts > 0 AND w.observed_state <> 'running') DESC NULLS LAST,
                  month_requests DESC, t.slug",
    )
    .fetch_all(pool)
    .await?)
}

/// The platform on one UTC day.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DayTotals {
    pub day: Date,
    pub requests: i64,
    pub from_cache: i64,
    pub units: i64,
    /// Tenants with at least one read that day.
    pub active_tenants: i64,
}

/// The last `days` UTC days, oldest first, today included (days without use are zeros).
pub async fn days(pool: &PgPool, days: i32) -> Result<Vec<DayTotals>, Error> {
    Ok(sqlx::query_as(
        "SELECT g.day::date AS day, coalesce(sum(d.requests), 0)::bigint AS requests,
                coalesce(sum(d.from_cache), 0)::bigint AS from_cache, coalesce(sum(d.units), 0)::bigint AS units,
                count(d.tenant_id) FILTER (WHERE d.requests > 0) AS active_tenants
         FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($1 - 1), (now() AT TIME ZONE 'UTC')::date, interval '1 day') g(day)
         LEFT JOIN usage_daily d ON d.day = g.day::date
         GROUP BY g.day ORDER BY g.day",
    )
    .bind(days)
    .fetch_all(pool)
    .await?)
}

/// How many workers are in each observed state.
pub async fn workers_by_state(pool: &PgPool) -> Result<Vec<(String, i64)>, Error> {
    Ok(sqlx::query_as(
        "SELECT observed_state, count(*) FROM workers GROUP BY observed_state ORDER BY count(*) DESC, observed_state",
    )
    .fetch_all(pool)
    .await?)
}
