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

use crate::clock::Clock;
use crate::route::Resource;
use crate::tenant::{IdentityAuth, Tenant};
use axum::http::HeaderMap;
use serde::Serialize;
use shoal_common::IdentityId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// One account's view of one rate-limit resource.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: u64,
    remaining: u64,
    /// Unix ms when the window resets; 0 when unknown.
    reset_ms: u64,
    /// Units reserved by calls not answered yet.
    in_flight: u64,
}

impl Bucket {
    fn new(resource: Resource) -> Self {
        let limit = resource.default_limit();
        Self {
            limit,
            remaining: limit,
            reset_ms: 0,
            in_flight: 0,
        }
    }

    /// Remaining budget, counting a window that has reset as full.
    fn remaining_at(&self, now_ms: u64) -> u64 {
        if self.reset_ms != 0 && self.reset_ms <= now_ms {
            self.limit
        } else {
            self.remaining
        }
    }
}

type Buckets = [Bucket; 4];

fn new_buckets() -> Buckets {
    Resource::ALL.map(Bucket::new)
}

#[derive(Debug)]
struct IdState {
    name: String,
    account: String,
    scopes: Vec<String>,
    /// False for identities that cannot authenticate yet (App identities until minting lands).
    usable: bool,
    enabled: bool,
    quarantine: Option<String>,
    cooldown_until_ms: u64,
    last_used: u64,
}

impl IdState {
    fn serves(&self, owner: Option<&str>, repo: Option<&str>) -> bool {
        self.scopes.is_empty()
            || self.scopes.iter().any(|s| match s.split_once('/') {
                Some(_) => repo.is_some_and(|r| r == s),
                None => owner.is_some_and(|o| o == s),
            })
    }
}

#[derive(Default)]
struct State {
    ids: HashMap<IdentityId, IdState>,
    accounts: HashMap<String, Buckets>,
}

struct Inner {
    state: Mutex<State>,
    /// Per resource the pool's [limit, remaining, used, reset], refreshed on every change so the
    /// response path reads it without taking the lock.
    snapshot: [[AtomicU64; 4]; 4],
    clock: Arc<dyn Clock>,
    reserve_percent: u64,
    seq: AtomicU64,
    pacing: Pacing,
    /// Requests waiting for budget now.
    waiting: AtomicUsize,
    /// Woken on every change that can free budget (an answer, a release, a new bundle).
    changed: Notify,
    waited: AtomicU64,
    refused_waits: AtomicU64,
}

/// Bounds of the wait for budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Longest a request waits for an identity to have budget, in ms; 0 never waits.
    pub max_wait_ms: u64,
    /// Most requests waiting at once; the next ones fail fast.
    pub max_waiters: usize,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            max_wait_ms: 5_000,
            max_waiters: 64,
        }
    }
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

/// Pacing counters for stats.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct PacingView {
    /// Requests waiting for budget now.
    pub waiting: usize,
    /// Requests that waited and then got an identity.
    pub waited: u64,
    /// Requests refused because the wait queue was full.
    pub queue_full: u64,
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

/// Why no identity could be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoBudget {
    /// Seconds until the earliest identity can serve again.
    pub retry_after_secs: u64,
    /// Unix ms of the earliest cooldown end or window reset after which an eligible identity
    /// could pay; `None` when none is known.
    ready_at_ms: Option<u64>,
    /// An eligible identity could pay once reservations in flight come back.
    pending: bool,
}

impl NoBudget {
    /// Whether budget may appear before `deadline_ms`.
    fn waitable(&self, deadline_ms: u64) -> bool {
        self.pending || self.ready_at_ms.is_some_and(|t| t <= deadline_ms)
    }
}

/// A place in the wait queue, given back on drop.
struct WaitSlot<'a>(&'a AtomicUsize);

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The pool's budget for one resource.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct PoolBudget {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    /// Unix seconds of the earliest reset.
    pub reset: u64,
}

/// One identity as the stats endpoint shows it (never its credential).
#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    pub id: IdentityId,
    pub name: String,
    pub account: String,
    /// `healthy`, `quarantined`, `cooling_down`, `disabled`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_until: Option<u64>,
    /// Per resource: limit, remaining, reset, in flight.
    pub budget: std::collections::BTreeMap<&'static str, BudgetView>,
}

