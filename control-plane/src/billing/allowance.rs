//! The monthly allowance of relayed reads a tenant's worker enforces (hard-capped plans with
//! billing on), sent in its bundle with the reads counted so far this UTC month.

use super::{Overage, Plan};
use crate::Error;
use crate::config::BillingConfig;
use crate::db::TenantTx;
use shoal_common::protocol::Allowance;
use time::OffsetDateTime;

/// The tenant's allowance this month, or `None` when its reads are not capped (billing off, or
/// a metered plan). The count is every relayed read the usage reports brought in this month,
/// cache hits included.
pub async fn monthly_allowance(
    tx: &mut TenantTx,
    billing: &BillingConfig,
    plan: Plan,
    upgrade_url: String,
) -> Result<Option<Allowance>, Error> {
    let limits = plan.limits();
    if !billing.enabled() || limits.overage != Overage::HardCap {
        return Ok(None);
    }
    let reads_per_month = match plan {
        Plan::Free => billing.free_reads_per_month.unwrap_or(limits.included_reads),
        _ => limits.included_reads,
    };
    let (month_start, reads_this_month): (OffsetDateTime, i64) = sqlx::query_as(
        "WITH m AS (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start)
         SELECT m.start, (SELECT coalesce(sum(requests), 0)::bigint FROM usage_requests_hourly
                          WHERE tenant_id = $1 AND hour >= m.start)
         FROM m",
    )
    .bind(tx.tenant().as_uuid())
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(Allowance {
        reads_per_month,
        reads_this_month: reads_this_month.max(0) as u64,
        month_start,
        upgrade_url,
    }))
}
