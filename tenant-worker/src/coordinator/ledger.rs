//! The budget ledger: per GitHub account and rate-limit resource, the limit, remaining and reset
//! GitHub last reported and the units reserved by calls in flight; reconciled from each answer's
//! `x-ratelimit-*` headers, and summed into the pool's budget for response headers.

use crate::clock::UnixMs;
use crate::route::Resource;
use crate::upstream::header_u64;
use axum::http::HeaderMap;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One account's view of one rate-limit resource.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    pub limit: u64,
    pub remaining: u64,
    /// When the window resets; `None` when unknown.
    pub reset: Option<UnixMs>,
    /// Units reserved by calls not answered yet.
    pub in_flight: u64,
}

impl Bucket {
    fn new(resource: Resource) -> Self {
        let limit = resource.default_limit();
        Self {
            limit,
            remaining: limit,
            reset: None,
            in_flight: 0,
        }
    }

    /// Whether the window has reset by `now`.
    fn window_passed(&self, now: UnixMs) -> bool {
        self.reset.is_some_and(|r| r <= now)
    }

    /// Remaining budget, counting a window that has reset as full.
    pub fn remaining_at(&self, now: UnixMs) -> u64 {
        if self.window_passed(now) {
            self.limit
        } else {
            self.remaining
        }
    }
}

type Buckets = [Bucket; 4];

/// GitHub's rate-limit headers on one answer.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RateLimitHeaders {
    /// `x-ratelimit-resource`: the bucket GitHub charged, when it says.
    pub resource: Option<Resource>,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<UnixMs>,
    /// `retry-after` in seconds (a secondary limit).
    pub retry_after_secs: Option<u64>,
}

impl RateLimitHeaders {
    pub fn parse(h: &HeaderMap) -> Self {
        Self {
            resource: h
                .get("x-ratelimit-resource")
                .and_then(|v| v.to_str().ok())
                .and_then(Resource::parse),
            limit: header_u64(h, "x-ratelimit-limit"),
            remaining: header_u64(h, "x-ratelimit-remaining"),
            reset: header_u64(h, "x-ratelimit-reset").map(UnixMs::from_secs),
            retry_after_secs: header_u64(h, "retry-after"),
        }
    }
}

/// Budgets of every account the tenant's identities spend.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    accounts: HashMap<String, Buckets>,
}

impl Ledger {
    /// Starts tracking `account` with the documented default limits (kept if already tracked).
    pub fn open(&mut self, account: &str) {
        if !self.accounts.contains_key(account) {
            self.accounts
                .insert(account.to_string(), Resource::ALL.map(Bucket::new));
        }
    }

    fn buckets(&mut self, account: &str) -> &mut Buckets {
        self.open(account);
        self.accounts.get_mut(account).expect("opened above")
    }

    /// The account's bucket for `resource`, if the account is tracked.
    pub fn bucket(&self, account: &str, resource: Resource) -> Option<Bucket> {
        self.accounts.get(account).map(|b| b[resource.index()])
    }

    /// Holds `cost` units of `resource` on `account` until [`Self::release`] or
    /// [`Self::reconcile`]; a window that has reset by `now` starts full.
    pub fn reserve(&mut self, account: &str, resource: Resource, cost: u64, now: UnixMs) {
        let b = &mut self.buckets(account)[resource.index()];
        if b.window_passed(now) {
            b.remaining = b.limit;
            b.reset = None;
        }
        b.in_flight += cost;
    }

    /// Gives back a reservation unspent.
    pub fn release(&mut self, account: &str, resource: Resource, cost: u64) {
        if let Some(b) = self.accounts.get_mut(account) {
            let b = &mut b[resource.index()];
            b.in_flight = b.in_flight.saturating_sub(cost);
        }
    }

    /// Ends a reservation of `cost` units of `reserved` with GitHub's answer: its headers' figures
    /// replace the estimate (for the resource GitHub names); without them, `charged` (a GraphQL
    /// answer's `rateLimit.cost`) is taken off.
    pub fn reconcile(
        &mut self,
        account: &str,
        reserved: Resource,
        cost: u64,
        answer: &RateLimitHeaders,
        charged: Option<u64>,
    ) {
        let buckets = self.buckets(account);
        let b = &mut buckets[reserved.index()];
        b.in_flight = b.in_flight.saturating_sub(cost);
        let b = &mut buckets[answer.resource.unwrap_or(reserved).index()];
        if let Some(limit) = answer.limit {
            b.limit = limit;
        }
        if let Some(rem) = answer.remaining {
            match answer.reset {
                // A new window: take GitHub's number as is.
                Some(r) if Some(r) != b.reset => {
                    b.reset = Some(r);
                    b.remaining = rem;
                }
                // Same window: answers may arrive out of order; the lowest is the newest.
                _ => b.remaining = b.remaining.min(rem),
            }
        } else if let Some(c) = charged {
            b.remaining = b.remaining.saturating_sub(c);
        }
    }

    /// The pool's budget for `resource`: sums over the distinct `accounts`.
    pub fn pool<'a>(&self, accounts: impl IntoIterator<Item = &'a str>, resource: Resource, now: UnixMs) -> PoolBudget {
        let mut seen: Vec<&str> = Vec::new();
        let (mut limit, mut remaining) = (0, 0);
        let mut reset: Option<UnixMs> = None;
        for account in accounts {
            if seen.contains(&account) {
                continue;
            }
            seen.push(account);
            if let Some(b) = self.bucket(account, resource) {
                limit += b.limit;
                remaining += b.remaining_at(now);
                if let Some(r) = b.reset.filter(|r| *r > now) {
                    reset = Some(reset.map_or(r, |e| e.min(r)));
                }
            }
        }
        PoolBudget {
            limit,
            remaining,
            used: limit - remaining.min(limit),
            reset: reset
                .unwrap_or_else(|| now.plus(std::time::Duration::from_secs(3600)))
                .as_secs(),
        }
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

/// The pool's budget per resource as of the last change, readable without the coordinator's
/// lock (the response path puts it in every answer's headers).
#[derive(Debug, Default)]
pub(super) struct PoolSnapshot([[AtomicU64; 4]; 4]);

impl PoolSnapshot {
    pub fn store(&self, resource: Resource, p: PoolBudget) {
        let s = &self.0[resource.index()];
        for (slot, v) in s.iter().zip([p.limit, p.remaining, p.used, p.reset]) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    pub fn load(&self, resource: Resource) -> PoolBudget {
        let [limit, remaining, used, reset] = self.0[resource.index()].each_ref().map(|v| v.load(Ordering::Relaxed));
        PoolBudget {
            limit,
            remaining,
            used,
            reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{headers, setup};
    use super::super::{Ask, Resource};
    use crate::clock::Clock;
    use axum::http::HeaderValue;
    use std::time::Duration;

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
}
