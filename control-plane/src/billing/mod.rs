//! Billing: the plans and what each allows ([`plans`]), enforced by [`caps`]; whether a tenant is served ([`standing`]); the monthly read
//! allowance its worker enforces ([`allowance`]). Stripe, the billing page and usage caps
//! build on this table.

pub mod allowance;
pub mod caps;
pub mod plans;
pub mod standing;

pub use caps::{Capped, ensure_room};
pub use plans::{Cap, Overage, Plan, PlanLimits};
pub use standing::{Account, Standing, SuspendReason};

/// The tenant's billing page, where suspended and capped tenants are sent to pay or upgrade.
pub fn billing_page(public_url: &url::Url, slug: &str) -> String {
    format!("{}/t/{slug}/billing", public_url.as_str().trim_end_matches('/'))
}
