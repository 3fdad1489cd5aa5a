//! Billing: the plans and what each allows ([`plans`]). Stripe, the billing page and usage caps
//! build on this table.

pub mod plans;

pub use plans::{Cap, Overage, Plan, PlanLimits};
