//! Counters behind `/_shoal/stats` (JSON) and `/metrics` (Prometheus text, encoded by
//! prometheus-client from the counters at scrape time): how requests were
//! answered, which revalidation path each took, and upstream spend per identity and resource.
//! Labels are identity names and resource names, never credentials.

use crate::coordinator::PacingView;
use crate::policy::wasm::report::ModuleReport;
use crate::route::Resource;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use shoal_common::protocol::{CacheStatus, OTHER_REPOSITORIES, RepositoryCounter, TOP_REPOSITORIES};
use shoal_common::{CallerTokenId, IdentityId};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// The media type of [`Stats::prometheus`]: Prometheus' text format, version 0.0.4.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE as METRICS_CONTENT_TYPE;

/// How a stale entry was revalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevalidationPath {
    /// `If-None-Match` with the ETag GitHub issued to the identity used.
    OwnEtag,
    /// `If-Modified-Since` with the entry's `Last-Modified` (works across identities).
    IfModifiedSince,
    /// `If-None-Match` with the ETag computed for the identity used.
    ComputedEtag,
    /// No validator usable: a plain GET.
    Refetch,
}

impl RevalidationPath {
    const ALL: [RevalidationPath; 4] = [
        RevalidationPath::OwnEtag,
        RevalidationPath::IfModifiedSince,
        RevalidationPath::ComputedEtag,
        RevalidationPath::Refetch,
    ];

    /// Stats key.
    pub fn as_str(self) -> &'static str {
        match self {
            RevalidationPath::OwnEtag => "etag",
            RevalidationPath::IfModifiedSince => "if_modified_since",
            RevalidationPath::ComputedEtag => "computed_etag",
            RevalidationPath::Refetch => "refetch",
        }
    }
}

/// Upstream spend of one identity on one resource.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Spend {
    pub calls: u64,
    /// Units charged (a 304 or a 401 costs none).
    pub units: u64,
    pub not_modified: u64,
    /// Rate-limit (403/429) and 401 answers.
    pub refused: u64,
    /// Network failures and 5xx.
    pub errors: u64,
}

/// All counters.
#[derive(Default)]
pub struct Stats {
    /// Answers per caller token and route class (what usage reports carry), by cache status.
    by_caller: RwLock<HashMap<(CallerTokenId, &'static str), [AtomicU64; 5], foldhash::fast::RandomState>>,
    coalesced: AtomicU64,
    /// Requests whose client asked for fresh (`Cache-Control: no-cache` or `max-age=0`).
    fresh: AtomicU64,
    errors: AtomicU64,
    /// Per path: attempts, and how many GitHub answered 304.
    revalidations: [AtomicU64; 4],
    revalidated_304: [AtomicU64; 4],
    upstream: Mutex<BTreeMap<(IdentityId, Resource), Spend>>,
    /// Webhook events received from the change feed, per repository (`""` when none).
    webhook_events: Mutex<BTreeMap<String, u64>>,
    /// What the tenant's policy module decided, how it failed, what it logged.
    pub policy_module: ModuleReport,
    /// Unix milliseconds of the last answer relayed to a caller (0: none yet): the control plane
    /// lets an idle worker sleep from its usage reports.
    last_served_ms: AtomicU64,
    /// Reads per repository since the last usage report: at most [`MAX_TRACKED_REPOSITORIES`]
    /// names, later ones counted under [`OTHER_REPOSITORIES`].
    repositories: Mutex<HashMap<String, u64, foldhash::fast::RandomState>>,
}

/// How many repository names the worker counts between two usage reports.
pub const MAX_TRACKED_REPOSITORIES: usize = 10_000;

fn status_index(s: CacheStatus) -> usize {
    match s {
        CacheStatus::Hit => 0,
        CacheStatus::Miss => 1,
        CacheStatus::Revalidated => 2,
        CacheStatus::Stale => 3,
        CacheStatus::Bypass => 4,
    }
}

const STATUSES: [CacheStatus; 5] = [
    CacheStatus::Hit,
    CacheStatus::Miss,
    CacheStatus::Revalidated,
    CacheStatus::Stale,
    CacheStatus::Bypass,
];

impl Stats {
    /// Counts an answer relayed to `caller` on a route of class `route` (`pulls`, `graphql`, ...).
    pub fn served(&self, caller: CallerTokenId, route: &'static str, s: CacheStatus) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_served_ms.fetch_max(now_ms, Ordering::Relaxed);
        let i = status_index(s);
        let key = (caller, route);
        if let Some(c) = self.by_caller.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            c[i].fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.by_caller
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()[i]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// When the last answer was relayed to a caller; `None` before the first.
    pub fn last_served(&self) -> Option<time::OffsetDateTime> {
        match self.last_served_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok(),
        }
    }