/// An account bucket as shown in stats.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BudgetView {
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
    pub in_flight: u64,
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
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
            snapshot: Default::default(),
            clock,
            reserve_percent: u64::from(reserve_percent.min(90)),
            seq: AtomicU64::new(1),
            pacing,
            waiting: AtomicUsize::new(0),
            changed: Notify::new(),
            waited: AtomicU64::new(0),
            refused_waits: AtomicU64::new(0),
        }))
    }

    /// Wakes waiters after a change that may free budget. Called after the state lock is
    /// released; a waiter counts itself before re-checking, so no wake-up is lost.
    fn wake(&self) {
        if self.0.waiting.load(Ordering::SeqCst) > 0 {
            self.0.changed.notify_waiters();
        }
    }

    /// Waiting and wait counters.
    pub fn pacing(&self) -> PacingView {
        PacingView {
            waiting: self.0.waiting.load(Ordering::SeqCst),
            waited: self.0.waited.load(Ordering::Relaxed),
            queue_full: self.0.refused_waits.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain counters behind; keep serving.
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Aligns the tracked identities with a (new) bundle; state of kept identities survives.
    pub fn sync(&self, tenant: &Tenant) {
        let mut st = self.lock();
        st.ids.retain(|id, _| tenant.identities.iter().any(|i| i.id == *id));
        for ident in &tenant.identities {
            let bundle_account = ident.account.clone();
            let entry = st.ids.entry(ident.id).or_insert_with(|| IdState {
                name: ident.name.clone(),
                account: format!("identity:{}", ident.id),
                scopes: Vec::new(),
                usable: true,
                enabled: true,
                quarantine: None,
                cooldown_until_ms: 0,
                last_used: 0,
            });
            entry.name = ident.name.clone();
            entry.scopes = ident.scopes.clone();
            entry.enabled = ident.enabled;
            entry.usable = !matches!(ident.auth, IdentityAuth::Unusable(_));
            if let Some(a) = bundle_account {
                entry.account = a;
            }
        }
        let accounts: Vec<String> = st.ids.values().map(|s| s.account.clone()).collect();
        for a in accounts {
            st.accounts.entry(a).or_insert_with(new_buckets);
        }
        self.refresh(&st);
        drop(st);
        self.wake();
    }

    /// Records the GitHub account an identity spends (learned from `/user`).
    pub fn set_account(&self, id: IdentityId, login: &str) {
        let mut st = self.lock();
        let login = login.to_ascii_lowercase();
        if let Some(s) = st.ids.get_mut(&id) {
            s.account = login.clone();
        }
        st.accounts.entry(login).or_insert_with(new_buckets);
        self.refresh(&st);
        drop(st);
        self.wake();
    }

    /// Quarantines an identity (GitHub answered 401).
    pub fn quarantine(&self, id: IdentityId, reason: &str) {
        let mut st = self.lock();
        if let Some(s) = st.ids.get_mut(&id) {
            s.quarantine = Some(reason.to_string());
        }
        self.refresh(&st);
    }

    /// Picks, among eligible identities whose account can pay `ask.cost` (remaining, minus the
    /// reservations in flight, minus the owner's reserve), the one with the most expected budget
    /// left, ties by least recently used, and reserves the cost on its account. An eligible
    /// identity in `ask.prefer` wins over the others. Never waits: see [`Self::acquire_paced`].
    pub fn acquire(&self, ask: &Ask<'_>) -> Result<Lease, NoBudget> {
        let cost = ask.cost.max(1);
        let resource = ask.resource;
        let now = self.0.clock.now_ms();
        let mut st = self.lock();
        let mut best: Option<(IdentityId, i64, u64)> = None;
        let mut best_preferred: Option<(IdentityId, i64, u64)> = None;
        let mut earliest: Option<u64> = None;
        let mut ready_at: Option<u64> = None;
        let mut pending = false;
        let min_opt = |a: Option<u64>, t: u64| Some(a.map_or(t, |e| e.min(t)));
        for (id, s) in &st.ids {
            if !s.enabled || !s.usable || s.quarantine.is_some() || ask.exclude.contains(id) {
                continue;
            }
            if !s.serves(ask.owner, ask.repo) {
                continue;
            }
            if s.cooldown_until_ms > now {
                earliest = min_opt(earliest, s.cooldown_until_ms);
                ready_at = min_opt(ready_at, s.cooldown_until_ms);
                continue;
            }
            let Some(b) = st.accounts.get(&s.account).map(|b| b[resource.index()]) else {
                continue;
            };
            let reserve = b.limit * self.0.reserve_percent / 100;
            let spendable = b.remaining_at(now).saturating_sub(reserve);
            let expected = spendable as i64 - b.in_flight as i64;
            if expected < cost as i64 {
                if spendable >= cost {
                    // Reservations in flight may come back unspent (a 304, a failure, a query
                    // that cost less than estimated).
                    pending = true;
                }
                if b.reset_ms > now {
                    earliest = min_opt(earliest, b.reset_ms);
                    if b.limit.saturating_sub(reserve) >= cost {
                        ready_at = min_opt(ready_at, b.reset_ms);
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
        let Some((id, _, _)) = best_preferred.or(best) else {
            // Whole seconds, as GitHub counts: the reset header has no fraction, so a ceiling
            // over milliseconds could say 3601 for a one-hour window.
            let retry = earliest.map_or(60, |t| (t / 1000).saturating_sub(now / 1000).max(1));
            return Err(NoBudget {
                retry_after_secs: retry,
                ready_at_ms: ready_at,
                pending,
            });
        };
        let seq = self.0.seq.fetch_add(1, Ordering::Relaxed);
        let account = {
            let s = st.ids.get_mut(&id).expect("chosen above");
            s.last_used = seq;
            s.account.clone()
        };
        let b = &mut st.accounts.entry(account.clone()).or_insert_with(new_buckets)[resource.index()];
        if b.reset_ms != 0 && b.reset_ms <= now {
            b.remaining = b.limit;
            b.reset_ms = 0;
        }
        b.in_flight += cost;
        Ok(Lease {
            coord: self.clone(),
            identity: id,
            account,
            resource,
            cost,
            released: false,
        })
    }

    /// [`Self::acquire`], waiting when no eligible identity can pay now but one can soon: a
    /// cooldown ends or a window resets before the pacing deadline, or reservations in flight
    /// come back. At most `max_waiters` requests wait at once; the next ones, and those whose
    /// wait runs out, get the [`NoBudget`] at once, so the backlog stays bounded.
    pub async fn acquire_paced(&self, ask: &Ask<'_>) -> Result<Lease, NoBudget> {
        let first = match self.acquire(ask) {
            Ok(l) => return Ok(l),
            Err(nb) => nb,
        };
        let pacing = self.0.pacing;
        let deadline = self.0.clock.now_ms().saturating_add(pacing.max_wait_ms);
        if pacing.max_wait_ms == 0 || !first.waitable(deadline) {
            return Err(first);
        }
        let Some(_slot) = self.enter_queue() else {
            self.0.refused_waits.fetch_add(1, Ordering::Relaxed);
            return Err(first);
        };
        loop {
            let changed = self.0.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let nb = match self.acquire(ask) {
                Ok(l) => {
                    self.0.waited.fetch_add(1, Ordering::Relaxed);
                    return Ok(l);
                }
                Err(nb) => nb,
            };
            if self.0.clock.now_ms() >= deadline || !nb.waitable(deadline) {
                return Err(nb);
            }
            let until = nb.ready_at_ms.filter(|t| *t <= deadline).unwrap_or(deadline);
            tokio::select! {
                _ = changed => {}
                _ = self.0.clock.sleep_until(until) => {}
            }
        }
    }

    fn enter_queue(&self) -> Option<WaitSlot<'_>> {
        let max = self.0.pacing.max_waiters;
        self.0
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| WaitSlot(&self.0.waiting))
    }

    fn release(&self, account: &str, resource: Resource, cost: u64) {
        if let Some(b) = self.lock().accounts.get_mut(account) {
            let b = &mut b[resource.index()];
            b.in_flight = b.in_flight.saturating_sub(cost);
        }
        self.wake();
    }

    /// Ends a lease with GitHub's answer: the reservation is released and the budget learned from
    /// `x-ratelimit-*` (GitHub's figure replaces the estimate); without those headers, `charged`
    /// (a GraphQL answer's `rateLimit.cost`) is taken off. Quarantines on 401, cools down on a
    /// secondary limit, and says whether to try another identity.
    pub fn observe(&self, mut lease: Lease, status: u16, headers: &HeaderMap, charged: Option<u64>) -> Verdict {
        lease.released = true;
        let now = self.0.clock.now_ms();
        let mut st = self.lock();
        let resource = headers
            .get("x-ratelimit-resource")
            .and_then(|v| v.to_str().ok())
            .and_then(Resource::parse)
            .unwrap_or(lease.resource);
        let remaining = header_u64(headers, "x-ratelimit-remaining");
        {
            let buckets = st.accounts.entry(lease.account.clone()).or_insert_with(new_buckets);
            let b = &mut buckets[lease.resource.index()];
            b.in_flight = b.in_flight.saturating_sub(lease.cost);
            let b = &mut buckets[resource.index()];
            if let Some(limit) = header_u64(headers, "x-ratelimit-limit") {
                b.limit = limit;
            }
            if let Some(rem) = remaining {
                let reset_ms = header_u64(headers, "x-ratelimit-reset").map(|s| s * 1000);
                match reset_ms {
                    // A new window: take GitHub's number as is.
                    Some(r) if r != b.reset_ms => {
                        b.reset_ms = r;
                        b.remaining = rem;
                    }
                    // Same window: answers may arrive out of order; the lowest is the newest.
                    _ => b.remaining = b.remaining.min(rem),
                }
            } else if let Some(c) = charged {
                b.remaining = b.remaining.saturating_sub(c);
            }
        }
        let Some(s) = st.ids.get_mut(&lease.identity) else {
            self.refresh(&st);
            drop(st);
            self.wake();
            return Verdict::Use;
        };
        let verdict = match status {
            401 => {
                s.quarantine = Some("GitHub answered 401: the credential is revoked or invalid".into());
                Verdict::TryAnother
            }
            403 | 429 => {
                if let Some(secs) = header_u64(headers, "retry-after") {
                    s.cooldown_until_ms = now + secs.max(1) * 1000;
                    Verdict::TryAnother
                } else if remaining == Some(0) {
                    Verdict::TryAnother
                } else {
                    Verdict::Use
                }
            }
            _ => Verdict::Use,
        };
        self.refresh(&st);
        drop(st);
        self.wake();
        verdict
    }

    /// Clears a quarantine (an App identity whose token is re-minted).
    pub fn lift_quarantine(&self, id: IdentityId) {
        if let Some(s) = self.lock().ids.get_mut(&id) {
            s.quarantine = None;
        }
        self.wake();
    }

    /// Keeps an identity out of selection until `until_ms` (a failed App token refresh).
    pub fn cool_down(&self, id: IdentityId, until_ms: u64) {
        if let Some(s) = self.lock().ids.get_mut(&id) {
            s.cooldown_until_ms = s.cooldown_until_ms.max(until_ms);
        }
    }

    /// Identities that may serve `owner`/`repo` at all (enabled, usable, not quarantined, scoped
    /// for it), whatever their budget.
    pub fn eligible(&self, owner: Option<&str>, repo: Option<&str>) -> Vec<IdentityId> {
        let st = self.lock();
        st.ids
            .iter()
            .filter(|(_, s)| s.enabled && s.usable && s.quarantine.is_none() && s.serves(owner, repo))
            .map(|(id, _)| *id)
            .collect()
    }

    /// What the coordinator believes an identity's account has left of `resource` now, and the
    /// window's reset (Unix ms, 0 when unknown).
    pub fn remaining(&self, id: IdentityId, resource: Resource) -> Option<(u64, u64)> {
        let now = self.0.clock.now_ms();
        let st = self.lock();
        let account = &st.ids.get(&id)?.account;
        let b = st.accounts.get(account)?[resource.index()];
        Some((b.remaining_at(now), b.reset_ms))
    }

    /// The pool's budget per resource: sums over distinct accounts with a usable identity.
    pub fn pool(&self, resource: Resource) -> PoolBudget {
        let now = self.0.clock.now_ms();
        let st = self.lock();
        Self::compute_pool(&st, resource, now)
    }

    /// The pool's budget as of the last change (no lock; for response headers).
    pub fn pool_snapshot(&self, resource: Resource) -> PoolBudget {
        let s = &self.0.snapshot[resource.index()];
        PoolBudget {
            limit: s[0].load(Ordering::Relaxed),
            remaining: s[1].load(Ordering::Relaxed),
            used: s[2].load(Ordering::Relaxed),
            reset: s[3].load(Ordering::Relaxed),
        }
    }

    fn refresh(&self, st: &State) {
        let now = self.0.clock.now_ms();
        for r in Resource::ALL {
            let p = Self::compute_pool(st, r, now);
            let s = &self.0.snapshot[r.index()];
            s[0].store(p.limit, Ordering::Relaxed);
            s[1].store(p.remaining, Ordering::Relaxed);
            s[2].store(p.used, Ordering::Relaxed);
            s[3].store(p.reset, Ordering::Relaxed);
        }
    }

    fn compute_pool(st: &State, resource: Resource, now: u64) -> PoolBudget {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = PoolBudget {
            limit: 0,
            remaining: 0,
            used: 0,
            reset: 0,
        };
        let mut reset_ms = u64::MAX;
        for s in st.ids.values() {
            if !s.enabled || !s.usable || s.quarantine.is_some() || seen.contains(&s.account.as_str()) {
                continue;
            }
            seen.push(&s.account);
            if let Some(b) = st.accounts.get(&s.account) {
                let b = b[resource.index()];
                out.limit += b.limit;
                out.remaining += b.remaining_at(now);
                if b.reset_ms > now {
                    reset_ms = reset_ms.min(b.reset_ms);
                }
            }
        }
        out.used = out.limit - out.remaining.min(out.limit);
        out.reset = if reset_ms == u64::MAX {
            now / 1000 + 3600
        } else {
            reset_ms / 1000
        };
        out
    }

    /// Every identity's state and budgets, for stats (no credentials).
    pub fn identities(&self) -> Vec<IdentityView> {
        let now = self.0.clock.now_ms();
        let st = self.lock();
        let mut out: Vec<IdentityView> = st
            .ids
            .iter()
            .map(|(id, s)| {
                let state = if !s.enabled || !s.usable {
                    "disabled"
                } else if s.quarantine.is_some() {
                    "quarantined"
                } else if s.cooldown_until_ms > now {
                    "cooling_down"
                } else {
                    "healthy"
                };
                let budget = st
                    .accounts
                    .get(&s.account)
                    .map(|b| {
                        Resource::ALL
                            .iter()
                            .map(|r| {
                                let x = b[r.index()];
                                (
                                    r.as_str(),
                                    BudgetView {
                                        limit: x.limit,
                                        remaining: x.remaining_at(now),
                                        reset: x.reset_ms / 1000,
                                        in_flight: x.in_flight,
                                    },
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                IdentityView {
                    id: *id,
                    name: s.name.clone(),
                    account: s.account.clone(),
                    state,
                    reason: s.quarantine.clone(),
                    cooldown_until: (s.cooldown_until_ms > now).then_some(s.cooldown_until_ms / 1000),
                    budget,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use axum::http::HeaderValue;
    use shoal_common::protocol::{Bundle, Credential, IdentityEntry, PROTOCOL_VERSION, Policy, TenantRef};
    use shoal_common::{Secret, TenantId};
    use std::time::Duration;

    fn tenant(ids: &[(&str, Option<&str>, &[&str])]) -> Tenant {
        let b = Bundle {
            protocol_version: PROTOCOL_VERSION,
            version: 1,
            tenant: TenantRef {
                id: TenantId::new(),
                slug: "t".into(),
            },
            caller_tokens: vec![],
            identities: ids
                .iter()
                .map(|(name, account, scopes)| IdentityEntry {
                    id: IdentityId::new(),
                    name: name.to_string(),
                    credential: Credential::Pat {
                        token: Secret::new("x"),
                    },
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                    account: account.map(str::to_string),
                    enabled: true,
                })
                .collect(),
            policy: Policy::default(),
            token_pepper: Secret::new("00".repeat(32)),
            upstream: "http://x".into(),
        };
        Tenant::from_bundle(&b).unwrap()
    }

    fn headers(limit: u64, remaining: u64, reset_s: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset_s));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
        h
    }

    fn setup(ids: &[(&str, Option<&str>, &[&str])]) -> (Coordinator, Tenant, Arc<ManualClock>) {
        let clock = ManualClock::new();
        let c = Coordinator::new(clock.clone(), 10);
        let t = tenant(ids);
        c.sync(&t);
        (c, t, clock)
    }

    fn name_of(t: &Tenant, id: IdentityId) -> String {
        t.identity(id).unwrap().name.clone()
    }

    #[test]
    fn selection_prefers_most_budget_then_least_recently_used() {
        let (c, t, clock) = setup(&[("a", None, &[]), ("b", None, &[])]);
        let reset = clock.now_ms() / 1000 + 3600;
        let first = c.acquire(&Ask::one(Resource::Core, Some("o"), None)).unwrap();
        let first_name = name_of(&t, first.identity);
        c.observe(first, 200, &headers(100, 50, reset), None);
        // The other one has more budget now (100 assumed).
        let second = c.acquire(&Ask::one(Resource::Core, Some("o"), None)).unwrap();
        assert_ne!(name_of(&t, second.identity), first_name);
        c.observe(second, 200, &headers(100, 50, reset), None);
        // Equal budgets: least recently used, i.e. the first again.
        let third = c.acquire(&Ask::one(Resource::Core, Some("o"), None)).unwrap();
        assert_eq!(name_of(&t, third.identity), first_name);
    }

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

    #[test]
    fn tokens_of_one_account_share_a_bucket_and_the_reserve_is_kept() {
        let (c, _, clock) = setup(&[("a1", Some("alice"), &[]), ("a2", Some("alice"), &[])]);
        let reset = clock.now_ms() / 1000 + 3600;
        let l = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap();
        // 10 remaining of 100: the 10% reserve leaves nothing for either token.
        c.observe(l, 200, &headers(100, 10, reset), None);
        let err = c.acquire(&Ask::one(Resource::Core, None, None)).err().unwrap();
        assert!(err.retry_after_secs > 3500 && err.retry_after_secs <= 3600, "{err:?}");
        assert_eq!(c.pool(Resource::Core).limit, 100, "one account counted once");
        // After the reset the bucket is full again.
        clock.advance(Duration::from_secs(3601));
        assert!(c.acquire(&Ask::one(Resource::Core, None, None)).is_ok());
    }

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
        let states: Vec<_> = c.identities().into_iter().map(|v| (v.name, v.state)).collect();
        assert!(states.contains(&(name_of(&t, revoked), "quarantined")));
        assert!(states.contains(&(name_of(&t, other), "cooling_down")));
        clock.advance(Duration::from_secs(31));
        assert_eq!(
            c.acquire(&Ask::one(Resource::Core, None, None)).unwrap().identity,
            other
        );
    }

    #[test]
    fn scopes_limit_which_identity_serves_an_owner() {
        let (c, t, _) = setup(&[("org-only", None, &["octo-org"]), ("repo-only", None, &["x/y"])]);
        let any = setup(&[("a", None, &[]), ("b", None, &[])]);
        let first = any.0.acquire(&Ask::one(Resource::Core, None, None)).unwrap().identity;
        // The preferred identity wins even though the other has more budget left.
        for _ in 0..3 {
            let l = any
                .0
                .acquire(&Ask {
                    prefer: &[first],
                    ..Ask::one(Resource::Core, None, None)
                })
                .unwrap();
            assert_eq!(l.identity, first);
        }
        let l = c
            .acquire(&Ask::one(Resource::Core, Some("octo-org"), Some("octo-org/z")))
            .unwrap();
        assert_eq!(name_of(&t, l.identity), "org-only");
        let l = c.acquire(&Ask::one(Resource::Core, Some("x"), Some("x/y"))).unwrap();
        assert_eq!(name_of(&t, l.identity), "repo-only");
        assert!(c.acquire(&Ask::one(Resource::Core, Some("nobody"), None)).is_err());
    }

    #[test]
    fn resources_have_separate_buckets() {
        let (c, _, clock) = setup(&[("a", None, &[])]);
        let reset = clock.now_ms() / 1000 + 60;
        let l = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap();
        let mut h = headers(30, 0, reset);
        h.insert("x-ratelimit-resource", HeaderValue::from_static("search"));
        c.observe(l, 200, &h, None);
        assert!(c.acquire(&Ask::one(Resource::Search, None, None)).is_err());
        assert!(c.acquire(&Ask::one(Resource::Core, None, None)).is_ok());
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
        assert!(err.pending && err.ready_at_ms == Some(reset * 1000), "{err:?}");
        drop(q1);
        assert_eq!(c.acquire(&points(30)).unwrap().identity, a);
        // A query costing more than a whole window minus the reserve is never waited for.
        let err = c.acquire(&points(46)).err().unwrap();
        assert!(!err.pending && err.ready_at_ms.is_none(), "{err:?}");
        // Without headers the answer's own figure is taken off.
        let l = c.acquire(&points(3)).unwrap();
        let id = l.identity;
        let before = c.remaining(id, Resource::Graphql).unwrap().0;
        c.observe(l, 200, &HeaderMap::new(), Some(2));
        assert_eq!(c.remaining(id, Resource::Graphql).unwrap().0, before - 2);
    }

    fn paced(ids: &[(&str, Option<&str>, &[&str])], max_waiters: usize) -> (Coordinator, Arc<ManualClock>) {
        let clock = ManualClock::new();
        let c = Coordinator::with_pacing(
            clock.clone(),
            10,
            Pacing {
                max_wait_ms: 5_000,
                max_waiters,
            },
        );
        c.sync(&tenant(ids));
        (c, clock)
    }

    async fn until_waiting(c: &Coordinator, n: usize) {
        for _ in 0..10_000 {
            if c.pacing().waiting == n {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("expected {n} waiters, have {}", c.pacing().waiting);
    }

    #[tokio::test]
    async fn waiters_within_the_bound_get_an_identity_after_a_cooldown_and_the_others_fail_fast() {
        let (c, clock) = paced(&[("a", None, &[])], 2);
        let id = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap().identity;
        c.cool_down(id, clock.now_ms() + 3_000);
        let spawn = |c: &Coordinator| {
            let c = c.clone();
            tokio::spawn(async move {
                c.acquire_paced(&Ask::one(Resource::Core, None, None))
                    .await
                    .map(|l| l.identity)
            })
        };
        let w1 = spawn(&c);
        until_waiting(&c, 1).await;
        let w2 = spawn(&c);
        until_waiting(&c, 2).await;
        // The queue is full: the next one fails at once with the cooldown's retry-after.
        let err = c
            .acquire_paced(&Ask::one(Resource::Core, None, None))
            .await
            .err()
            .unwrap();
        assert_eq!(err.retry_after_secs, 3);
        clock.advance(Duration::from_secs(3));
        assert_eq!(w1.await.unwrap(), Ok(id));
        assert_eq!(w2.await.unwrap(), Ok(id));
        assert_eq!(
            c.pacing(),
            PacingView {
                waiting: 0,
                waited: 2,
                queue_full: 1
            }
        );
        // A cooldown beyond the bound is not waited for.
        c.cool_down(id, clock.now_ms() + 60_000);
        let err = c
            .acquire_paced(&Ask::one(Resource::Core, None, None))
            .await
            .err()
            .unwrap();
        assert_eq!(err.retry_after_secs, 60);
        assert_eq!(c.pacing().waited, 2);
    }

    #[tokio::test]
    async fn a_waiter_takes_budget_a_reservation_gives_back() {
        let (c, clock) = paced(&[("a", None, &[])], 4);
        let reset = clock.now_ms() / 1000 + 3600;
        let l = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap();
        // 12 left of 100, 10 kept for the owner: 2 spendable, both reserved below.
        c.observe(l, 200, &headers(100, 12, reset), None);
        let held = c
            .acquire(&Ask {
                cost: 2,
                ..Ask::one(Resource::Core, None, None)
            })
            .unwrap();
        let c2 = c.clone();
        let waiter = tokio::spawn(async move { c2.acquire_paced(&Ask::one(Resource::Core, None, None)).await.is_ok() });
        until_waiting(&c, 1).await;
        // A revalidation answered 304 costs nothing: the reservation comes back unspent.
        c.observe(held, 304, &headers(100, 12, reset), None);
        assert!(waiter.await.unwrap());
    }
}
