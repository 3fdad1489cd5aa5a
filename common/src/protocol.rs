//! Wire types of the control plane <-> worker protocol: the bundle a worker pulls (everything it
//! needs to serve one tenant) and the usage report it pushes back. Both carry
//! [`PROTOCOL_VERSION`]; a receiver refuses a major version it does not know.

use crate::{CallerTokenId, IdentityId, Secret, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Bumped when a change is not backwards compatible.
pub const PROTOCOL_VERSION: u32 = 1;

/// Everything a worker needs to serve its tenant. Built by the control plane, or from a config
/// file for a standalone worker; the request path cannot tell the two apart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bundle {
    pub protocol_version: u32,
    /// Monotonic per tenant; a worker long-polls for a newer one.
    pub version: u64,
    pub tenant: TenantRef,
    pub caller_tokens: Vec<CallerTokenEntry>,
    pub identities: Vec<IdentityEntry>,
    pub policy: Policy,
    /// Hex HMAC pepper the caller-token hashes were made with. A secret.
    pub token_pepper: Secret,
    /// Base URL of the GitHub API (`https://api.github.com`, a GHES `/api/v3`, or the fake).
    pub upstream: String,
    /// The tenant's plan (`free`, `team`, `business`); empty for a standalone worker.
    #[serde(default)]
    pub plan: String,
    /// The month's cap on relayed reads, when billing is on and the plan is hard-capped; `None`:
    /// reads are not capped (billing off, or a metered plan).
    #[serde(default)]
    pub allowance: Option<Allowance>,
    /// The tenant's WebAssembly policy module, run after the tenant settings on every read.
    #[serde(default)]
    pub policy_module: Option<PolicyModule>,
}

/// A monthly allowance of relayed reads (cache hits included) and what is spent of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Allowance {
    /// Relayed reads allowed per UTC calendar month.
    pub reads_per_month: u64,
    /// Relayed reads the control plane has counted (from usage reports) in the month starting at
    /// `month_start`, when the bundle was built.
    pub reads_this_month: u64,
    /// The start (UTC) of the month `reads_this_month` counts.
    #[serde(with = "time::serde::rfc3339")]
    pub month_start: OffsetDateTime,
    /// Where the tenant's admins upgrade.
    pub upgrade_url: String,
}

/// A tenant's WebAssembly policy module as the worker receives it: the module's binary (never
/// precompiled code; the worker compiles it), its hash and what to do when it fails.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicyModule {
    /// Hex SHA-256 of the binary module: the worker compiles each hash once.
    pub sha256: String,
    /// Base64 of the binary module (`.wat` uploads are stored compiled to binary).
    pub wasm_base64: String,
    pub on_failure: OnFailure,
}

impl PolicyModule {
    /// The bundle entry of a binary module.
    pub fn from_binary(binary: &[u8], on_failure: OnFailure) -> Self {
        use base64::Engine as _;
        use sha2::Digest as _;
        Self {
            sha256: hex::encode(sha2::Sha256::digest(binary)),
            wasm_base64: base64::engine::general_purpose::STANDARD.encode(binary),
            on_failure,
        }
    }
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("sha256", &self.sha256)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

/// How a request is decided when the tenant's module traps, runs out of fuel or time, exceeds
/// its memory or answers garbage.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Serve as if there were no module.
    #[default]
    Serve,
    /// Answer `fallback_local`: the caller reads with their own gh.
    FallbackLocal,
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Serve => "serve",
            OnFailure::FallbackLocal => "fallback_local",
        }
    }

    /// Parses [`OnFailure::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "serve" => Some(OnFailure::Serve),
            "fallback_local" => Some(OnFailure::FallbackLocal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TenantRef {
    pub id: TenantId,
    pub slug: String,
}

/// A caller token the worker accepts, by hash only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallerTokenEntry {
    pub id: CallerTokenId,
    /// Hex of HMAC-SHA256(pepper, token).
    pub hash: String,
    pub name: String,
    /// GitHub login of the member the token belongs to (answers `viewer { login }`).
    pub user_login: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A pooled identity with its secret, decrypted by the control plane for this worker only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdentityEntry {
    pub id: IdentityId,
    pub name: String,
    pub credential: Credential,
    /// Owner (`octo-org`) or owner/repo (`octo-org/hello-world`) patterns this identity may serve;
    /// empty means any allowed owner.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The GitHub account whose rate-limit buckets this identity spends, when known.
    #[serde(default)]
    pub account: Option<String>,
    pub enabled: bool,
}

/// How an identity authenticates to GitHub.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    Pat {
        token: Secret,
    },
    GithubApp {
        app_id: u64,
        installation_id: u64,
        /// PKCS#8 or PKCS#1 PEM.
        private_key: Secret,
    },
}

