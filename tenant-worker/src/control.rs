//! Scheduled mode: the worker pulls its bundle from the control plane's internal API, keeps it
//! current by long-polling for newer versions, and pushes aggregated usage back. Every request is
//! signed with the worker's own secret (`shoal_common::signing`); the control plane derives the
//! tenant from that signature, so a worker can only ever see its own tenant.

use crate::Error;
use crate::clock::UnixMs;
use crate::coordinator;
use crate::route::Resource;
use crate::stats::Spend;
use crate::worker::Worker;
use shoal_common::protocol::{
    Budget, Bundle, CacheStatus, EventPage, HealthState, IdentityHealth, PROTOCOL_VERSION, RequestCounter,
    UpstreamCounter, UsageReport,
};
use shoal_common::signing::{self, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_WORKER};
use shoal_common::{CallerTokenId, IdentityId, Secret, WorkerId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Longest a bundle request may take (the control plane answers a long poll within ~25 s).
const BUNDLE_TIMEOUT: Duration = Duration::from_secs(40);

/// A signed client for the internal API.
pub struct ControlPlane {
    base: String,
    worker: WorkerId,
    secret: Secret,
    client: reqwest::Client,
}

fn cp_error(e: impl std::fmt::Display) -> Error {
    Error::ControlPlane(e.to_string())
}

impl ControlPlane {
    pub fn new(base: &str, worker: WorkerId, secret: Secret) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(BUNDLE_TIMEOUT)
            .user_agent(concat!("shoal-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(cp_error)?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            worker,
            secret,
            client,
        })
    }

    fn signed(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let s = signing::sign(&self.secret, method.as_str(), path_and_query, &body, now).map_err(cp_error)?;
        Ok(self
            .client
            .request(method, format!("{}{path_and_query}", self.base))
            .header(HEADER_WORKER, self.worker.to_string())
            .header(HEADER_TIMESTAMP, s.timestamp.to_string())
            .header(HEADER_NONCE, s.nonce)
            .header(HEADER_SIGNATURE, s.signature)
            .body(body))
    }

    /// The bundle now, or (with `after`) once its version exceeds `after`; `None` when nothing
    /// changed within the control plane's long-poll window.
    pub async fn bundle(&self, after: Option<u64>) -> Result<Option<Bundle>, Error> {
        let path = match after {
            Some(v) => format!("/internal/v1/bundle?after={v}"),
            None => "/internal/v1/bundle".to_string(),
        };
        let resp = self
            .signed(reqwest::Method::GET, &path, Vec::new())?
            .send()
            .await
            .map_err(|e| cp_error(e.without_url()))?;
        match resp.status().as_u16() {
            304 => Ok(None),
            200 => {
                let b: Bundle = resp
                    .json()
                    .await
                    .map_err(|_| cp_error("the bundle is not valid JSON"))?;
                shoal_common::protocol::check_version(b.protocol_version).map_err(Error::ControlPlane)?;
                Ok(Some(b))
            }
            s => Err(cp_error(format!("bundle request answered {s}"))),
        }
    }

    /// The tenant's webhook events after `after`, waiting up to the long-poll window for one;
    /// without a cursor, an empty page at the feed's current end.
    pub async fn events(&self, after: Option<u64>) -> Result<EventPage, Error> {
        let path = match after {
            Some(c) => format!("/internal/v1/events?after={c}"),
            None => "/internal/v1/events".to_string(),
        };
        let resp = self
            .signed(reqwest::Method::GET, &path, Vec::new())?
            .send()
            .await
            .map_err(|e| cp_error(e.without_url()))?;
        if !resp.status().is_success() {
            return Err(cp_error(format!("events request answered {}", resp.status().as_u16())));
        }
        let page: EventPage = resp
            .json()
            .await
            .map_err(|_| cp_error("the event page is not valid JSON"))?;
        shoal_common::protocol::check_version(page.protocol_version).map_err(Error::ControlPlane)?;
        Ok(page)
    }

    /// Sends one usage report (idempotent by its id, so a retry after a lost answer is safe).
    pub async fn report(&self, report: &UsageReport) -> Result<(), Error> {
        let body = serde_json::to_vec(report).map_err(cp_error)?;
        let resp = self
            .signed(reqwest::Method::POST, "/internal/v1/usage", body)?
            .header("content-type", "application/json")
            .send()
            .await
            .map_err(|e| cp_error(e.without_url()))?;
        if !resp.status().is_success() {
            return Err(cp_error(format!("usage report answered {}", resp.status().as_u16())));
        }
        Ok(())
    }
}

