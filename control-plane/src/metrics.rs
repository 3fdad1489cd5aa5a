//! The control plane's Prometheus metrics, served as text at `GET /metrics`: how often the edge
//! woke a sleeping tenant's worker and how long that took, requests it could not hold for a wake,
//! workers the scheduler put to sleep, and how often the workers' long polls looked at Postgres.
//! Labels never name a tenant: the page is the operator's.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

/// Why the edge answered a request for a sleeping tenant with 503 instead of holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldRefused {
    /// The tenant already had the most requests waiting that the edge holds.
    Full,
    /// The worker did not answer within the hold bound.
    Timeout,
}

impl HoldRefused {
    fn as_str(self) -> &'static str {
        match self {
            HoldRefused::Full => "full",
            HoldRefused::Timeout => "timeout",
        }
    }
}

/// Every metric of this process.
pub struct Metrics {
    registry: Registry,
    wakes: Counter,
    wake_seconds: Histogram,
    holds_refused: Family<Vec<(&'static str, &'static str)>, Counter>,
    sleeps: Counter,
    long_poll_checks: Family<Vec<(&'static str, &'static str)>, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let wakes = Counter::default();
        // 10 ms .. ~10 s.
        let wake_seconds = Histogram::new([0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0]);
        let holds_refused = Family::default();
        let sleeps = Counter::default();
        let long_poll_checks = Family::default();
        registry.register(
            "shoal_edge_wakes",
            "Sleeping tenant workers the edge woke for a request",
            wakes.clone(),
        );
        registry.register(
            "shoal_edge_wake_seconds",
            "From the edge asking for a sleeping worker to the worker being routable",
            wake_seconds.clone(),
        );
        registry.register(
            "shoal_edge_wake_holds_refused",
            "Requests for a sleeping tenant answered 503 (reason: full, timeout)",
            holds_refused.clone(),
        );
        registry.register(
            "shoal_scheduler_sleeps",
            "Idle workers the scheduler stopped to sleep",
            sleeps.clone(),
        );
        registry.register(
            "shoal_internal_long_poll_checks",
            "Times a worker's long poll looked at Postgres (feed: bundle, events)",
            long_poll_checks.clone(),
        );
        Self {
            registry,
            wakes,
            wake_seconds,
            holds_refused,
            sleeps,
            long_poll_checks,
        }
    }

    /// Counts one wake that took `latency` until the worker was routable.
    pub fn woke(&self, latency: Duration) {
        self.wakes.inc();
        self.wake_seconds.observe(latency.as_secs_f64());
    }

    /// Counts a request that was not held for a wake.
    pub fn hold_refused(&self, why: HoldRefused) {
        self.holds_refused.get_or_create(&vec![("reason", why.as_str())]).inc();
    }

    /// Counts a worker put to sleep.
    pub fn slept(&self) {
        self.sleeps.inc();
    }

    /// Counts one look at Postgres by a long poll on `feed` (`bundle`, `events`).
    pub fn long_poll_checked(&self, feed: &'static str) {
        self.long_poll_checks.get_or_create(&vec![("feed", feed)]).inc();
    }

    /// Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        out
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// `GET /metrics`.
pub async fn get_metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        global().encode(),
    )
        .into_response()
}