    /// Requests answered so far, per caller token, route class and cache status (nonzero only).
    pub fn served_by_caller(&self) -> BTreeMap<(CallerTokenId, &'static str, CacheStatus), u64> {
        let map = self.by_caller.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .flat_map(|((id, route), c)| {
                STATUSES.map(|s| ((*id, *route, s), c[status_index(s)].load(Ordering::Relaxed)))
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Requests answered so far, per cache status (in [`STATUSES`] order).
    fn served_counts(&self) -> [u64; 5] {
        let mut total = [0; 5];
        for c in self.by_caller.read().unwrap_or_else(|p| p.into_inner()).values() {
            for (t, n) in total.iter_mut().zip(c) {
                *t += n.load(Ordering::Relaxed);
            }
        }
        total
    }

    /// Counts a read of `repository` (`owner/name`), for the usage report's top repositories.
    pub fn repository_read(&self, repository: Option<&str>) {
        let Some(repo) = repository else { return };
        // Routes carry names lower-cased already: no copy then.
        let lowered;
        let repo = if repo.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = repo.to_ascii_lowercase();
            lowered.as_str()
        } else {
            repo
        };
        let mut m = self.repositories.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(repo) {
            *n += 1;
        } else if m.len() < MAX_TRACKED_REPOSITORIES {
            m.insert(repo.to_string(), 1);
        } else {
            *m.entry(OTHER_REPOSITORIES.to_string()).or_default() += 1;
        }
    }

    /// The repositories read since the last call, busiest first: the top [`TOP_REPOSITORIES`] by
    /// name and the rest summed under [`OTHER_REPOSITORIES`]; the counters start again at zero.
    pub fn take_top_repositories(&self) -> Vec<RepositoryCounter> {
        let m = std::mem::take(&mut *self.repositories.lock().unwrap_or_else(|p| p.into_inner()));
        let mut other = m.get(OTHER_REPOSITORIES).copied().unwrap_or(0);
        let mut named: Vec<(String, u64)> = m.into_iter().filter(|(r, _)| r != OTHER_REPOSITORIES).collect();
        named.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        other += named.iter().skip(TOP_REPOSITORIES).map(|(_, n)| n).sum::<u64>();
        named.truncate(TOP_REPOSITORIES);
        let mut out: Vec<RepositoryCounter> = named
            .into_iter()
            .map(|(repository, requests)| RepositoryCounter { repository, requests })
            .collect();
        if other > 0 {
            out.push(RepositoryCounter {
                repository: OTHER_REPOSITORIES.into(),
                requests: other,
            });
        }
        out
    }

    /// Counts a caller that joined another's upstream call.
    pub fn coalesced(&self) {
        self.coalesced.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request whose client asked for a fresh answer.
    pub fn fresh(&self) {
        self.fresh.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request answered with an error.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests answered with an error so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Counts a revalidation attempt and whether GitHub said 304.
    pub fn revalidation(&self, path: RevalidationPath, not_modified: bool) {
        let i = RevalidationPath::ALL.iter().position(|p| *p == path).unwrap_or(3);
        self.revalidations[i].fetch_add(1, Ordering::Relaxed);
        if not_modified {
            self.revalidated_304[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one upstream answer (`status` 0: no answer).
    pub fn upstream(&self, identity: IdentityId, resource: Resource, status: u16, rate_limited: bool) {
        let mut m = self.upstream.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry((identity, resource)).or_default();
        s.calls += 1;
        match status {
            304 => s.not_modified += 1,
            0 | 500..=599 => s.errors += 1,
            401 => s.refused += 1,
            403 | 429 if rate_limited => s.refused += 1,
            _ => s.units += 1,
        }
    }

    /// Counts one answered upstream call that GitHub charged `units` (GraphQL points).
    pub fn upstream_units(&self, identity: IdentityId, resource: Resource, units: u64) {
        let mut m = self.upstream.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry((identity, resource)).or_default();
        s.calls += 1;
        s.units += units;
    }

    /// Spend per identity and resource.
    /// Counts a webhook event about `repository`.
    pub fn webhook_event(&self, repository: Option<&str>) {
        let mut m = self.webhook_events.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(repository.unwrap_or_default().to_string()).or_default() += 1;
    }

    /// Webhook events received per repository.
    pub fn webhook_events(&self) -> BTreeMap<String, u64> {
        self.webhook_events.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn spend(&self) -> BTreeMap<(IdentityId, Resource), Spend> {
        self.upstream.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The request counters as JSON.
    pub fn requests_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (s, n) in STATUSES.iter().zip(self.served_counts()) {
            m.insert(s.as_str().to_ascii_lowercase(), n.into());
        }
        m.insert("coalesced".into(), self.coalesced.load(Ordering::Relaxed).into());
        m.insert("fresh".into(), self.fresh.load(Ordering::Relaxed).into());
        m.insert("errors".into(), self.errors.load(Ordering::Relaxed).into());
        serde_json::Value::Object(m)
    }

    /// The revalidation counters as JSON.
    pub fn revalidations_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (i, p) in RevalidationPath::ALL.iter().enumerate() {
            m.insert(
                p.as_str().into(),
                serde_json::json!({
                    "attempts": self.revalidations[i].load(Ordering::Relaxed),
                    "not_modified": self.revalidated_304[i].load(Ordering::Relaxed),
                }),
            );
        }
        serde_json::Value::Object(m)
    }

    /// The `/metrics` text ([`METRICS_CONTENT_TYPE`]): these counters, read once at scrape time,
    /// and `gauges`. `names` maps identity ids to their (non-secret) names.
    pub fn prometheus(&self, names: &dyn Fn(IdentityId) -> String, gauges: Gauges) -> String {
        let scrape = Scrape {
            requests: self.served_counts(),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            fresh: self.fresh.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            revalidations: self.revalidations.each_ref().map(|n| n.load(Ordering::Relaxed)),
            spend: self
                .spend()
                .into_iter()
                .map(|((id, res), s)| (names(id), res, s))
                .collect(),
            gauges,
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut out = String::new();
        // Writing to a String cannot fail, and every value fits the format.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// What `/metrics` shows from outside these counters, read at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// The pool's remaining budget per resource, in [`Resource::ALL`] order.
    pub pool_remaining: [u64; 4],
    pub pacing: PacingView,
    pub cache_entries: u64,
    pub cache_bytes: u64,
}

/// One scrape of `/metrics`: the counters read once, for prometheus-client to encode.
#[derive(Debug)]
struct Scrape {
    requests: [u64; 5],
    coalesced: u64,
    fresh: u64,
    errors: u64,
    revalidations: [u64; 4],
    /// Per identity name and resource.
    spend: Vec<(String, Resource, Spend)>,
    gauges: Gauges,
}

/// Writes one metric family: `samples` as (labels, value), `kind` a counter or a gauge.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result {
    let mut f = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, m) in samples {
        m.encode(f.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one family with a single unlabelled sample.
fn single(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, m: impl EncodeMetric) -> fmt::Result {
    m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let counter = ConstCounter::new;
        family(
            &mut enc,
            "shoal_requests",
            "Relayed requests by X-Shoal-Cache status.",
            MetricType::Counter,
            STATUSES
                .iter()
                .zip(self.requests)
                .map(|(s, n)| ([("cache", s.as_str())], counter(n))),
        )?;
        single(
            &mut enc,
            "shoal_coalesced",
            "Requests that joined another request's upstream call.",
            counter(self.coalesced),
        )?;
        single(
            &mut enc,
            "shoal_fresh_requests",
            "Requests whose client asked for a fresh answer (Cache-Control: no-cache or max-age=0).",
            counter(self.fresh),
        )?;
        single(
            &mut enc,
            "shoal_request_errors",
            "Requests answered with an error.",
            counter(self.errors),
        )?;
        family(
            &mut enc,
            "shoal_revalidations",
            "Revalidations of stale entries by validator used.",
            MetricType::Counter,
            RevalidationPath::ALL
                .iter()
                .zip(self.revalidations)
                .map(|(p, n)| ([("path", p.as_str())], counter(n))),
        )?;
        let spend = |f: fn(&Spend) -> u64| {
            self.spend
                .iter()
                .map(move |(name, res, s)| ([("identity", name.as_str()), ("resource", res.as_str())], counter(f(s))))
        };
        family(
            &mut enc,
            "shoal_upstream_calls",
            "Upstream calls per pooled identity and rate-limit resource.",
            MetricType::Counter,
            spend(|s| s.calls),
        )?;
        family(
            &mut enc,
            "shoal_upstream_units",
            "Rate-limit units GitHub charged per pooled identity and resource.",
            MetricType::Counter,
            spend(|s| s.units),
        )?;
        family(
            &mut enc,
            "shoal_upstream_not_modified",
            "Upstream answers 304 Not Modified (free) per pooled identity and resource.",
            MetricType::Counter,
            spend(|s| s.not_modified),
        )?;
        let g = &self.gauges;
        family(
            &mut enc,
            "shoal_pool_remaining",
            "The pool's remaining rate-limit budget per resource.",
            MetricType::Gauge,
            Resource::ALL
                .iter()
                .zip(g.pool_remaining)
                .map(|(r, n)| ([("resource", r.as_str())], ConstGauge::new(n))),
        )?;
        single(
            &mut enc,
            "shoal_budget_waiting",
            "Requests waiting for budget now.",
            ConstGauge::new(g.pacing.waiting),
        )?;
        single(
            &mut enc,
            "shoal_budget_waited",
            "Requests that waited for budget and then got an identity.",
            counter(g.pacing.waited),
        )?;
        single(
            &mut enc,
            "shoal_budget_queue_full",
            "Requests refused because the wait queue for budget was full.",
            counter(g.pacing.queue_full),
        )?;
        single(
            &mut enc,
            "shoal_cache_entries",
            "Entries in the cache.",
            ConstGauge::new(g.cache_entries),
        )?;
        single(
            &mut enc,
            "shoal_cache_bytes",
            "Bytes held by the cache.",
            ConstGauge::new(g.cache_bytes),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_repositories_are_bounded_and_the_rest_is_summed() {
        let s = Stats::default();
        for _ in 0..5 {
            s.repository_read(Some("Octo-Org/Hot"));
        }
        for i in 0..(MAX_TRACKED_REPOSITORIES + 50) {
            s.repository_read(Some(&format!("octo-org/r{i}")));
        }
        s.repository_read(None);
        let top = s.take_top_repositories();
        assert_eq!(top.len(), TOP_REPOSITORIES + 1);
        assert_eq!((top[0].repository.as_str(), top[0].requests), ("octo-org/hot", 5));
        let last = top.last().unwrap();
        assert_eq!(last.repository, OTHER_REPOSITORIES);
        assert_eq!(
            top.iter().map(|r| r.requests).sum::<u64>(),
            (MAX_TRACKED_REPOSITORIES + 55) as u64
        );
        assert!(s.take_top_repositories().is_empty());
    }

    #[test]
    fn spend_counts_units_and_free_answers() {
        let s = Stats::default();
        let id = IdentityId::new();
        s.upstream(id, Resource::Core, 200, false);
        s.upstream(id, Resource::Core, 304, false);
        s.upstream(id, Resource::Core, 401, false);
        s.upstream(id, Resource::Core, 403, true);
        s.upstream(id, Resource::Core, 502, false);
        let sp = s.spend()[&(id, Resource::Core)];
        assert_eq!(
            sp,
            Spend {
                calls: 5,
                units: 1,
                not_modified: 1,
                refused: 2,
                errors: 1
            }
        );
        let text = s.prometheus(&|_| "bot\"x".into(), gauges());
        assert!(text.contains("shoal_upstream_units_total{identity=\"bot\\\"x\",resource=\"core\"} 1"));
    }

    fn gauges() -> Gauges {
        Gauges {
            pool_remaining: [4990, 30, 10, 5000],
            pacing: PacingView {
                waiting: 1,
                waited: 2,
                queue_full: 3,
            },
            cache_entries: 4,
            cache_bytes: 512,
        }
    }

    #[test]
    fn metrics_keep_their_names_labels_and_values() {
        let s = Stats::default();
        let caller = CallerTokenId::new();
        s.served(caller, "repos", CacheStatus::Hit);
        s.served(caller, "pulls", CacheStatus::Hit);
        s.served(caller, "pulls", CacheStatus::Miss);
        s.coalesced();
        s.fresh();
        s.error();
        s.revalidation(RevalidationPath::IfModifiedSince, true);
        s.upstream(IdentityId::new(), Resource::Core, 304, false);
        let text = s.prometheus(&|_| "bot".into(), gauges());
        for line in [
            "shoal_requests_total{cache=\"HIT\"} 2",
            "shoal_requests_total{cache=\"MISS\"} 1",
            "shoal_requests_total{cache=\"BYPASS\"} 0",
            "shoal_coalesced_total 1",
            "shoal_fresh_requests_total 1",
            "shoal_request_errors_total 1",
            "shoal_revalidations_total{path=\"if_modified_since\"} 1",
            "shoal_revalidations_total{path=\"etag\"} 0",
            "shoal_upstream_calls_total{identity=\"bot\",resource=\"core\"} 1",
            "shoal_upstream_units_total{identity=\"bot\",resource=\"core\"} 0",
            "shoal_upstream_not_modified_total{identity=\"bot\",resource=\"core\"} 1",
            "shoal_pool_remaining{resource=\"core\"} 4990",
            "shoal_pool_remaining{resource=\"code_search\"} 10",
            "shoal_budget_waiting 1",
            "shoal_budget_waited_total 2",
            "shoal_budget_queue_full_total 3",
            "shoal_cache_entries 4",
            "shoal_cache_bytes 512",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
        }
        assert!(text.contains("# TYPE shoal_requests_total counter\n"), "{text}");
        assert!(text.contains("# TYPE shoal_pool_remaining gauge\n"), "{text}");
    }
}
