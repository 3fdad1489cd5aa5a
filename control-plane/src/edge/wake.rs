//! Holding requests for a sleeping tenant while its worker wakes. The first request for a sleeping
//! tenant wakes it (clears `workers.sleeping_since` and notifies the scheduler, which starts the
//! worker at once) and one watcher per tenant polls the route until the worker is routable; every
//! request for that tenant waits on the same watcher, bounded in time and in number
//! ([`HoldLimits`]), and is then forwarded. Beyond either bound the answer is a GitHub-shaped 503
//! with `retry-after`.

use crate::metrics::{self, HoldRefused};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long and how many requests the edge holds per tenant while its worker wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLimits {
    /// Longest a request waits for the worker.
    pub wait: Duration,
    /// Most requests waiting per tenant (per edge replica); more get 503 at once.
    pub max_held: usize,
}

impl Default for HoldLimits {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(5),
            max_held: 256,
        }
    }
}

/// How often a waking tenant's route is looked up.
pub(super) const POLL: Duration = Duration::from_millis(10);

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The worker is routable at this address.
    Up(SocketAddr),
    /// The tenant is no longer sleeping nor waking (gone, suspended, down): route it afresh.
    Recheck,
    /// Not routable within the bound.
    TimedOut,
}

/// One tenant's wake in progress.
pub(super) struct Wait {
    held: AtomicUsize,
    outcome: watch::Receiver<Option<Outcome>>,
}

/// The wakes in progress on this edge, by tenant slug.
#[derive(Default)]
pub(super) struct Waits {
    by_slug: Mutex<HashMap<String, Arc<Wait>>>,
}

/// A place in a tenant's queue, given back when the request stops waiting.
pub(super) struct Held(Arc<Wait>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Held {
    /// Waits (up to `wait`) for the watcher's outcome.
    pub(super) async fn outcome(&self, wait: Duration) -> Outcome {
        let mut rx = self.0.outcome.clone();
        match tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await {
            Ok(Ok(o)) => o.unwrap_or(Outcome::TimedOut),
            _ => Outcome::TimedOut,
        }
    }
}

impl Waits {
    /// Joins the tenant's wait, starting it (with `start`, given the sender the watcher reports
    /// on) when there is none. `None`: the tenant already has `max_held` requests waiting.
    pub(super) fn join(
        &self,
        slug: &str,
        max_held: usize,
        start: impl FnOnce(watch::Sender<Option<Outcome>>),
    ) -> Option<Held> {
        let mut by_slug = self.by_slug.lock().unwrap_or_else(|p| p.into_inner());
        let wait = by_slug
            .entry(slug.to_string())
            .or_insert_with(|| {
                let (tx, rx) = watch::channel(None);
                start(tx);
                Arc::new(Wait {
                    held: AtomicUsize::new(0),
                    outcome: rx,
                })
            })
            .clone();
        if wait.held.load(Ordering::Relaxed) >= max_held {
            metrics::global().hold_refused(HoldRefused::Full);
            return None;
        }
        wait.held.fetch_add(1, Ordering::Relaxed);
        Some(Held(wait))
    }

    /// Ends the tenant's wait: later requests route afresh.
    pub(super) fn finish(&self, slug: &str) {
        self.by_slug.lock().unwrap_or_else(|p| p.into_inner()).remove(slug);
    }
}

/// When the watcher started the wake, to measure it.
pub(super) struct WakeClock(Option<Instant>);

impl WakeClock {
    pub(super) fn new() -> Self {
        Self(None)
    }

    /// The edge flipped the tenant from sleeping to waking now.
    pub(super) fn started(&mut self) {
        self.0.get_or_insert_with(Instant::now);
    }

    /// The worker is routable: counts the wake this edge made, with its latency.
    pub(super) fn up(&self) {
        if let Some(at) = self.0 {
            let latency = at.elapsed();
            tracing::info!(duration_ms = latency.as_millis() as u64, "woke a sleeping worker");
            metrics::global().woke(latency);
        }
    }
}
