//! An admin's way into Stripe: the tenant's one customer (created on first use), a Checkout
//! session to subscribe to a paid plan, and the customer portal to manage what was bought.
//! Both answer a Stripe-hosted URL to send the browser to; plan changes arrive by webhook.

use crate::Error;
use crate::access::TenantAdmin;
use crate::audit::{self, Actor};
use crate::billing::{Plan, Stripe};
use crate::db::begin_tenant;
use crate::state::AppState;
use serde_json::json;

/// The Stripe client, or the message for a shoal without billing.
pub fn stripe(state: &AppState) -> Result<&Stripe, Error> {
    state
        .stripe
        .as_ref()
        .ok_or_else(|| Error::BadRequest("billing is not configured on this shoal".into()))
}

/// The tenant's Stripe customer id, creating the customer the first time. Stripe's
/// Idempotency-Key (from the tenant id) makes concurrent first uses get one customer.
pub async fn ensure_customer(state: &AppState, admin: &TenantAdmin) -> Result<String, Error> {
    let tenant = admin.tenant.id;
    let mut tx = begin_tenant(&state.pool, tenant).await?;
    let stored: Option<String> = sqlx::query_scalar("SELECT stripe_customer_id FROM tenants WHERE id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
    if let Some(id) = stored {
        return Ok(id);
    }
    drop(tx);
    let created = stripe(state)?.create_customer(tenant, &admin.tenant.slug).await?;
    let mut tx = begin_tenant(&state.pool, tenant).await?;
    let set = sqlx::query("UPDATE tenants SET stripe_customer_id = $2 WHERE id = $1 AND stripe_customer_id IS NULL")
        .bind(tenant.as_uuid())
        .bind(&created)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if set == 1 {
        audit::record(
            &mut tx,
            Actor::from(admin),
            "billing.customer.create",
            &created,
            json!({}),
        )
        .await?;
    }
    let id: String = sqlx::query_scalar("SELECT stripe_customer_id FROM tenants WHERE id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Where the billing pages live for this tenant (`.../t/<slug>/billing`).
fn billing_url(state: &AppState, admin: &TenantAdmin) -> String {
    format!("{}t/{}/billing", state.public_url, admin.tenant.slug)
}

/// Starts Checkout for `plan`; returns the URL to send the browser to.
pub async fn start_checkout(state: &AppState, admin: &TenantAdmin, plan: Plan) -> Result<String, Error> {
    if plan == Plan::Free {
        return Err(Error::BadRequest("choose team or business to upgrade".into()));
    }
    let mut tx = begin_tenant(&state.pool, admin.tenant.id).await?;
    let status: String = sqlx::query_scalar("SELECT subscription_status FROM tenants WHERE id = $1")
        .bind(admin.tenant.id.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
    drop(tx);
    if matches!(status.as_str(), "active" | "trialing" | "past_due") {
        return Err(Error::Conflict(
            "this tenant already has a subscription; change its plan under Manage billing".into(),
        ));
    }
    let customer = ensure_customer(state, admin).await?;
    let back = billing_url(state, admin);
    let url = stripe(state)?
        .checkout_url(
            admin.tenant.id,
            &customer,
            plan,
            &format!("{back}/success?session_id={{CHECKOUT_SESSION_ID}}"),
            &format!("{back}/cancel"),
        )
        .await?;
    let mut tx = begin_tenant(&state.pool, admin.tenant.id).await?;
    audit::record(
        &mut tx,
        Actor::from(admin),
        "billing.checkout.start",
        plan.as_str(),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(url)
}

/// Opens the customer portal; returns its URL.
pub async fn open_portal(state: &AppState, admin: &TenantAdmin) -> Result<String, Error> {
    let customer = ensure_customer(state, admin).await?;
    stripe(state)?.portal_url(&customer, &billing_url(state, admin)).await
}
