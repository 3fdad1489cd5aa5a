//! The plans and their limits, in one table: the pricing page shows it and every cap is read from it.

use crate::Error;
use serde::Serialize;
use std::fmt;

/// A billing plan (`tenants.plan`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// The default plan: small caps, a hard monthly allowance.
    Free,
    /// A paid plan for a team.
    Team,
    /// A paid plan without identity or member caps.
    Business,
}

/// How many of something a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// At most this many.
    UpTo(u32),
    /// No cap.
    Unlimited,
}

/// What happens once a month's included reads are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overage {
    /// Reads are refused until the month turns.
    HardCap,
    /// Reads keep being served and the excess is billed.
    Metered,
}

/// What one plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// Pooled identities (PATs and GitHub Apps).
    pub identities: Cap,
    /// Members of the tenant.
    pub members: Cap,
    /// Relayed reads a month (cache hits included) before [`PlanLimits::overage`] applies.
    pub included_reads: u64,
    /// What happens past the included reads.
    pub overage: Overage,
}

impl Plan {
    /// Every plan, cheapest first, as the pricing page lists them.
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Team, Plan::Business];

    /// The one table of plan limits.
    pub const fn limits(self) -> PlanLimits {
        match self {
            Plan::Free => PlanLimits {
                identities: Cap::UpTo(1),
                members: Cap::UpTo(5),
                included_reads: 50_000,
                overage: Overage::HardCap,
            },
            Plan::Team => PlanLimits {
                identities: Cap::UpTo(10),
                members: Cap::UpTo(50),
                included_reads: 2_000_000,
                overage: Overage::Metered,
            },
            Plan::Business => PlanLimits {
                identities: Cap::Unlimited,
                members: Cap::Unlimited,
                included_reads: 20_000_000,
                overage: Overage::Metered,
            },
        }
    }

    /// Parses the plan chosen for a new tenant: only `free` until checkout exists.
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text.trim() {
            "" | "free" => Ok(Plan::Free),
            "team" | "business" => Err(Error::BadRequest(format!(
                "the {text} plan is not available yet; choose free"
            ))),
            other => Err(Error::BadRequest(format!("unknown plan {other:?}; choose free"))),
        }
    }

    /// A stored `tenants.plan` (the migration's CHECK allows only these).
    pub fn from_stored(text: &str) -> Result<Self, Error> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == text)
            .ok_or_else(|| Error::Config(format!("tenants.plan holds an unknown plan {text:?}")))
    }

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Team => "team",
            Plan::Business => "business",
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cap::UpTo(n) => write!(f, "{}", thousands(u64::from(*n))),
            Cap::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl PlanLimits {
    /// The included reads for display, with thousands separators (`50,000`).
    pub fn included_reads_display(&self) -> String {
        thousands(self.included_reads)
    }
}

/// `2000000` as `2,000,000`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_advertised_limits() {
        let free = Plan::Free.limits();
        assert_eq!((free.identities, free.members), (Cap::UpTo(1), Cap::UpTo(5)));
        assert_eq!((free.included_reads, free.overage), (50_000, Overage::HardCap));
        let team = Plan::Team.limits();
        assert_eq!((team.identities, team.members), (Cap::UpTo(10), Cap::UpTo(50)));
        assert_eq!((team.included_reads, team.overage), (2_000_000, Overage::Metered));
        let business = Plan::Business.limits();
        assert_eq!(
            (business.identities, business.members),
            (Cap::Unlimited, Cap::Unlimited)
        );
        assert_eq!(
            (business.included_reads, business.overage),
            (20_000_000, Overage::Metered)
        );
    }

    #[test]
    fn limits_display_with_thousands_separators() {
        assert_eq!(Plan::Free.limits().included_reads_display(), "50,000");
        assert_eq!(Plan::Business.limits().included_reads_display(), "20,000,000");
        assert_eq!(Cap::UpTo(5).to_string(), "5");
        assert_eq!(Cap::Unlimited.to_string(), "unlimited");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }

    #[test]
    fn new_tenants_may_only_choose_free_for_now() {
        assert_eq!(Plan::parse("").unwrap(), Plan::Free);
        assert_eq!(Plan::parse("free").unwrap(), Plan::Free);
        assert!(Plan::parse("team").is_err());
        assert!(Plan::parse("gold").is_err());
    }
}
