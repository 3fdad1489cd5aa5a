//! Counters of everything the fake served, so tests can assert exact upstream spend.

use std::collections::BTreeMap;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// One set of counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests received (every status, including 304s, 401s and rate-limit refusals).
    pub calls: u64,
    /// Rate-limit units charged (REST: 1 per charged call; GraphQL: points).
    pub charged: u64,
    /// 304 Not Modified answers.
    pub not_modified: u64,
    /// Refused by the primary limit (403 / RATE_LIMITED).
    pub rate_limited: u64,
    /// Refused by a secondary limit (403/429 with retry-after).
    pub secondary_limited: u64,
    /// 401 answers (unknown or revoked token).
    pub unauthorized: u64,
    /// Calls answered by an injected fault (5xx or connection reset).
    pub faults: u64,
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.calls += o.calls;
        self.charged += o.charged;
        self.not_modified += o.not_modified;
        self.rate_limited += o.rate_limited;
        self.secondary_limited += o.secondary_limited;
        self.unauthorized += o.unauthorized;
        self.faults += o.faults;
    }
}

/// Counters of one token (or `anonymous`). Its totals read as fields (`t.calls`) through `Deref`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenStats {
    /// Account login the token belongs to (empty for unknown tokens and anonymous calls).
    pub login: String,
    /// Everything the token did.
    #[serde(flatten)]
    pub totals: Counters,
    /// The same split by rate-limit resource (`core`, `search`, `graphql`, ...).
    pub by_resource: BTreeMap<String, Counters>,
}

/// Everything counted since start or the last reset. `GET /_fake/stats` answers this as JSON,
/// the totals at the top level. The totals read as fields (`stats.calls`) through `Deref`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests received by the API (control endpoints `/_fake/...` are not counted), and what
    /// became of them.
    #[serde(flatten)]
    pub totals: Counters,
    /// Per token (the token string; `anonymous` for unauthenticated calls).
    pub by_token: BTreeMap<String, TokenStats>,
    /// Per rate-limit resource.
    pub by_resource: BTreeMap<String, Counters>,
    /// Per route template, e.g. `GET /repos/{owner}/{repo}/pulls/{number}`.
    pub by_route: BTreeMap<String, Counters>,
    /// Per concrete path (no query string, no `/api/v3` prefix).
    pub by_path: BTreeMap<String, Counters>,
}

impl Deref for TokenStats {
    type Target = Counters;
    fn deref(&self) -> &Counters {
        &self.totals
    }
}

impl Deref for Stats {
    type Target = Counters;
    fn deref(&self) -> &Counters {
        &self.totals
    }
}

impl Stats {
    /// The counters of one token (zeros when it made no call).
    pub fn token(&self, token: &str) -> TokenStats {
        self.by_token.get(token).cloned().unwrap_or_default()
    }

    /// The counters of one route template (zeros when unused).
    pub fn route(&self, route: &str) -> Counters {
        self.by_route.get(route).copied().unwrap_or_default()
    }

    /// The counters of one concrete path (zeros when unused).
    pub fn path(&self, path: &str) -> Counters {
        self.by_path.get(path).copied().unwrap_or_default()
    }

    /// Adds one observed exchange.
    pub(crate) fn record(&mut self, e: &Exchange<'_>) {
        let c = &e.counters;
        self.totals.add(c);
        let t = self.by_token.entry(e.token_key.to_string()).or_default();
        if t.login.is_empty() {
            t.login = e.login.to_string();
        }
        t.totals.add(c);
        t.by_resource.entry(e.resource.to_string()).or_default().add(c);
        self.by_resource.entry(e.resource.to_string()).or_default().add(c);
        self.by_route.entry(e.route.to_string()).or_default().add(c);
        self.by_path.entry(e.path.to_string()).or_default().add(c);
    }
}

/// What one request did, for [`Stats::record`].
pub(crate) struct Exchange<'a> {
    pub token_key: &'a str,
    pub login: &'a str,
    pub resource: &'a str,
    pub route: &'a str,
    pub path: &'a str,
    pub counters: Counters,
}
