//! Identity health: whether an identity may serve at all (enabled and usable per the bundle, not
//! quarantined after a 401) and when it may serve again (a cooldown after a secondary limit or a
//! failed App token exchange), judged from GitHub's answers.

use super::Verdict;
use super::ledger::RateLimitHeaders;
use super::view::HealthState;
use crate::clock::UnixMs;
use std::time::Duration;

/// Why an identity is quarantined after GitHub answered 401.
pub(crate) const UNAUTHORIZED: &str = "GitHub answered 401: the credential is revoked or invalid";

#[derive(Debug)]
pub(super) struct Health {
    pub enabled: bool,
    /// False for identities that cannot authenticate (an App identity without a usable key).
    pub usable: bool,
    pub quarantine: Option<String>,
    pub cooldown_until: Option<UnixMs>,
    /// Why it cools down when the cause is not GitHub's rate limiting (a failed App token exchange).
    pub cooldown_reason: Option<String>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            enabled: true,
            usable: true,
            quarantine: None,
            cooldown_until: None,
            cooldown_reason: None,
        }
    }
}

impl Health {
    /// Enabled, usable and not quarantined: may serve, once any cooldown ends.
    pub fn admitted(&self) -> bool {
        self.enabled && self.usable && self.quarantine.is_none()
    }

    /// The end of a cooldown still running at `now`.
    pub fn cooling_until(&self, now: UnixMs) -> Option<UnixMs> {
        self.cooldown_until.filter(|t| *t > now)
    }

    /// Keeps the identity out until `until` at least.
    pub fn cool_down(&mut self, until: UnixMs) {
        self.cooldown_until = Some(self.cooldown_until.map_or(until, |t| t.max(until)));
    }

    /// The state shown in stats and reported to the control plane.
    pub fn state_at(&self, now: UnixMs) -> HealthState {
        if !self.enabled || !self.usable {
            HealthState::Disabled
        } else if let Some(reason) = &self.quarantine {
            HealthState::Quarantined { reason: reason.clone() }
        } else if let Some(until) = self.cooling_until(now) {
            HealthState::CoolingDown { until }
        } else {
            HealthState::Healthy
        }
    }

    /// Learns from an upstream answer: a 401 quarantines, a secondary limit (`retry-after`)
    /// cools down for as long as GitHub asked. Says whether the failure was this identity's.
    pub fn judge(&mut self, status: u16, answer: &RateLimitHeaders, now: UnixMs) -> Verdict {
        match status {
            401 => {
                self.quarantine = Some(UNAUTHORIZED.into());
                Verdict::TryAnother
            }
            403 | 429 => {
                if let Some(secs) = answer.retry_after_secs {
                    self.cooldown_until = Some(now.plus(Duration::from_secs(secs.max(1))));
                    self.cooldown_reason = None;
                    Verdict::TryAnother
                } else if answer.remaining == Some(0) {
                    Verdict::TryAnother
                } else {
                    Verdict::Use
                }
            }
            _ => Verdict::Use,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{name_of, setup};
    use super::super::{Ask, HealthState, Verdict};
    use crate::clock::Clock;
    use crate::route::Resource;
    use axum::http::{HeaderMap, HeaderValue};
    use std::time::Duration;

    #[test]
    fn unauthorized_quarantines_and_secondary_limit_cools_down() {
        let (c, t, clock) = setup(&[("a", None, &[]), ("b", None, &[])]);
        let l = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap();
        let revoked = l.identity;
        assert_eq!(c.observe(l, 401, &HeaderMap::new(), None), Verdict::TryAnother);
        for _ in 0..3 {
            let l = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap();
            assert_ne!(l.identity, revoked);
        }
        let l = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap();
        let other = l.identity;
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(c.observe(l, 403, &h, None), Verdict::TryAnother);
        let err = c.acquire(&Ask::one(Resource::Core, None, None)).err().unwrap();
        assert_eq!(err.retry_after_secs, 30);
        let states: Vec<_> = c.identities().into_iter().map(|v| (v.name, v.health)).collect();
        assert!(states.contains(&(
            name_of(&t, revoked),
            HealthState::Quarantined {
                reason: super::UNAUTHORIZED.into()
            }
        )));
        let cooling = states.iter().find(|(n, _)| *n == name_of(&t, other)).unwrap();
        assert!(
            matches!(cooling.1, HealthState::CoolingDown { until } if until.as_ms() == clock.now_ms() + 30_000),
            "{cooling:?}"
        );
        clock.advance(Duration::from_secs(31));
        assert_eq!(
            c.acquire(&Ask::one(Resource::Core, None, None)).unwrap().identity,
            other
        );
    }
}
