//! How long usage is kept: hourly rows (requests, spend, repositories, budgets) 35 days, which
//! covers the longest dashboard range and the month; daily rollup rows 400 days. [`run`] prunes
//! once an hour on every replica (the deletes are idempotent).

use crate::Error;
use sqlx::PgPool;
use std::time::Duration;

/// Days hourly rows are kept.
pub const HOURLY_DAYS: i32 = 35;
/// Days daily rows are kept.
pub const DAILY_DAYS: i32 = 400;

/// Deletes usage older than it is kept; returns how many rows went.
pub async fn prune(pool: &PgPool) -> Result<u64, Error> {
    let mut gone = 0;
    for table in [
        "usage_requests_hourly",
        "usage_upstream_hourly",
        "usage_repos_hourly",
        "usage_budget_hourly",
        "usage_errors_hourly",
    ] {
        gone += sqlx::query(&format!(
            "DELETE FROM {table} WHERE hour < date_trunc('hour', now()) - make_interval(days => $1)"
        ))
        .bind(HOURLY_DAYS)
        .execute(pool)
        .await?
        .rows_affected();
    }
    gone += sqlx::query("DELETE FROM usage_daily WHERE day < (now() AT TIME ZONE 'UTC')::date - $1")
        .bind(DAILY_DAYS)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(gone)
}

/// Prunes every `every` until the task is dropped.
pub async fn run(pool: PgPool, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match prune(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned old usage rows"),
            Err(e) => tracing::warn!(error = %e, "pruning old usage failed"),
        }
    }
}
