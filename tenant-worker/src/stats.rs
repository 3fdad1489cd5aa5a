//! Counters behind `/_shoal/stats` (JSON) and `/metrics` (Prometheus text): how requests were
//! answered, which revalidation path each took, and upstream spend per identity and resource.
//! Labels are identity names and resource names, never credentials.

use crate::route::Resource;
use serde::Serialize;
use shoal_common::protocol::CacheStatus;
use shoal_common::{CallerTokenId, IdentityId};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

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
    by_caller: RwLock<HashMap<(CallerTokenId, &'static str), [AtomicU64; 5]>>,
    coalesced: AtomicU64,
    errors: AtomicU64,
    /// Per path: attempts, and how many GitHub answered 304.
    revalidations: [AtomicU64; 4],
    revalidated_304: [AtomicU64; 4],
    upstream: Mutex<BTreeMap<(IdentityId, Resource), Spend>>,
}

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

    /// Counts a caller that joined another's upstream call.
    pub fn coalesced(&self) {
        self.coalesced.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request answered with an error.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
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

    /// Prometheus text exposition. `names` maps identity ids to their (non-secret) names.
    pub fn prometheus(&self, names: &dyn Fn(IdentityId) -> String) -> String {
        let mut out = String::new();
        out.push_str("# HELP shoal_requests_total Relayed requests by X-Shoal-Cache status.\n");
        out.push_str("# TYPE shoal_requests_total counter\n");
        for (s, n) in STATUSES.iter().zip(self.served_counts()) {
            let _ = writeln!(out, "shoal_requests_total{{cache=\"{}\"}} {n}", s.as_str());
        }
        out.push_str("# TYPE shoal_coalesced_total counter\n");
        let _ = writeln!(out, "shoal_coalesced_total {}", self.coalesced.load(Ordering::Relaxed));
        out.push_str("# TYPE shoal_request_errors_total counter\n");
        let _ = writeln!(
            out,
            "shoal_request_errors_total {}",
            self.errors.load(Ordering::Relaxed)
        );
        out.push_str("# TYPE shoal_revalidations_total counter\n");
        for (i, p) in RevalidationPath::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "shoal_revalidations_total{{path=\"{}\"}} {}",
                p.as_str(),
                self.revalidations[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# TYPE shoal_upstream_calls_total counter\n");
        out.push_str("# TYPE shoal_upstream_units_total counter\n");
        out.push_str("# TYPE shoal_upstream_not_modified_total counter\n");
        for ((id, res), s) in self.spend() {
            let name = escape_label(&names(id));
            for (metric, v) in [
                ("shoal_upstream_calls_total", s.calls),
                ("shoal_upstream_units_total", s.units),
                ("shoal_upstream_not_modified_total", s.not_modified),
            ] {
                let _ = writeln!(out, "{metric}{{identity=\"{name}\",resource=\"{res}\"}} {v}");
            }
        }
        out
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let text = s.prometheus(&|_| "bot\"x".into());
        assert!(text.contains("shoal_upstream_units_total{identity=\"bot\\\"x\",resource=\"core\"} 1"));
    }
}
