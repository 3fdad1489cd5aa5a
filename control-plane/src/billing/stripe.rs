//! The Stripe API, through async-stripe: one customer per tenant, Checkout and portal sessions,
//! subscriptions read back, and meter events. Prices are found by their lookup keys
//! (`shoal_team`, `shoal_business`), so no price id is configured.

use crate::Error;
use crate::billing::Plan;
use crate::config::BillingConfig;
use shoal_common::TenantId;
use std::collections::HashMap;
use std::time::Duration;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::Subscription;
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use stripe_product::price::ListPrice;

/// How long one Stripe call may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The price lookup key of a paid plan (`None` for free, which has no price).
pub fn lookup_key(plan: Plan) -> Option<&'static str> {
    match plan {
        Plan::Free => None,
        Plan::Team => Some("shoal_team"),
        Plan::Business => Some("shoal_business"),
    }
}

/// The plan a price stands for, by its lookup key.
pub fn plan_for_lookup_key(key: &str) -> Option<Plan> {
    Plan::ALL.into_iter().find(|p| lookup_key(*p) == Some(key))
}

/// A Stripe API client; exists only when billing is on.
#[derive(Clone)]
pub struct Stripe {
    client: Client,
}

impl Stripe {
    /// The client for `config`, or `None` with billing off.
    pub fn from_config(config: &BillingConfig) -> Result<Option<Self>, Error> {
        let Some(key) = &config.stripe_secret_key else {
            return Ok(None);
        };
        let client = ClientBuilder::new(key.expose())
            .url(config.stripe_api_base.as_str())
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::Config(format!("SHOAL_STRIPE_API_BASE or the Stripe key is unusable: {e}")))?;
        Ok(Some(Self { client }))
    }

    /// Creates the tenant's Stripe customer. The Idempotency-Key is derived from the tenant id,
    /// so a retry, or two admins at once, get the same customer back.
    #[tracing::instrument(skip(self), fields(tenant.id = %tenant))]
    pub async fn create_customer(&self, tenant: TenantId, slug: &str) -> Result<String, Error> {
        let key = IdempotencyKey::new(format!("shoal-customer-{tenant}")).map_err(stripe_error)?;
        let customer = CreateCustomer::new()
            .name(slug)
            .metadata(HashMap::from([
                ("tenant_id".to_string(), tenant.to_string()),
                ("slug".to_string(), slug.to_string()),
            ]))
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(stripe_error)?;
        Ok(customer.id.to_string())
    }

    /// A Checkout session (subscription mode) for `plan`; returns its URL. The tenant id rides
    /// along as `client_reference_id` and in the subscription's metadata.
    #[tracing::instrument(skip(self, success_url, cancel_url), fields(tenant.id = %tenant))]
    pub async fn checkout_url(
        &self,
        tenant: TenantId,
        customer: &str,
        plan: Plan,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<String, Error> {
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(self.price_id(plan).await?);
        line.quantity = Some(1);
        let mut data = CreateCheckoutSessionSubscriptionData::new();
        data.metadata = Some(HashMap::from([("tenant_id".to_string(), tenant.to_string())]));
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .customer(customer)
            .line_items(vec![line])
            .client_reference_id(tenant.to_string())
            .subscription_data(data)
            .success_url(success_url)
            .cancel_url(cancel_url)
            .send(&self.client)
            .await
            .map_err(stripe_error)?;
        session
            .url
            .ok_or_else(|| Error::Stripe("Stripe returned a Checkout session without a url".into()))
    }

    /// A customer-portal session; returns its URL.
    #[tracing::instrument(skip(self, return_url))]
    pub async fn portal_url(&self, customer: &str, return_url: &str) -> Result<String, Error> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(stripe_error)?;
        Ok(session.url)
    }

    /// The subscription as Stripe has it now.
    #[tracing::instrument(skip(self))]
    pub async fn subscription(&self, id: &str) -> Result<Subscription, Error> {
        RetrieveSubscription::new(id)
            .send(&self.client)
            .await
            .map_err(stripe_error)
    }

    /// Sends one meter event. Stripe deduplicates by `identifier`, so sending it again after a
    /// crash is safe.
    #[tracing::instrument(skip(self, customer))]
    pub async fn meter_event(
        &self,
        event_name: &str,
        customer: &str,
        value: i64,
        identifier: &str,
        timestamp: i64,
    ) -> Result<(), Error> {
        let payload = HashMap::from([
            ("stripe_customer_id".to_string(), customer.to_string()),
            ("value".to_string(), value.to_string()),
        ]);
        CreateBillingMeterEvent::new(event_name, payload)
            .identifier(identifier)
            .timestamp(timestamp)
            .send(&self.client)
            .await
            .map_err(stripe_error)?;
        Ok(())
    }

    async fn price_id(&self, plan: Plan) -> Result<String, Error> {
        let key = lookup_key(plan).ok_or_else(|| Error::BadRequest(format!("the {plan} plan has no price")))?;
        let prices = ListPrice::new()
            .lookup_keys(vec![key.to_string()])
            .active(true)
            .send(&self.client)
            .await
            .map_err(stripe_error)?;
        prices.data.into_iter().next().map(|p| p.id.to_string()).ok_or_else(|| {
            Error::Config(format!(
                "Stripe has no active price with lookup key {key:?}: create it (see the README, Billing)"
            ))
        })
    }
}

fn stripe_error(e: impl std::fmt::Display) -> Error {
    Error::Stripe(e.to_string())
}
