//! What the billing page shows of a tenant: its plan and subscription as last applied, this
//! month's relayed reads (from the hourly usage table) and how many identities and members it has.

use crate::Error;
use crate::access::TenantAdmin;
use crate::billing::{Cap, Plan};
use crate::db::begin_tenant;
use crate::state::AppState;
use time::OffsetDateTime;

/// A tenant's billing state as its billing page shows it.
#[derive(Debug, Clone)]
pub struct Summary {
    pub plan: Plan,
    /// `none` before any subscription, else Stripe's subscription status.
    pub status: String,
    pub past_due_since: Option<OffsetDateTime>,
    /// When the current period ends: the next invoice.
    pub current_period_end: Option<OffsetDateTime>,
    /// Whether a Stripe customer exists (the portal needs one).
    pub has_customer: bool,
    /// Relayed reads since the start of this month (UTC), cache hits included.
    pub reads_this_month: i64,
    pub identities: i64,
    pub members: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    plan: String,
    subscription_status: String,
    past_due_since: Option<OffsetDateTime>,
    current_period_end: Option<OffsetDateTime>,
    has_customer: bool,
    reads_this_month: i64,
    identities: i64,
    members: i64,
}

/// Loads the tenant's billing state.
pub async fn load(state: &AppState, admin: &TenantAdmin) -> Result<Summary, Error> {
    let mut tx = begin_tenant(&state.pool, admin.tenant.id).await?;
    let row: Row = sqlx::query_as(
        "SELECT t.plan, t.subscription_status, t.past_due_since, t.current_period_end,
                t.stripe_customer_id IS NOT NULL AS has_customer,
                (SELECT COALESCE(sum(requests), 0)::bigint FROM usage_requests_hourly
                  WHERE tenant_id = t.id AND hour >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS reads_this_month,
                (SELECT count(*) FROM identities WHERE tenant_id = t.id) AS identities,
                (SELECT count(*) FROM memberships WHERE tenant_id = t.id) AS members
         FROM tenants t WHERE t.id = $1",
    )
    .bind(admin.tenant.id.as_uuid())
    .fetch_one(&mut *tx)
    .await?;
    Ok(Summary {
        plan: Plan::from_stored(&row.plan)?,
        status: row.subscription_status,
        past_due_since: row.past_due_since,
        current_period_end: row.current_period_end,
        has_customer: row.has_customer,
        reads_this_month: row.reads_this_month,
        identities: row.identities,
        members: row.members,
    })
}

impl Summary {
    /// `n of cap` for display.
    pub fn against(n: i64, cap: Cap) -> String {
        format!("{n} of {cap}")
    }

    /// The paid plans offered through Checkout: all of them unless a subscription is live, whose
    /// plan is changed in the customer portal instead (a second Checkout would bill twice).
    pub fn upgrades(&self) -> Vec<Plan> {
        if matches!(self.status.as_str(), "active" | "trialing" | "past_due") {
            return Vec::new();
        }
        Plan::ALL.into_iter().filter(|p| *p != Plan::Free).collect()
    }
}
