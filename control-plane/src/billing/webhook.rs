//! Stripe's webhook deliveries: verified with `stripe_webhook::Webhook` (HMAC-SHA256 over
//! `t.payload`, 300 s tolerance, any matching `v1`), stored once by event id in `billing_events`
//! and applied in the same transaction, so each event is processed exactly once: a replay, or a
//! second delivery racing the first, finds the id taken and changes nothing.
//!
//! Stripe delivers late, twice and out of order, so an event only says *which* subscription
//! changed: its state is read back from Stripe under the tenant's row lock and written whole
//! (plan from the price's lookup key, status, period end, the start of a past_due spell).

use crate::Error;
use crate::audit::{self, Actor};
use crate::billing::stripe::{Stripe, plan_for_lookup_key};
use crate::db::{TenantTx, enter_tenant};
use crate::tenants::bump_bundle;
use serde_json::json;
use shoal_common::{Secret, TenantId};
use sqlx::PgPool;
use stripe_billing::SubscriptionStatus;
use stripe_webhook::{Event, EventObject, Webhook};

/// What became of a verified delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored now and processed.
    Processed,
    /// The event id was already stored: acknowledged, nothing done.
    Duplicate,
}

/// The subscription an event is about, and whose customer it is.
struct Target {
    customer: String,
    /// `None` for an invoice without a subscription parent: the tenant's current one is re-read.
    subscription: Option<String>,
    /// The tenant named by a Checkout session's `client_reference_id`.
    claimed_tenant: Option<String>,
}

