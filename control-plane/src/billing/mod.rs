//! Billing: the plans and what each allows ([`plans`]), enforced by [`caps`]. Stripe, the billing page and usage caps
//! build on this table.

pub mod caps;
pub mod plans;

pub use caps::{Capped, ensure_room};
pub use plans::{Cap, Overage, Plan, PlanLimits};
