//! Pacing: the bounded wait for budget. When no identity can pay now but one can within
//! [`Pacing::max_wait_ms`] (a cooldown ending, a window resetting, reservations in flight coming
//! back), up to [`Pacing::max_waiters`] requests wait for it, re-trying on every change that may
//! free budget; beyond either bound they fail fast, so the backlog stays bounded.

use super::NoBudget;
use crate::clock::{Clock, UnixMs};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

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

/// The requests waiting for budget.
#[derive(Debug)]
pub(super) struct WaitQueue {
    pacing: Pacing,
    waiting: AtomicUsize,
    /// Woken on every change that can free budget (an answer, a release, a new bundle).
    changed: Notify,
    waited: AtomicU64,
    refused: AtomicU64,
}

/// A place in the wait queue, given back on drop.
struct WaitSlot<'a>(&'a AtomicUsize);

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WaitQueue {
    pub fn new(pacing: Pacing) -> Self {
        Self {
            pacing,
            waiting: AtomicUsize::new(0),
            changed: Notify::new(),
            waited: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Wakes waiters after a change that may free budget. Called after the coordinator's lock is
    /// released; a waiter counts itself before re-checking, so no wake-up is lost.
    pub fn wake(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    pub fn view(&self) -> PacingView {
        PacingView {
            waiting: self.waiting.load(Ordering::SeqCst),
            waited: self.waited.load(Ordering::Relaxed),
            queue_full: self.refused.load(Ordering::Relaxed),
        }
    }

    /// After `attempt` failed with `first`: waits in the queue and retries `attempt` on every
    /// change until it succeeds, or fails with the last [`NoBudget`] once the deadline passes, no
    /// budget can appear before it, or the queue is full.
    pub async fn wait<T>(
        &self,
        clock: &dyn Clock,
        first: NoBudget,
        mut attempt: impl FnMut() -> Result<T, NoBudget>,
    ) -> Result<T, NoBudget> {
        let deadline = UnixMs::from_ms(clock.now_ms()).plus(Duration::from_millis(self.pacing.max_wait_ms));
        if self.pacing.max_wait_ms == 0 || !first.waitable(deadline) {
            return Err(first);
        }
        let Some(_slot) = self.enter() else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(first);
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let nb = match attempt() {
                Ok(t) => {
                    self.waited.fetch_add(1, Ordering::Relaxed);
                    return Ok(t);
                }
                Err(nb) => nb,
            };
            if UnixMs::from_ms(clock.now_ms()) >= deadline || !nb.waitable(deadline) {
                return Err(nb);
            }
            let until = nb.ready_at.filter(|t| *t <= deadline).unwrap_or(deadline);
            tokio::select! {
                _ = changed => {}
                _ = clock.sleep_until(until.as_ms()) => {}
            }
        }
    }

    fn enter(&self) -> Option<WaitSlot<'_>> {
        let max = self.pacing.max_waiters;
        self.waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| WaitSlot(&self.waiting))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{headers, paced};
    use super::super::{Ask, Coordinator};
    use super::*;
    use crate::route::Resource;

    fn waiters(max_waiters: usize) -> Pacing {
        Pacing {
            max_wait_ms: 5_000,
            max_waiters,
        }
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
        let (c, _, clock) = paced(&[("a", None, &[])], waiters(2));
        let id = c.acquire(&Ask::one(Resource::Core, None, None)).unwrap().identity;
        c.cool_down(id, clock.now_ms() + 3_000, "the App installation token exchange failed");
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
        c.cool_down(
            id,
            clock.now_ms() + 60_000,
            "the App installation token exchange failed",
        );
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
        let (c, _, clock) = paced(&[("a", None, &[])], waiters(4));
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