/// Verifies a delivery (400 for a missing, forged or expired signature, or a body that is not a
/// Stripe event, with nothing stored), then stores and applies it once.
pub async fn receive(
    pool: &PgPool,
    stripe: &Stripe,
    secret: &Secret,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Received, Error> {
    let payload = std::str::from_utf8(body).map_err(|_| Error::BadRequest("the body is not UTF-8".into()))?;
    let signature = signature.ok_or_else(|| Error::BadRequest("missing Stripe-Signature header".into()))?;
    let event = Webhook::construct_event(payload, signature, secret.expose())
        .map_err(|e| Error::BadRequest(format!("not a valid Stripe webhook delivery: {e}")))?;
    let raw: serde_json::Value =
        serde_json::from_str(payload).map_err(|_| Error::BadRequest("the body is not JSON".into()))?;
    let target = target(&event);
    let tenant = match &target {
        Some(t) => tenant_of_customer(pool, &t.customer).await?,
        None => None,
    };
    let mut tx = pool.begin().await?;
    let stored = sqlx::query(
        "INSERT INTO billing_events (id, tenant_id, event_type, payload, processed_at)
         VALUES ($1, $2, $3, $4, now()) ON CONFLICT (id) DO NOTHING",
    )
    .bind(event.id.as_str())
    .bind(tenant.map(|t| t.as_uuid()))
    .bind(event.type_.as_str())
    .bind(&raw)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if stored == 0 {
        tracing::info!(event.id = %event.id.as_str(), "stripe event already processed");
        return Ok(Received::Duplicate);
    }
    match (tenant, target) {
        (Some(tenant), Some(target)) if target.claimed_tenant.as_ref().is_none_or(|c| *c == tenant.to_string()) => {
            let mut tx = enter_tenant(tx, tenant).await?;
            apply(&mut tx, stripe, &event, &target).await?;
            tx.commit().await?;
        }
        (_, target) => {
            if target.is_some() {
                tracing::warn!(event.id = %event.id.as_str(), event.type = %event.type_.as_str(), "stripe event for no known tenant; stored, not applied");
            }
            tx.commit().await?;
        }
    }
    Ok(Received::Processed)
}

/// The subscription an event of a handled type is about (`None` for other types).
fn target(event: &Event) -> Option<Target> {
    match &event.data.object {
        EventObject::CheckoutSessionCompleted(s) => Some(Target {
            customer: s.customer.as_ref()?.id().as_str().to_string(),
            subscription: Some(s.subscription.as_ref()?.id().as_str().to_string()),
            claimed_tenant: s.client_reference_id.clone(),
        }),
        EventObject::CustomerSubscriptionCreated(s)
        | EventObject::CustomerSubscriptionUpdated(s)
        | EventObject::CustomerSubscriptionDeleted(s) => Some(Target {
            customer: s.customer.id().as_str().to_string(),
            subscription: Some(s.id.as_str().to_string()),
            claimed_tenant: None,
        }),
        EventObject::InvoicePaid(i) | EventObject::InvoicePaymentFailed(i) => Some(Target {
            customer: i.customer.as_ref()?.id().as_str().to_string(),
            subscription: i
                .parent
                .as_ref()
                .and_then(|p| p.subscription_details.as_ref())
                .map(|d| d.subscription.id().as_str().to_string()),
            claimed_tenant: None,
        }),
        _ => None,
    }
}

/// The tenant whose Stripe customer this is. Cross-tenant by nature: the event names only the customer.
async fn tenant_of_customer(pool: &PgPool, customer: &str) -> Result<Option<TenantId>, Error> {
    let id: Option<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM tenants WHERE stripe_customer_id = $1")
        .bind(customer)
        .fetch_optional(pool)
        .await?;
    Ok(id.map(TenantId::from))
}

/// What `tenants` holds of the subscription.
#[derive(sqlx::FromRow)]
struct Applied {
    plan: String,
    subscription_status: String,
    stripe_subscription_id: Option<String>,
}

fn ended(status: &SubscriptionStatus) -> bool {
    matches!(
        status,
        SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
    )
}

/// Reads the subscription back from Stripe under the tenant's row lock (so two events apply one
/// after the other, each with state at least as new as the last) and writes it.
async fn apply(tx: &mut TenantTx, stripe: &Stripe, event: &Event, target: &Target) -> Result<(), Error> {
    let before: Applied = sqlx::query_as(
        "SELECT plan, subscription_status, stripe_subscription_id FROM tenants WHERE id = $1 FOR UPDATE",
    )
    .bind(tx.tenant().as_uuid())
    .fetch_one(&mut **tx)
    .await?;
    let Some(sub_id) = target.subscription.clone().or(before.stripe_subscription_id.clone()) else {
        return Ok(());
    };
    let sub = stripe.subscription(&sub_id).await?;
    let current = before.stripe_subscription_id.as_deref();
    if current.is_some_and(|c| c != sub.id.as_str()) && ended(&sub.status) {
        tracing::info!(event.id = %event.id.as_str(), "stripe event about an ended, replaced subscription; ignored");
        return Ok(());
    }
    let Some(item) = sub.items.data.first() else {
        tracing::warn!(event.id = %event.id.as_str(), "stripe subscription without items; ignored");
        return Ok(());
    };
    let Some(plan) = item.price.lookup_key.as_deref().and_then(plan_for_lookup_key) else {
        tracing::warn!(event.id = %event.id.as_str(), price = %item.price.id.as_str(), "stripe price without a shoal lookup key; ignored");
        return Ok(());
    };
    let status = sub.status.as_str();
    sqlx::query(
        "UPDATE tenants SET plan = $2, subscription_status = $3, stripe_subscription_id = $4,
             current_period_end = to_timestamp($5),
             past_due_since = CASE WHEN $3 = 'past_due' THEN COALESCE(past_due_since, now()) END,
             subscription_applied_at = GREATEST(subscription_applied_at, to_timestamp($6)),
             updated_at = now()
         WHERE id = $1",
    )
    .bind(tx.tenant().as_uuid())
    .bind(plan.as_str())
    .bind(status)
    .bind(sub.id.as_str())
    .bind(item.current_period_end as f64)
    .bind(event.created as f64)
    .execute(&mut **tx)
    .await?;
    if before.plan == plan.as_str() && before.subscription_status == status {
        return Ok(());
    }
    tracing::info!(tenant.id = %tx.tenant(), plan = plan.as_str(), status, "subscription applied");
    let details = json!({
        "event": event.id.as_str(), "event_type": event.type_.as_str(),
        "plan_before": before.plan, "plan": plan.as_str(),
        "status_before": before.subscription_status, "status": status,
    });
    audit::record(tx, Actor::system(), "billing.subscription", sub.id.as_str(), details).await?;
    bump_bundle(tx).await
}
