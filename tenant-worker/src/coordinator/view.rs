//! The coordinator's state as others read it: each identity's health and its account's budgets,
//! for `/_shoal/stats` and the usage reports (never a credential). Instants are [`UnixMs`]; the
//! stats document shows them in Unix seconds, as GitHub's headers do.

use crate::clock::UnixMs;
use serde::{Serialize, Serializer};
use shoal_common::IdentityId;
use std::collections::BTreeMap;

/// Whether an identity serves, and if not why or until when. In the stats document it is the
/// `state` field (`healthy`, `cooling_down`, `quarantined`, `disabled`) with its details beside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    /// After a secondary limit or a failed App token exchange.
    CoolingDown {
        #[serde(rename = "cooldown_until", serialize_with = "secs")]
        until: UnixMs,
    },
    /// GitHub answered 401.
    Quarantined {
        reason: String,
    },
    /// Disabled in the bundle, or unable to authenticate.
    Disabled,
}

/// One identity as the stats endpoint shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    pub id: IdentityId,
    pub name: String,
    pub account: String,
    #[serde(flatten)]
    pub health: HealthState,
    /// Per resource name (`core`, `search`, ...).
    pub budget: BTreeMap<&'static str, BudgetView>,
}

/// An account bucket as shown in stats.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BudgetView {
    pub limit: u64,
    pub remaining: u64,
    /// When the window resets; shown as 0 when unknown.
    #[serde(serialize_with = "secs_or_zero")]
    pub reset: Option<UnixMs>,
    pub in_flight: u64,
}

fn secs<S: Serializer>(t: &UnixMs, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(t.as_secs())
}

fn secs_or_zero<S: Serializer>(t: &Option<UnixMs>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(t.map_or(0, UnixMs::as_secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_stats_document_shows_state_details_and_instants_in_seconds() {
        let view = IdentityView {
            id: IdentityId::new(),
            name: "bot".into(),
            account: "octo-bot".into(),
            health: HealthState::CoolingDown {
                until: UnixMs::from_ms(1_800_000_030_500),
            },
            budget: BTreeMap::from([(
                "core",
                BudgetView {
                    limit: 5000,
                    remaining: 4999,
                    reset: None,
                    in_flight: 1,
                },
            )]),
        };
        let j = serde_json::to_value(&view).unwrap();
        assert_eq!(
            (&j["state"], &j["cooldown_until"]),
            (&json!("cooling_down"), &json!(1_800_000_030))
        );
        assert_eq!(
            j["budget"]["core"],
            json!({"limit": 5000, "remaining": 4999, "reset": 0, "in_flight": 1})
        );
        let quarantined = IdentityView {
            health: HealthState::Quarantined { reason: "401".into() },
            ..view
        };
        let j = serde_json::to_value(&quarantined).unwrap();
        assert_eq!((&j["state"], &j["reason"]), (&json!("quarantined"), &json!("401")));
        assert!(j.get("cooldown_until").is_none());
    }
}