/// Tenant settings the worker enforces before its WASM policy runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Policy {
    /// Owners whose repos may be read through pooled identities. Empty refuses every repo route.
    pub allowed_owners: Vec<String>,
    /// Check a repo is public before spending a pooled identity on it.
    pub public_only: bool,
    pub search_allowed: bool,
    /// Fetch public raw contents and diffs without an identity.
    pub token_free_reads: bool,
    /// TTL in seconds per freshness class (`immutable`, `slow`, `fast`, `list`, `graphql`, ...).
    #[serde(default)]
    pub ttl_overrides: BTreeMap<String, u64>,
}

/// What a worker reports, aggregated since its last report. Idempotent by `report_id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UsageReport {
    pub protocol_version: u32,
    pub report_id: Uuid,
    pub tenant: TenantId,
    /// The bundle version the worker was serving.
    pub bundle_version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    pub requests: Vec<RequestCounter>,
    pub upstream: Vec<UpstreamCounter>,
    pub identity_health: Vec<IdentityHealth>,
    /// What the tenant's policy module did in the period.
    #[serde(default)]
    pub policy_module: PolicyModuleReport,
    /// When the worker last answered a request (`None`: not since it started). The control plane
    /// lets a worker sleep once this is older than its idle setting; older workers omit it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_served: Option<OffsetDateTime>,
    /// The repositories read most in the period, busiest first: at most [`TOP_REPOSITORIES`]
    /// names, the rest summed under [`OTHER_REPOSITORIES`], so a tenant reading 100,000 repos
    /// sends a bounded list. Older workers send none.
    #[serde(default)]
    pub top_repositories: Vec<RepositoryCounter>,
    /// The `shoal-worker` version that sent the report; empty from older workers.
    #[serde(default)]
    pub worker_version: String,
    /// Requests answered with an error (refused, fallen back, upstream failed) in the period;
    /// they are not in `requests`. Older workers send none.
    #[serde(default)]
    pub errors: u64,
}

/// How many repositories a usage report names at most.
pub const TOP_REPOSITORIES: usize = 20;
/// The name under which reads of repositories beyond the top ones are summed.
pub const OTHER_REPOSITORIES: &str = "(other)";

/// Reads of one repository (`owner/name`) in a report's period.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepositoryCounter {
    pub repository: String,
    pub requests: u64,
}

/// The policy module's failures and log lines since the last report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct PolicyModuleReport {
    /// Hex SHA-256 of the module these are about.
    pub sha256: Option<String>,
    pub failures: Vec<PolicyFailureCount>,
    /// The module's `log` lines, oldest first, truncated and rate limited.
    pub logs: Vec<PolicyLogLine>,
}

/// How many calls failed one way, with the last failure's detail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicyFailureCount {
    /// `fuel`, `timeout`, `memory`, `trap`, `garbage` or `instantiate`.
    pub kind: String,
    pub count: u64,
    pub last_detail: String,
}

/// One line a policy module logged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicyLogLine {
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Requests served, per caller token, route class and cache status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestCounter {
    pub caller_token: Option<CallerTokenId>,
    /// e.g. `pulls`, `issues`, `checks`, `actions`, `contents`, `search`, `graphql`, `other`.
    pub route_class: String,
    pub cache_status: CacheStatus,
    pub count: u64,
}

