//! A tenant's standing: whether it is served, from the operator's `tenants.status` and, with billing
//! on, its subscription (`subscription_status`, `past_due_since`) and the grace period. The one
//! answer to "is this tenant served": the scheduler, the edge, the caller-token login and the
//! internal API all ask [`Account::standing`].

use crate::config::BillingConfig;
use crate::tenants::TenantStatus;
use std::fmt;
use time::OffsetDateTime;

/// The `tenants` columns a standing is computed from, for `SELECT`s that join `tenants t`.
pub const ACCOUNT_COLS: &str = "t.status, t.subscription_status, t.past_due_since";

/// What decides a tenant's standing (`tenants` columns, see [`ACCOUNT_COLS`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    /// The operator's switch.
    pub status: TenantStatus,
    /// Stripe's subscription status as last applied; `none` is the free plan, never subscribed.
    pub subscription_status: String,
    /// When the subscription became `past_due`: the grace period starts here.
    pub past_due_since: Option<OffsetDateTime>,
}

/// Why a tenant is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendReason {
    /// The operator set `tenants.status = 'suspended'`.
    Operator,
    /// Stripe gave up collecting (`unpaid`).
    Unpaid,
    /// The subscription ended (`canceled`).
    Canceled,
    /// The first payment never succeeded (`incomplete_expired`).
    IncompleteExpired,
    /// A trial ended without a payment method (`paused`).
    Paused,
    /// `past_due` for longer than the grace period.
    GraceEnded,
}

/// Whether a tenant is served, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Served.
    Serving,
    /// A payment failed; still served until `until`, then suspended.
    Grace { until: OffsetDateTime },
    /// Not served: its worker is stopped, its data kept.
    Suspended { reason: SuspendReason },
}

impl Standing {
    /// Whether the tenant's worker runs and its members may sign in.
    pub fn serves(self) -> bool {
        !matches!(self, Standing::Suspended { .. })
    }
}

impl Account {
    /// The standing at `now`. With billing off only the operator's switch counts. A `past_due`
    /// row without `past_due_since` is in grace from `now` (the grace cannot end without it).
    pub fn standing(&self, billing: &BillingConfig, now: OffsetDateTime) -> Standing {
        if self.status != TenantStatus::Active {
            return Standing::Suspended {
                reason: SuspendReason::Operator,
            };
        }
        if !billing.enabled() {
            return Standing::Serving;
        }
        let suspended = |reason| Standing::Suspended { reason };
        match self.subscription_status.as_str() {
            "unpaid" => suspended(SuspendReason::Unpaid),
            "canceled" => suspended(SuspendReason::Canceled),
            "incomplete_expired" => suspended(SuspendReason::IncompleteExpired),
            "paused" => suspended(SuspendReason::Paused),
            "past_due" => {
                let until = self.past_due_since.unwrap_or(now) + billing.grace;
                if now < until {
                    Standing::Grace { until }
                } else {
                    suspended(SuspendReason::GraceEnded)
                }
            }
            // none (free, never subscribed), trialing, active, and incomplete (checkout still
            // paying: the tenant keeps its current plan).
            _ => Standing::Serving,
        }
    }
}

impl fmt::Display for SuspendReason {
    /// Says why, for a caller: the edge's 402 and the login refusal carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SuspendReason::Operator => "it was suspended by the operator",
            SuspendReason::Unpaid => "its subscription is unpaid",
            SuspendReason::Canceled => "its subscription was canceled",
            SuspendReason::IncompleteExpired => "its subscription's first payment never succeeded",
            SuspendReason::Paused => "its trial ended without a payment method",
            SuspendReason::GraceEnded => "a payment failed and the grace period is over",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn account(status: TenantStatus, sub: &str, past_due_days_ago: Option<i64>, now: OffsetDateTime) -> Account {
        Account {
            status,
            subscription_status: sub.into(),
            past_due_since: past_due_days_ago.map(|d| now - Duration::days(d)),
        }
    }

    #[test]
    fn standing_follows_the_subscription_and_the_grace_period() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let on = BillingConfig::on_for_tests();
        assert_eq!(on.grace, Duration::days(7));
        let active = TenantStatus::Active;
        let suspended = |reason| Standing::Suspended { reason };
        let cases = [
            ("none", None, Standing::Serving),
            ("trialing", None, Standing::Serving),
            ("active", None, Standing::Serving),
            ("incomplete", None, Standing::Serving),
            (
                "past_due",
                Some(2),
                Standing::Grace {
                    until: now + Duration::days(5),
                },
            ),
            (
                "past_due",
                None,
                Standing::Grace {
                    until: now + Duration::days(7),
                },
            ),
            ("past_due", Some(7), suspended(SuspendReason::GraceEnded)),
            ("past_due", Some(30), suspended(SuspendReason::GraceEnded)),
            ("unpaid", None, suspended(SuspendReason::Unpaid)),
            ("canceled", None, suspended(SuspendReason::Canceled)),
            ("incomplete_expired", None, suspended(SuspendReason::IncompleteExpired)),
            ("paused", None, suspended(SuspendReason::Paused)),
        ];
        for (sub, days, want) in cases {
            let got = account(active, sub, days, now).standing(&on, now);
            assert_eq!(got, want, "{sub} {days:?}");
            assert_eq!(got.serves(), !matches!(want, Standing::Suspended { .. }));
        }
    }

    #[test]
    fn billing_off_serves_every_subscription_state_and_the_operator_still_suspends() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let off = BillingConfig::default();
        for sub in ["none", "past_due", "unpaid", "canceled", "incomplete_expired", "paused"] {
            let a = account(TenantStatus::Active, sub, Some(365), now);
            assert_eq!(a.standing(&off, now), Standing::Serving, "{sub}");
        }
        for billing in [off, BillingConfig::on_for_tests()] {
            let a = account(TenantStatus::Suspended, "active", None, now);
            assert_eq!(
                a.standing(&billing, now),
                Standing::Suspended {
                    reason: SuspendReason::Operator
                }
            );
        }
    }

    #[test]
    fn a_shorter_grace_period_ends_sooner() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let billing = BillingConfig {
            grace: Duration::days(1),
            ..BillingConfig::on_for_tests()
        };
        let a = account(TenantStatus::Active, "past_due", Some(2), now);
        assert!(!a.standing(&billing, now).serves());
    }
}
