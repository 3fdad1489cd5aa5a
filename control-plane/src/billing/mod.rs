//! Billing: the plans and what each allows ([`plans`]), enforced by [`caps`]; whether a tenant is
//! served ([`standing`]) and the monthly read allowance its worker enforces ([`allowance`]);
//! Stripe through [`stripe`] (customers, Checkout, the portal, subscriptions, meter events), whose
//! webhook deliveries [`webhook`] verifies and applies to the tenant; what the billing page shows
//! ([`summary`]).

pub mod allowance;
pub mod caps;
pub mod checkout;
pub mod meter;
pub mod plans;
pub mod standing;
pub mod stripe;
pub mod summary;
pub mod webhook;

pub use caps::{Capped, ensure_room};
pub use plans::{Cap, Overage, Plan, PlanLimits};
pub use standing::{Account, Standing, SuspendReason};
pub use stripe::Stripe;

/// The tenant's billing page, where suspended and capped tenants are sent to pay or upgrade.
pub fn billing_page(public_url: &url::Url, slug: &str) -> String {
    format!("{}/t/{slug}/billing", public_url.as_str().trim_end_matches('/'))
}
