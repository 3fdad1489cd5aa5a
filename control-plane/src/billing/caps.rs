//! Plan caps on identities and members, checked inside the transaction that adds one.

use super::{Cap, Plan};
use crate::Error;
use crate::config::BillingConfig;
use crate::db::TenantTx;

/// Where the refusal sends people to upgrade, until a billing page exists.
pub const UPGRADE_PATH: &str = "/pricing";

/// What a plan caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// Pooled identities.
    Identities,
    /// Tenant members.
    Members,
}

/// Refuses adding one more `what` when the tenant's plan is at its cap ([`Error::PlanLimit`]).
/// Locks the tenant row first, so two concurrent adds count one after the other: call it in the
/// transaction that inserts. With billing off no cap applies.
pub async fn ensure_room(tx: &mut TenantTx, billing: &BillingConfig, what: Capped) -> Result<(), Error> {
    if !billing.enabled() {
        return Ok(());
    }
    let stored: String = sqlx::query_scalar("SELECT plan FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tx.tenant().as_uuid())
        .fetch_one(&mut **tx)
        .await?;
    let plan = Plan::from_stored(&stored)?;
    let limits = plan.limits();
    let (cap, count_sql, (one, many)) = match what {
        Capped::Identities => (
            limits.identities,
            "SELECT count(*) FROM identities WHERE tenant_id = $1",
            ("identity", "identities"),
        ),
        Capped::Members => (
            limits.members,
            "SELECT count(*) FROM memberships WHERE tenant_id = $1",
            ("member", "members"),
        ),
    };
    let Cap::UpTo(max) = cap else {
        return Ok(());
    };
    let count: i64 = sqlx::query_scalar(count_sql)
        .bind(tx.tenant().as_uuid())
        .fetch_one(&mut **tx)
        .await?;
    if count < i64::from(max) {
        return Ok(());
    }
    let noun = if max == 1 { one } else { many };
    Err(Error::PlanLimit(format!(
        "the {plan} plan allows at most {max} {noun}; upgrade at {UPGRADE_PATH} to add more"
    )))
}
