//! The rate-budget coordinator: which pooled identity spends the next upstream call. Budgets
//! belong to GitHub accounts (several tokens of one user share one bucket per resource), so it
//! counts per account: limit/remaining/reset from GitHub's headers, reservations in flight, a
//! reserve left for each identity's owner, cooldowns after secondary limits and quarantine
//! after a 401.
//!
//! Pacing is cost-aware: a reservation holds the request's expected cost (1 for a REST call, in
//! the core or search bucket; the estimated points of a GraphQL query) until GitHub's answer
//! replaces the estimate with its own figures. When no identity can pay now but one can within a
//! short bound (a cooldown ending, a window resetting, reservations in flight coming back), a
//! bounded number of requests wait for it; beyond either bound they fail fast.
//!
//! [`Coordinator`] holds the state under one lock and wires its parts: `ledger` (budgets per
//! account and resource, reconciled from GitHub's headers), `health` (quarantine and cooldowns),
//! `selection` (the choice, a pure function of state, ask and time), `pacing` (the bounded wait)
//! and `view` (what stats and usage reports read).

mod health;
mod ledger;
mod pacing;
mod selection;
mod view;

pub(crate) use health::UNAUTHORIZED;
pub use ledger::PoolBudget;
pub use pacing::{Pacing, PacingView};
pub use selection::NoBudget;
pub use view::{BudgetView, HealthState, IdentityView};

use crate::clock::{Clock, UnixMs};
use crate::route::Resource;
use crate::tenant::{IdentityAuth, Tenant};
use axum::http::HeaderMap;
use health::Health;
use ledger::{Ledger, PoolSnapshot, RateLimitHeaders};
use pacing::WaitQueue;
use shoal_common::IdentityId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One tracked identity.
#[derive(Debug)]
struct IdState {
    name: String,
    /// The GitHub account whose budget it spends.
    account: String,
    scopes: Vec<String>,
    health: Health,
    /// Selection sequence number of its last use (0: never).
    last_used: u64,
}

impl IdState {
    /// Whether its scopes cover `owner`/`repo` (no scopes: everything).
    fn serves(&self, owner: Option<&str>, repo: Option<&str>) -> bool {
        self.scopes.is_empty()
            || self.scopes.iter().any(|s| match s.split_once('/') {
                Some(_) => repo.is_some_and(|r| r == s),
                None => owner.is_some_and(|o| o == s),
            })
    }
}

/// Everything behind the coordinator's lock.
#[derive(Debug, Default)]
struct State {
    ids: HashMap<IdentityId, IdState>,
    ledger: Ledger,
}

impl State {
    /// Accounts of the identities that may serve (what the pool's budget sums over).
    fn admitted_accounts(&self) -> impl Iterator<Item = &str> {
        self.ids
            .values()
            .filter(|s| s.health.admitted())
            .map(|s| s.account.as_str())
    }

    fn pool(&self, resource: Resource, now: UnixMs) -> PoolBudget {
        self.ledger.pool(self.admitted_accounts(), resource, now)
    }
}

struct Inner {
    state: Mutex<State>,
    /// Refreshed on every change so the response path reads it without taking the lock.
    snapshot: PoolSnapshot,
    clock: Arc<dyn Clock>,
    reserve_percent: u64,
    seq: AtomicU64,
    queue: WaitQueue,
}

/// What a request asks of the pool.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The rate-limit bucket the call spends.
    pub resource: Resource,
    /// Expected cost in the resource's units: 1 for a REST call, a GraphQL query's estimated points.
    pub cost: u64,
    /// The owner and repository the identity must be scoped for.
    pub owner: Option<&'a str>,
    pub repo: Option<&'a str>,
    /// Identities not to use (they already failed this request).
    pub exclude: &'a [IdentityId],
    /// Eligible identities that win over the others (they hold the validator that makes a
    /// revalidation free).
    pub prefer: &'a [IdentityId],
}

impl<'a> Ask<'a> {
    /// One unit of `resource` for `owner`/`repo`.
    pub fn one(resource: Resource, owner: Option<&'a str>, repo: Option<&'a str>) -> Self {
        Self {
            resource,
            cost: 1,
            owner,
            repo,
            exclude: &[],
            prefer: &[],
        }
    }
}