/// Keeps the worker on the newest bundle: long-polls and swaps it in, retrying with backoff.
pub async fn follow_bundles(worker: Arc<Worker>, cp: Arc<ControlPlane>, mut version: u64) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match cp.bundle(Some(version)).await {
            Ok(Some(b)) => match worker.swap_bundle(&b) {
                Ok(()) => {
                    tracing::info!(bundle.version = b.version, "bundle updated");
                    version = b.version;
                    backoff = Duration::from_millis(250);
                }
                Err(e) => {
                    tracing::error!(error = %e, "refused a bundle");
                    tokio::time::sleep(backoff).await;
                }
            },
            Ok(None) => backoff = Duration::from_millis(250),
            Err(e) => {
                tracing::warn!(error = %e, "bundle poll failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Where the change feed's cursor is kept in the worker's data dir.
pub fn events_cursor_file(data_dir: &Path) -> PathBuf {
    data_dir.join("events.cursor")
}

fn read_cursor(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Written beside and renamed over, so a crash leaves the old cursor or the new one.
fn write_cursor(file: &Path, cursor: u64) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, cursor.to_string())?;
    std::fs::rename(tmp, file)
}

/// Follows the tenant's webhook change feed, handing each event to [`Worker::on_webhook_event`]
/// (`ping`s skipped). The cursor is kept in `cursor_file` after each page, so a restarted worker
/// resumes where it stopped; with no file (or no data dir) it starts at the feed's current end.
pub async fn follow_events(worker: Arc<Worker>, cp: Arc<ControlPlane>, cursor_file: Option<PathBuf>) {
    let mut cursor = cursor_file.as_deref().and_then(read_cursor);
    let mut backoff = Duration::from_millis(250);
    loop {
        match cp.events(cursor).await {
            Ok(page) => {
                for e in &page.events {
                    worker.on_webhook_event(e).await;
                }
                if cursor != Some(page.next) {
                    cursor = Some(page.next);
                    if let Some(file) = &cursor_file
                        && let Err(e) = write_cursor(file, page.next)
                    {
                        tracing::warn!(error = %e, "cannot keep the change feed's cursor");
                    }
                }
                backoff = Duration::from_millis(250);
            }
            Err(e) => {
                tracing::warn!(error = %e, "change feed poll failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Turns the worker's cumulative counters into reports of what happened since the last one.
pub struct UsageTracker {
    served: BTreeMap<(CallerTokenId, &'static str, CacheStatus), u64>,
    spend: BTreeMap<(IdentityId, Resource), Spend>,
    errors: u64,
    since: OffsetDateTime,
}

impl Default for UsageTracker {
    fn default() -> Self {
        Self {
            served: BTreeMap::new(),
            spend: BTreeMap::new(),
            errors: 0,
            since: OffsetDateTime::now_utc(),
        }
    }
}

impl UsageTracker {
    /// The report of everything since the last call; `None` when nothing happened.
    pub fn next_report(&mut self, worker: &Worker) -> Option<UsageReport> {
        let now = OffsetDateTime::now_utc();
        let served = worker.stats.served_by_caller();
        let spend = worker.stats.spend();
        let requests: Vec<RequestCounter> = served
            .iter()
            .filter_map(|(key @ (caller, route, status), n)| {
                let d = n - self.served.get(key).copied().unwrap_or(0);
                (d > 0).then(|| RequestCounter {
                    caller_token: Some(*caller),
                    route_class: route.to_string(),
                    cache_status: *status,
                    count: d,
                })
            })
            .collect();
        let upstream: Vec<UpstreamCounter> = spend
            .iter()
            .filter_map(|((id, res), s)| {
                let prev = self.spend.get(&(*id, *res)).copied().unwrap_or_default();
                let calls = s.calls - prev.calls;
                (calls > 0).then(|| UpstreamCounter {
                    identity: *id,
                    resource: res.as_str().to_string(),
                    calls,
                    units: s.units - prev.units,
                    not_modified: s.not_modified - prev.not_modified,
                })
            })
            .collect();
        let errors = worker.stats.errors();
        if requests.is_empty() && upstream.is_empty() && errors == self.errors {
            return None;
        }
        let tenant = worker.tenant();
        let identity_health = worker
            .coordinator()
            .identities()
            .into_iter()
            .filter_map(|v| {
                let state = match v.health {
                    coordinator::HealthState::Healthy => HealthState::Healthy,
                    coordinator::HealthState::CoolingDown { until } => HealthState::CoolingDown {
                        until: until.to_datetime(),
                    },
                    coordinator::HealthState::Quarantined { reason } => HealthState::Quarantined { reason },
                    coordinator::HealthState::Disabled => return None,
                };
                let budgets = v
                    .budget
                    .iter()
                    .filter(|(_, b)| b.limit > 0)
                    .map(|(resource, b)| Budget {
                        resource: resource.to_string(),
                        limit: b.limit,
                        remaining: b.remaining,
                        reset: b.reset.map(UnixMs::to_datetime),
                    })
                    .collect();
                Some(IdentityHealth {
                    identity: v.id,
                    state,
                    budgets,
                })
            })
            .collect();
        let report = UsageReport {
            protocol_version: PROTOCOL_VERSION,
            report_id: uuid::Uuid::new_v4(),
            tenant: tenant.id,
            bundle_version: tenant.bundle_version,
            period_start: self.since,
            period_end: now,
            requests,
            upstream,
            identity_health,
            policy_module: worker.stats.policy_module.take(),
            last_served: worker.stats.last_served(),
            top_repositories: worker.stats.take_top_repositories(),
            worker_version: env!("CARGO_PKG_VERSION").to_string(),
            errors: errors - self.errors,
        };
        self.served = served;
        self.spend = spend;
        self.errors = errors;
        self.since = now;
        Some(report)
    }
}

/// Reports usage every `every` until `stop` turns true, then sends what is left (the counts since
/// the last report, and a report that failed) before returning. A report that fails is retried
/// as is (same id) before newer counts are sent.
pub async fn report_usage(
    worker: Arc<Worker>,
    cp: Arc<ControlPlane>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tracker = UsageTracker::default();
    let mut pending: Option<UsageReport> = None;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        // When stopping, a pending report goes first and then the newest counts.
        for _ in 0..if stopping { 2 } else { 1 } {
            if pending.is_none() {
                pending = tracker.next_report(&worker);
            }
            let Some(r) = &pending else { break };
            match cp.report(r).await {
                Ok(()) => pending = None,
                Err(e) => {
                    tracing::warn!(error = %e, "usage report failed; will retry");
                    break;
                }
            }
        }
        if stopping {
            if pending.is_some() {
                tracing::warn!("stopping with usage the control plane has not received");
            }
            return;
        }
    }
}
