//! Billing: the plans and what each allows ([`plans`]), enforced by [`caps`]; Stripe through
//! [`stripe`] (customers, Checkout, the portal, subscriptions, meter events), whose webhook
//! deliveries [`webhook`] verifies and applies to the tenant.

pub mod account;
pub mod caps;
pub mod checkout;
pub mod meter;
pub mod plans;
pub mod stripe;
pub mod webhook;

pub use caps::{Capped, ensure_room};
pub use plans::{Cap, Overage, Plan, PlanLimits};
pub use stripe::Stripe;
