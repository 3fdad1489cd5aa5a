//! Selection: which identity pays for a request, as a pure function of the coordinator's state,
//! the request's [`Ask`] and the time. Among identities that may serve the request and whose
//! account can pay its cost (remaining, minus reservations in flight, minus the reserve kept for
//! the account's owner), the one with the most expected budget left wins, ties going to the least
//! recently used; an eligible identity the request prefers wins over the others. When none can
//! pay, [`NoBudget`] says when one could, or, when no identity could serve for a reason other
//! than budget (none configured, none scoped for the repo, all quarantined or failing their App
//! token exchange), why.

use super::{Ask, State};
use crate::clock::UnixMs;
use shoal_common::IdentityId;

/// Why no identity could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoBudget {
    /// Seconds until the earliest identity can serve again.
    pub retry_after_secs: u64,
    /// The earliest cooldown end or window reset after which an eligible identity could pay;
    /// `None` when none is known.
    pub(super) ready_at: Option<UnixMs>,
    /// An eligible identity could pay once reservations in flight come back.
    pub(super) pending: bool,
    /// Set when budget is not what stops the pool: which identities could not serve and why.
    pub unavailable: Option<String>,
}

impl NoBudget {
    /// Whether budget may appear by `deadline`.
    pub(super) fn waitable(&self, deadline: UnixMs) -> bool {
        self.pending || self.ready_at.is_some_and(|t| t <= deadline)
    }
}

/// The identity to spend for `ask` at `now`, keeping `reserve_percent` of each limit unspent.
pub(super) fn select(st: &State, ask: &Ask<'_>, now: UnixMs, reserve_percent: u64) -> Result<IdentityId, NoBudget> {
    let cost = ask.cost.max(1);
    // (identity, expected budget left, last used)
    let mut best: Option<(IdentityId, i64, u64)> = None;
    let mut best_preferred: Option<(IdentityId, i64, u64)> = None;
    let mut earliest: Option<UnixMs> = None;
    let mut ready_at: Option<UnixMs> = None;
    let mut pending = false;
    // An identity that could serve the request but for its budget or GitHub's secondary limit.
    let mut budget_bound = false;
    let min_opt = |a: Option<UnixMs>, t: UnixMs| Some(a.map_or(t, |e| e.min(t)));
    for (id, s) in &st.ids {
        if !s.health.admitted() || !s.serves(ask.owner, ask.repo) {
            continue;
        }
        let cooling = s.health.cooling_until(now);
        if ask.exclude.contains(id) {
            // Left out after this request's earlier attempts: budget unless its App exchange failed.
            budget_bound |= cooling.is_none() || s.health.cooldown_reason.is_none();
            continue;
        }
        if let Some(until) = cooling {
            earliest = min_opt(earliest, until);
            ready_at = min_opt(ready_at, until);
            budget_bound |= s.health.cooldown_reason.is_none();
            continue;
        }
        let Some(b) = st.ledger.bucket(&s.account, ask.resource) else {
            continue;
        };
        let reserve = b.limit * reserve_percent / 100;
        let spendable = b.remaining_at(now).saturating_sub(reserve);
        let expected = spendable as i64 - b.in_flight as i64;
        if expected < cost as i64 {
            budget_bound = true;
            if spendable >= cost {
                // Reservations in flight may come back unspent (a 304, a failure, a query
                // that cost less than estimated).
                pending = true;
            }
            if let Some(reset) = b.reset.filter(|r| *r > now) {
                earliest = min_opt(earliest, reset);
                if b.limit.saturating_sub(reserve) >= cost {
                    ready_at = min_opt(ready_at, reset);
                }
            }
            continue;
        }
        let better = |b: Option<(IdentityId, i64, u64)>| match b {
            None => true,
            Some((_, e, lu)) => expected > e || (expected == e && s.last_used < lu),
        };
        if better(best) {
            best = Some((*id, expected, s.last_used));
        }
        if ask.prefer.contains(id) && better(best_preferred) {
            best_preferred = Some((*id, expected, s.last_used));
        }
    }
    match best_preferred.or(best) {
        Some((id, _, _)) => Ok(id),
        None => Err(NoBudget {
            // Whole seconds, as GitHub counts: the reset header has no fraction, so a ceiling
            // over milliseconds could say 3601 for a one-hour window.
            retry_after_secs: earliest.map_or(60, |t| t.as_secs().saturating_sub(now.as_secs()).max(1)),
            ready_at,
            pending,
            unavailable: (!budget_bound).then(|| unavailable(st, ask, now)),
        }),
    }
}

