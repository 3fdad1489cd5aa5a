//! What a request spends and how long its answer keeps: the rate-limit [`Resource`] and the
//! [`Freshness`] class. The types every layer shares (cache, coordinator, stats, config, relay);
//! this module depends on nothing else in the crate.

use std::fmt;

/// GitHub's rate-limit buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Core,
    Search,
    CodeSearch,
    Graphql,
}

impl Resource {
    /// Every resource, in a stable order.
    pub const ALL: [Resource; 4] = [
        Resource::Core,
        Resource::Search,
        Resource::CodeSearch,
        Resource::Graphql,
    ];

    /// GitHub's name for it (`x-ratelimit-resource`).
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Core => "core",
            Resource::Search => "search",
            Resource::CodeSearch => "code_search",
            Resource::Graphql => "graphql",
        }
    }

    /// From GitHub's name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Index into per-resource arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The documented hourly (per-minute for search) limit, used until GitHub tells us.
    pub fn default_limit(self) -> u64 {
        match self {
            Resource::Core | Resource::Graphql => 5000,
            Resource::Search => 30,
            Resource::CodeSearch => 10,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How fast a route's content changes; each class has a TTL a tenant may override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Freshness {
    /// Addressed by a full commit SHA: never changes.
    Immutable,
    /// Repo metadata, releases, contents on a branch.
    Slow,
    /// Collections that change now and then (releases, branches, labels).
    List,
    /// PR, issue, check and workflow state.
    Fast,
    Search,
    /// `/meta`, `/emojis`, licenses: near static.
    Meta,
    /// A cached 404, to absorb polling for something missing.
    NotFound,
}

impl Freshness {
    /// Names accepted as TTL override keys.
    pub const NAMES: [&'static str; 7] = ["immutable", "slow", "list", "fast", "search", "meta", "not_found"];

    /// The override key of this class.
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Immutable => "immutable",
            Freshness::Slow => "slow",
            Freshness::List => "list",
            Freshness::Fast => "fast",
            Freshness::Search => "search",
            Freshness::Meta => "meta",
            Freshness::NotFound => "not_found",
        }
    }

    /// Default TTL in seconds.
    pub fn default_ttl_secs(self) -> u64 {
        match self {
            Freshness::Immutable => 86_400,
            Freshness::Slow => 120,
            Freshness::List => 60,
            Freshness::Fast => 20,
            Freshness::Search => 60,
            Freshness::Meta => 3_600,
            Freshness::NotFound => 30,
        }
    }
}