/// Upstream spend per identity and rate-limit resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpstreamCounter {
    pub identity: IdentityId,
    /// `core`, `search`, `code_search`, `graphql`.
    pub resource: String,
    pub calls: u64,
    /// Rate-limit units charged (GraphQL points for `graphql`).
    pub units: u64,
    /// 304 answers (not charged).
    pub not_modified: u64,
}

/// How a request was answered, as in the `X-Shoal-Cache` header.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CacheStatus {
    Hit,
    Miss,
    Revalidated,
    Stale,
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Revalidated => "REVALIDATED",
            CacheStatus::Stale => "STALE",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}

/// An identity's state as the worker sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityHealth {
    pub identity: IdentityId,
    #[serde(flatten)]
    pub state: HealthState,
    /// What the identity's account has left, per rate-limit resource GitHub has told about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<Budget>,
}

/// One account bucket as GitHub last described it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Budget {
    /// `core`, `search`, `code_search`, `graphql`.
    pub resource: String,
    pub limit: u64,
    pub remaining: u64,
    /// When the window resets, if known.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub reset: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    /// GitHub answered 401: the credential is revoked or wrong.
    Quarantined {
        reason: String,
    },
    /// Secondary limit or failed token refresh.
    CoolingDown {
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
}

/// Most events in one page of the change feed.
pub const EVENTS_PAGE: usize = 100;

/// One page of a tenant's webhook change feed (`GET /internal/v1/events?after=<cursor>`): the
/// events after the cursor, oldest first. `next` is where the following request starts (the last
/// event's cursor, or the feed's current end when asked without a cursor).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventPage {
    pub protocol_version: u32,
    pub events: Vec<WebhookEvent>,
    pub next: u64,
}

/// A stored webhook delivery, reduced by the control plane to what invalidation needs, so a
/// worker never parses GitHub payloads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct WebhookEvent {
    pub cursor: u64,
    /// `X-GitHub-Event`: `push`, `pull_request`, `ping`, ...
    pub event: String,
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `owner/name`, when the event is about a repository.
    pub repository: Option<String>,
    /// The pull request's or issue's number.
    pub number: Option<u64>,
    pub head_sha: Option<String>,
    /// The git ref (`refs/heads/main` for a push, the branch or tag name for create/delete).
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub check_suite_id: Option<u64>,
    pub check_run_id: Option<u64>,
}