/// Why no identity the request may use can serve it, naming each (names are not secrets).
fn unavailable(st: &State, ask: &Ask<'_>, now: UnixMs) -> String {
    if st.ids.is_empty() {
        return "no identity is registered in this tenant's pool".into();
    }
    let mut why: Vec<String> = st
        .ids
        .values()
        .filter(|s| s.serves(ask.owner, ask.repo))
        .map(|s| {
            let h = &s.health;
            let state = if !h.enabled {
                "disabled".to_string()
            } else if !h.usable {
                "not usable with its stored credential".to_string()
            } else if let Some(q) = &h.quarantine {
                format!("quarantined ({q})")
            } else if let (Some(until), Some(r)) = (h.cooling_until(now), &h.cooldown_reason) {
                format!(
                    "{r}; retried in {} s",
                    until.as_secs().saturating_sub(now.as_secs()).max(1)
                )
            } else {
                "not usable for this request".to_string()
            };
            format!("{}: {state}", s.name)
        })
        .collect();
    if why.is_empty() {
        let target = ask.repo.or(ask.owner).unwrap_or("this request");
        return format!("no identity in this tenant's pool is scoped for {target}");
    }
    why.sort();
    why.join("; ")
}

#[cfg(test)]
mod tests {
    use super::super::IdState;
    use super::super::health::Health;
    use super::super::ledger::RateLimitHeaders;
    use super::*;
    use crate::route::Resource;
    use std::time::Duration;

    const NOW: UnixMs = UnixMs::from_secs(1_800_000_000);
    const HOUR: Duration = Duration::from_secs(3600);