/// Chooses identities and tracks their budgets. Cheap to clone.
#[derive(Clone)]
pub struct Coordinator(Arc<Inner>);

/// A reservation of a request's expected cost on an identity's account; released when observed
/// or dropped.
pub struct Lease {
    coord: Coordinator,
    /// The identity to spend.
    pub identity: IdentityId,
    account: String,
    /// The resource reserved.
    pub resource: Resource,
    /// Units reserved.
    pub cost: u64,
    released: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.released {
            self.coord.release(&self.account, self.resource, self.cost);
        }
    }
}

/// What the relay should do after an upstream answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Use the answer.
    Use,
    /// The failure belonged to this identity (revoked, rate limited, cooling down): try another.
    TryAnother,
}

impl Coordinator {
    /// A coordinator leaving `reserve_percent` of each limit unspent, with the default pacing.
    pub fn new(clock: Arc<dyn Clock>, reserve_percent: u8) -> Self {
        Self::with_pacing(clock, reserve_percent, Pacing::default())
    }

    /// A coordinator leaving `reserve_percent` of each limit unspent, waiting within `pacing`.
    pub fn with_pacing(clock: Arc<dyn Clock>, reserve_percent: u8, pacing: Pacing) -> Self {
        Self(Arc::new(Inner {
            state: Mutex::new(State::default()),
            snapshot: PoolSnapshot::default(),
            clock,
            reserve_percent: u64::from(reserve_percent.min(90)),
            seq: AtomicU64::new(1),
            queue: WaitQueue::new(pacing),
        }))
    }

    fn now(&self) -> UnixMs {
        UnixMs::from_ms(self.0.clock.now_ms())
    }