/// Refuses a message from an incompatible protocol version.
pub fn check_version(version: u32) -> Result<(), String> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(format!(
            "protocol version {version} is not supported (this build speaks {PROTOCOL_VERSION})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        Bundle {
            protocol_version: PROTOCOL_VERSION,
            version: 7,
            tenant: TenantRef {
                id: TenantId::new(),
                slug: "acme".into(),
            },
            caller_tokens: vec![CallerTokenEntry {
                id: CallerTokenId::new(),
                hash: "ab".repeat(32),
                name: "laptop".into(),
                user_login: "alice".into(),
                expires_at: None,
            }],
            identities: vec![
                IdentityEntry {
                    id: IdentityId::new(),
                    name: "bot".into(),
                    credential: Credential::Pat {
                        token: Secret::new("ghp_canary"),
                    },
                    scopes: vec!["octo-org".into()],
                    account: Some("octo-bot".into()),
                    enabled: true,
                },
                IdentityEntry {
                    id: IdentityId::new(),
                    name: "app".into(),
                    credential: Credential::GithubApp {
                        app_id: 1,
                        installation_id: 2,
                        private_key: Secret::new("-----BEGIN PRIVATE KEY-----"),
                    },
                    scopes: vec![],
                    account: None,
                    enabled: true,
                },
            ],
            policy: Policy {
                allowed_owners: vec!["octo-org".into()],
                ..Default::default()
            },
            token_pepper: Secret::new("00".repeat(32)),
            upstream: "https://api.github.com".into(),
            plan: "free".into(),
            allowance: Some(Allowance {
                reads_per_month: 50_000,
                reads_this_month: 12,
                month_start: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
                upgrade_url: "https://shoal.example/t/acme/billing".into(),
            }),
            policy_module: None,
        }
    }

    #[test]
    fn bundle_round_trips_and_debug_hides_secrets() {
        let b = bundle();
        let json = serde_json::to_string(&b).unwrap();
        let back: Bundle = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        assert!(json.contains(r#""kind":"pat""#));
        assert!(json.contains(r#""kind":"github_app""#));
        let dbg = format!("{b:?}");
        assert!(!dbg.contains("ghp_canary"));
        assert!(!dbg.contains("BEGIN PRIVATE KEY"));
    }

    #[test]
    fn a_bundle_without_plan_or_allowance_is_uncapped() {
        let mut json = serde_json::to_value(bundle()).unwrap();
        let obj = json.as_object_mut().unwrap();
        obj.remove("plan");
        obj.remove("allowance");
        let b: Bundle = serde_json::from_value(json).unwrap();
        assert_eq!((b.plan.as_str(), b.allowance), ("", None));
    }

    #[test]
    fn usage_report_round_trips() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let r = UsageReport {
            protocol_version: PROTOCOL_VERSION,
            report_id: Uuid::new_v4(),
            tenant: TenantId::new(),
            bundle_version: 3,
            period_start: now,
            period_end: now,
            requests: vec![RequestCounter {
                caller_token: None,
                route_class: "pulls".into(),
                cache_status: CacheStatus::Hit,
                count: 9,
            }],
            upstream: vec![UpstreamCounter {
                identity: IdentityId::new(),
                resource: "core".into(),
                calls: 2,
                units: 1,
                not_modified: 1,
            }],
            identity_health: vec![IdentityHealth {
                identity: IdentityId::new(),
                state: HealthState::CoolingDown { until: now },
                budgets: vec![Budget {
                    resource: "core".into(),
                    limit: 5000,
                    remaining: 4321,
                    reset: Some(now),
                }],
            }],
            policy_module: PolicyModuleReport::default(),
            last_served: Some(now),
            top_repositories: vec![RepositoryCounter {
                repository: "octo-org/hello-world".into(),
                requests: 7,
            }],
            worker_version: "0.1.0".into(),
            errors: 2,
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["requests"][0]["cache_status"], "HIT");
        assert_eq!(json["identity_health"][0]["state"], "cooling_down");
        let back: UsageReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_usage_report_from_a_worker_that_predates_last_served_still_parses() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut json = serde_json::json!({
            "protocol_version": PROTOCOL_VERSION,
            "report_id": Uuid::nil(),
            "tenant": TenantId::new(),
            "bundle_version": 1,
            "period_start": "2027-01-15T08:00:00Z",
            "period_end": "2027-01-15T08:00:00Z",
            "requests": [],
            "upstream": [],
            "identity_health": [],
        });
        let old: UsageReport = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(old.last_served, None);
        json["last_served"] = serde_json::json!("2027-01-15T08:00:00Z");
        let new: UsageReport = serde_json::from_value(json).unwrap();
        assert_eq!(new.last_served, Some(now));
    }

    #[test]
    fn a_report_from_an_older_worker_reads_with_empty_dashboard_fields() {
        let json = serde_json::json!({
            "protocol_version": PROTOCOL_VERSION,
            "report_id": Uuid::new_v4(),
            "tenant": TenantId::new(),
            "bundle_version": 1,
            "period_start": "2026-12-03T10:00:00Z",
            "period_end": "2026-12-03T10:00:10Z",
            "requests": [],
            "upstream": [],
            "identity_health": []
        });
        let r: UsageReport = serde_json::from_value(json).unwrap();
        assert!(r.top_repositories.is_empty() && r.worker_version.is_empty() && r.errors == 0);
    }

    #[test]
    fn unknown_protocol_version_is_refused() {
        assert!(check_version(PROTOCOL_VERSION).is_ok());
        assert!(
            check_version(PROTOCOL_VERSION + 1)
                .unwrap_err()
                .contains("not supported")
        );
    }
}