    /// One identity per account, with `remaining` of 100 core units (reset in an hour), `in_flight`
    /// of them reserved, its last use and its scopes.
    struct Id(u64, u64, u64, &'static [&'static str]);

    fn state(ids: &[Id]) -> (State, Vec<IdentityId>) {
        let mut st = State::default();
        let mut order = Vec::new();
        for (i, Id(remaining, in_flight, last_used, scopes)) in ids.iter().enumerate() {
            let account = format!("account-{i}");
            let answer = RateLimitHeaders {
                limit: Some(100),
                remaining: Some(*remaining),
                reset: Some(NOW.plus(HOUR)),
                ..RateLimitHeaders::default()
            };
            st.ledger.reconcile(&account, Resource::Core, 0, &answer, None);
            st.ledger.reserve(&account, Resource::Core, *in_flight, NOW);
            let id = IdentityId::new();
            st.ids.insert(
                id,
                IdState {
                    name: format!("id-{i}"),
                    account,
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                    health: Health::default(),
                    last_used: *last_used,
                },
            );
            order.push(id);
        }
        (st, order)
    }

    fn pick(st: &State, ask: &Ask<'_>) -> Result<IdentityId, NoBudget> {
        select(st, ask, NOW, 10)
    }

    fn core<'a>(owner: Option<&'a str>, repo: Option<&'a str>) -> Ask<'a> {
        Ask::one(Resource::Core, owner, repo)
    }

    #[test]
    fn the_most_expected_budget_wins_then_the_least_recently_used() {
        let (st, ids) = state(&[Id(50, 0, 1, &[]), Id(100, 0, 2, &[])]);
        assert_eq!(pick(&st, &core(None, None)), Ok(ids[1]));
        // Reservations in flight count as spent: 90 - 60 spendable against 40.
        let (st, ids) = state(&[Id(100, 60, 1, &[]), Id(50, 0, 2, &[])]);
        assert_eq!(pick(&st, &core(None, None)), Ok(ids[1]));
        let (st, ids) = state(&[Id(100, 0, 2, &[]), Id(100, 0, 1, &[])]);
        assert_eq!(pick(&st, &core(None, None)), Ok(ids[1]));
    }

    #[test]
    fn scopes_decide_who_may_serve_and_a_preferred_identity_wins_among_them() {
        let (st, ids) = state(&[Id(100, 0, 0, &["octo-org"]), Id(100, 0, 0, &["x/y"]), Id(50, 0, 0, &[])]);
        let (org, repo, any) = (ids[0], ids[1], ids[2]);
        assert_eq!(pick(&st, &core(Some("octo-org"), Some("octo-org/z"))), Ok(org));
        assert_eq!(pick(&st, &core(Some("x"), Some("x/y"))), Ok(repo));
        assert_eq!(pick(&st, &core(Some("nobody"), None)), Ok(any));
        let preferred = Ask {
            prefer: &[any],
            ..core(Some("octo-org"), None)
        };
        assert_eq!(pick(&st, &preferred), Ok(any), "preferred despite less budget");
        let excluded = Ask {
            exclude: &[org],
            ..core(Some("octo-org"), None)
        };
        assert_eq!(pick(&st, &excluded), Ok(any));
    }

    #[test]
    fn when_none_can_pay_it_says_when_one_could() {
        // Cooling down for 30 s.
        let (mut st, ids) = state(&[Id(100, 0, 0, &[])]);
        let until = NOW.plus(Duration::from_secs(30));
        st.ids.get_mut(&ids[0]).unwrap().health.cool_down(until);
        let nb = pick(&st, &core(None, None)).unwrap_err();
        assert_eq!((nb.retry_after_secs, nb.ready_at, nb.pending), (30, Some(until), false));
        assert_eq!(nb.unavailable, None, "a secondary limit is budget");
        // 2 spendable above the reserve, both reserved: pending, and the window resets in an hour.
        let (st, _) = state(&[Id(12, 2, 0, &[])]);
        let nb = pick(&st, &core(None, None)).unwrap_err();
        assert_eq!(
            (nb.retry_after_secs, nb.ready_at, nb.pending),
            (3600, Some(NOW.plus(HOUR)), true)
        );
        assert_eq!(nb.unavailable, None);
        // A quarantined identity never comes back by itself.
        let (mut st, ids) = state(&[Id(100, 0, 0, &[])]);
        st.ids.get_mut(&ids[0]).unwrap().health.quarantine = Some("401".into());
        let nb = pick(&st, &core(None, None)).unwrap_err();
        assert_eq!((nb.retry_after_secs, nb.ready_at, nb.pending), (60, None, false));
    }

    #[test]
    fn when_no_identity_can_serve_for_another_reason_it_says_which_and_why() {
        let (mut st, ids) = state(&[Id(100, 0, 0, &[]), Id(0, 0, 0, &["elsewhere"])]);
        st.ids.get_mut(&ids[0]).unwrap().health.quarantine = Some("GitHub answered 401".into());
        let nb = pick(&st, &core(Some("octo-org"), None)).unwrap_err();
        assert_eq!(
            nb.unavailable.as_deref(),
            Some("id-0: quarantined (GitHub answered 401)")
        );

        let (mut st, ids) = state(&[Id(100, 0, 0, &[])]);
        let h = &mut st.ids.get_mut(&ids[0]).unwrap().health;
        h.cool_down(NOW.plus(Duration::from_secs(60)));
        h.cooldown_reason = Some("the App installation token exchange failed".into());
        let nb = pick(&st, &core(None, None)).unwrap_err();
        assert_eq!(
            nb.unavailable.as_deref(),
            Some("id-0: the App installation token exchange failed; retried in 60 s")
        );

        let (st, _) = state(&[Id(100, 0, 0, &["elsewhere"])]);
        let nb = pick(&st, &core(Some("octo-org"), Some("octo-org/x"))).unwrap_err();
        assert_eq!(
            nb.unavailable.as_deref(),
            Some("no identity in this tenant's pool is scoped for octo-org/x")
        );
        let nb = pick(&State::default(), &core(None, None)).unwrap_err();
        assert_eq!(
            nb.unavailable.as_deref(),
            Some("no identity is registered in this tenant's pool")
        );

        // One identity out of budget among quarantined ones: budget, as before.
        let (mut st, ids) = state(&[Id(0, 0, 0, &[]), Id(100, 0, 0, &[])]);
        st.ids.get_mut(&ids[1]).unwrap().health.quarantine = Some("401".into());
        assert_eq!(pick(&st, &core(None, None)).unwrap_err().unavailable, None);
    }
}