    /// Waiting and wait counters.
    pub fn pacing(&self) -> PacingView {
        self.0.queue.view()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain counters behind; keep serving.
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends a change: refreshes the pool snapshot, releases the lock and wakes waiters.
    fn changed(&self, st: MutexGuard<'_, State>) {
        self.refresh(&st);
        drop(st);
        self.0.queue.wake();
    }

    /// Aligns the tracked identities with a (new) bundle; state of kept identities survives.
    pub fn sync(&self, tenant: &Tenant) {
        let mut st = self.lock();
        st.ids.retain(|id, _| tenant.identities.iter().any(|i| i.id == *id));
        for ident in &tenant.identities {
            let entry = st.ids.entry(ident.id).or_insert_with(|| IdState {
                name: ident.name.clone(),
                account: format!("identity:{}", ident.id),
                scopes: Vec::new(),
                health: Health::default(),
                last_used: 0,
            });
            entry.name = ident.name.clone();
            entry.scopes = ident.scopes.clone();
            entry.health.enabled = ident.enabled;
            entry.health.usable = !matches!(ident.auth, IdentityAuth::Unusable(_));
            if let Some(a) = &ident.account {
                entry.account = a.clone();
            }
        }
        let st_ref = &mut *st;
        for s in st_ref.ids.values() {
            st_ref.ledger.open(&s.account);
        }
        self.changed(st);
    }

    /// Records the GitHub account an identity spends (learned from `/user`).
    pub fn set_account(&self, id: IdentityId, login: &str) {
        let mut st = self.lock();
        let login = login.to_ascii_lowercase();
        st.ledger.open(&login);
        if let Some(s) = st.ids.get_mut(&id) {
            s.account = login;
        }
        self.changed(st);
    }

    /// Quarantines an identity (GitHub answered 401).
    pub fn quarantine(&self, id: IdentityId, reason: &str) {
        let mut st = self.lock();
        if let Some(s) = st.ids.get_mut(&id) {
            s.health.quarantine = Some(reason.to_string());
        }
        self.refresh(&st);
    }

    /// Picks, among eligible identities whose account can pay `ask.cost` (remaining, minus the
    /// reservations in flight, minus the owner's reserve), the one with the most expected budget
    /// left, ties by least recently used, and reserves the cost on its account. An eligible
    /// identity in `ask.prefer` wins over the others. Never waits: see [`Self::acquire_paced`].
    pub fn acquire(&self, ask: &Ask<'_>) -> Result<Lease, NoBudget> {
        let cost = ask.cost.max(1);
        let now = self.now();
        let mut st = self.lock();
        let id = selection::select(&st, ask, now, self.0.reserve_percent)?;
        let seq = self.0.seq.fetch_add(1, Ordering::Relaxed);
        let account = {
            let s = st.ids.get_mut(&id).expect("selected from the map");
            s.last_used = seq;
            s.account.clone()
        };
        st.ledger.reserve(&account, ask.resource, cost, now);
        Ok(Lease {
            coord: self.clone(),
            identity: id,
            account,
            resource: ask.resource,
            cost,
            released: false,
        })
    }

    /// [`Self::acquire`], waiting when no eligible identity can pay now but one can soon: a
    /// cooldown ends or a window resets before the pacing deadline, or reservations in flight
    /// come back. At most `max_waiters` requests wait at once; the next ones, and those whose
    /// wait runs out, get the [`NoBudget`] at once, so the backlog stays bounded.
    pub async fn acquire_paced(&self, ask: &Ask<'_>) -> Result<Lease, NoBudget> {
        match self.acquire(ask) {
            Ok(l) => Ok(l),
            Err(first) => self.0.queue.wait(&*self.0.clock, first, || self.acquire(ask)).await,
        }
    }

    fn release(&self, account: &str, resource: Resource, cost: u64) {
        self.lock().ledger.release(account, resource, cost);
        self.0.queue.wake();
    }

    /// Ends a lease with GitHub's answer: the reservation is released and the budget learned from
    /// `x-ratelimit-*` (GitHub's figure replaces the estimate); without those headers, `charged`
    /// (a GraphQL answer's `rateLimit.cost`) is taken off. Quarantines on 401, cools down on a
    /// secondary limit, and says whether to try another identity.
    pub fn observe(&self, mut lease: Lease, status: u16, headers: &HeaderMap, charged: Option<u64>) -> Verdict {
        lease.released = true;
        let now = self.now();
        let answer = RateLimitHeaders::parse(headers);
        let mut st = self.lock();
        st.ledger
            .reconcile(&lease.account, lease.resource, lease.cost, &answer, charged);
        let verdict = match st.ids.get_mut(&lease.identity) {
            Some(s) => s.health.judge(status, &answer, now),
            None => Verdict::Use,
        };
        self.changed(st);
        verdict
    }

    /// Why no identity may serve `ask` when budget is not the reason (see [`NoBudget::unavailable`]).
    pub fn unavailable(&self, ask: &Ask<'_>) -> Option<String> {
        let st = self.lock();
        selection::select(&st, ask, self.now(), self.0.reserve_percent)
            .err()
            .and_then(|nb| nb.unavailable)
    }

    /// Clears a quarantine (an App identity whose token is re-minted).
    pub fn lift_quarantine(&self, id: IdentityId) {
        if let Some(s) = self.lock().ids.get_mut(&id) {
            s.health.quarantine = None;
        }
        self.0.queue.wake();
    }

    /// Keeps an identity out of selection until `until_ms` for `reason` (a failed App token
    /// exchange: not a rate limit, so a pool left with no other identity says so).
    pub fn cool_down(&self, id: IdentityId, until_ms: u64, reason: &str) {
        if let Some(s) = self.lock().ids.get_mut(&id) {
            s.health.cool_down(UnixMs::from_ms(until_ms));
            s.health.cooldown_reason = Some(reason.to_string());
        }
    }

    /// Identities that may serve `owner`/`repo` at all (enabled, usable, not quarantined, scoped
    /// for it), whatever their budget.
    pub fn eligible(&self, owner: Option<&str>, repo: Option<&str>) -> Vec<IdentityId> {
        let st = self.lock();
        st.ids
            .iter()
            .filter(|(_, s)| s.health.admitted() && s.serves(owner, repo))
            .map(|(id, _)| *id)
            .collect()
    }

    /// What the coordinator believes an identity's account has left of `resource` now, and the
    /// window's reset (Unix ms, 0 when unknown).
    pub fn remaining(&self, id: IdentityId, resource: Resource) -> Option<(u64, u64)> {
        let now = self.now();
        let st = self.lock();
        let b = st.ledger.bucket(&st.ids.get(&id)?.account, resource)?;
        Some((b.remaining_at(now), b.reset.map_or(0, UnixMs::as_ms)))
    }

    /// The pool's budget per resource: sums over distinct accounts with a usable identity.
    pub fn pool(&self, resource: Resource) -> PoolBudget {
        let now = self.now();
        self.lock().pool(resource, now)
    }

    /// The pool's budget as of the last change (no lock; for response headers).
    pub fn pool_snapshot(&self, resource: Resource) -> PoolBudget {
        self.0.snapshot.load(resource)
    }

    fn refresh(&self, st: &State) {
        let now = self.now();
        for r in Resource::ALL {
            self.0.snapshot.store(r, st.pool(r, now));
        }
    }

    /// Every identity's health and budgets, for stats and usage reports (no credentials), by name.
    pub fn identities(&self) -> Vec<IdentityView> {
        let now = self.now();
        let st = self.lock();
        let mut out: Vec<IdentityView> = st
            .ids
            .iter()
            .map(|(id, s)| IdentityView {
                id: *id,
                name: s.name.clone(),
                account: s.account.clone(),
                health: s.health.state_at(now),
                budget: Resource::ALL
                    .iter()
                    .filter_map(|r| {
                        let b = st.ledger.bucket(&s.account, *r)?;
                        Some((
                            r.as_str(),
                            BudgetView {
                                limit: b.limit,
                                remaining: b.remaining_at(now),
                                reset: b.reset,
                                in_flight: b.in_flight,
                            },
                        ))
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::{headers, name_of, setup};
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn in_flight_reservations_spread_concurrent_calls() {
        let (c, t, _) = setup(&[("a", None, &[]), ("b", None, &[])]);
        let l1 = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap();
        let l2 = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap();
        assert_ne!(name_of(&t, l1.identity), name_of(&t, l2.identity));
        drop(l1);
        let views = c.identities();
        assert_eq!(views.iter().map(|v| v.budget["core"].in_flight).sum::<u64>(), 1);
    }

    fn graphql_headers(limit: u64, remaining: u64, reset_s: u64) -> HeaderMap {
        let mut h = headers(limit, remaining, reset_s);
        h.insert("x-ratelimit-resource", HeaderValue::from_static("graphql"));
        h
    }

    fn points(cost: u64) -> Ask<'static> {
        Ask {
            cost,
            ..Ask::one(Resource::Graphql, None, None)
        }
    }

    #[test]
    fn a_reservation_holds_the_expected_cost() {
        let (c, _, clock) = setup(&[("a", None, &[]), ("b", None, &[])]);
        let reset = clock.now_ms() / 1000 + 3600;
        // Learn both windows: a has 40 spendable points (reserve 5 of 50), b 38.
        let (l1, l2) = (c.acquire(&points(1)).unwrap(), c.acquire(&points(1)).unwrap());
        let (a, b) = (l1.identity, l2.identity);
        c.observe(l1, 200, &graphql_headers(50, 45, reset), None);
        c.observe(l2, 200, &graphql_headers(50, 43, reset), None);
        // Counting one unit per call would send both 30-point queries to a.
        let q1 = c.acquire(&points(30)).unwrap();
        assert_eq!((q1.identity, q1.cost), (a, 30));
        let q2 = c.acquire(&points(30)).unwrap();
        assert_eq!(q2.identity, b);
        let in_flight: u64 = c.identities().iter().map(|v| v.budget["graphql"].in_flight).sum();
        assert_eq!(in_flight, 60);
        // Neither can pay a third now; both could once the reservations come back.
        let err = c.acquire(&points(30)).err().unwrap();
        assert!(err.pending && err.ready_at == Some(UnixMs::from_secs(reset)), "{err:?}");
        drop(q1);
        assert_eq!(c.acquire(&points(30)).unwrap().identity, a);
        // A query costing more than a whole window minus the reserve is never waited for.
        let err = c.acquire(&points(46)).err().unwrap();
        assert!(!err.pending && err.ready_at.is_none(), "{err:?}");
        // Without headers the answer's own figure is taken off.
        let l = c.acquire(&points(3)).unwrap();
        let id = l.identity;
        let before = c.remaining(id, Resource::Graphql).unwrap().0;
        c.observe(l, 200, &HeaderMap::new(), Some(2));
        assert_eq!(c.remaining(id, Resource::Graphql).unwrap().0, before - 2);
    }
}
