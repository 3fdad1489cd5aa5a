//! The standalone worker's configuration: a TOML file (`shoal-worker --config FILE`) naming the
//! listen address, the upstream, allowed owners, pooled identities and caller tokens. Secrets are
//! only ever references (`env:NAME` or `file:/path`), resolved once at start. The file becomes the
//! same [`Bundle`] the control plane would send, plus the process [`Settings`].

use crate::coordinator::Pacing;
use crate::error::Error;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shoal_common::protocol::{
    Bundle, CallerTokenEntry, Credential, IdentityEntry, OnFailure, PROTOCOL_VERSION, Policy, PolicyModule, TenantRef,
};
use shoal_common::token::{Pepper, hash_token};
use shoal_common::{CallerTokenId, IdentityId, Secret, TenantId};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The default GitHub API base URL.
pub const DEFAULT_UPSTREAM: &str = "https://api.github.com";

/// The TOML file, as written. Unknown keys are refused so a typo is not silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// GitHub API base URL (github.com, a GHES `/api/v3` URL, or the fake).
    #[serde(default = "default_upstream")]
    pub upstream: String,
    /// Owners whose repos may be read through the pool.
    #[serde(default)]
    pub allowed_owners: Vec<String>,
    /// Check a repo is public before spending a pooled identity on it.
    #[serde(default)]
    pub public_only: bool,
    /// Fetch public raw files and diffs from GitHub's web hosts without spending an identity.
    #[serde(default)]
    pub token_free_reads: bool,
    /// Whether `/search/...` is relayed.
    #[serde(default = "yes")]
    pub search_allowed: bool,
    /// TTL in seconds per freshness class (`immutable`, `slow`, `list`, `fast`, `search`, `meta`,
    /// `not_found`).
    #[serde(default)]
    pub ttl: BTreeMap<String, u64>,
    /// Process knobs.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Share of each identity's limit left unspent for its owner, in percent.
    #[serde(default = "default_reserve")]
    pub reserve_percent: u8,
    /// How requests wait when no identity has budget now but one will soon.
    #[serde(default)]
    pub pacing: PacingConfig,
    /// How webhook events change freshness.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// Learn each identity's GitHub account with `GET /user` at start when `account` is not set.
    #[serde(default = "yes")]
    pub discover_accounts: bool,
    /// Seconds before an upstream call is abandoned (GitHub itself gives up on a request after
    /// 10 s); a request waits for GitHub at most this plus the pacing wait, then is answered
    /// STALE or 503.
    #[serde(default = "default_timeout")]
    pub upstream_timeout_secs: u64,
    /// GitHub's web host for token-free `.diff`/`.patch` reads (derived from `upstream` when unset).
    #[serde(default)]
    pub web_base: Option<String>,
    /// GitHub's raw-content host for token-free file reads (derived from `upstream` when unset).
    #[serde(default)]
    pub raw_base: Option<String>,
    /// A WebAssembly policy module (`.wasm`, or `.wat` text) run on every relayed read.
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// How the requests a failing policy module could not decide are answered: `serve` (as if
    /// there were no module) or `fallback_local`.
    #[serde(default)]
    pub policy_on_failure: OnFailure,
    /// Pooled identities.
    #[serde(default)]
    pub identity: Vec<IdentityConfig>,
    /// Caller tokens the worker accepts.
    #[serde(default)]
    pub caller: Vec<CallerConfig>,
}

/// `[cache]`: how the cache behaves.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Upper bound of the in-memory cache, in bytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Responses larger than this are relayed without being cached.
    #[serde(default = "default_max_entry_bytes")]
    pub max_entry_bytes: u64,
    /// How old (past its TTL) an entry may be and still be served `STALE` when GitHub cannot answer.
    #[serde(default = "default_stale_max")]
    pub stale_max_secs: u64,
    /// Revalidate stale entries with conditional requests (off: TTL-only, refetch on expiry).
    #[serde(default = "yes")]
    pub revalidate: bool,
    /// Compute the ETag another identity would get (GitHub's observed algorithm) so an entry
    /// fetched by one identity revalidates for free under another without `Last-Modified`.
    #[serde(default)]
    pub compute_etags: bool,
    /// Also keep entries in this directory so a restarted worker starts warm (absent: memory only).
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_max_bytes(),
            max_entry_bytes: default_max_entry_bytes(),
            stale_max_secs: default_stale_max(),
            revalidate: true,
            compute_etags: false,
            dir: None,
        }
    }
}

/// `[pacing]`: the bounded wait for budget. A request that finds no identity able to pay waits
/// only when one will be (a cooldown ending, a window resetting) within `max_wait_secs`, and only
/// while fewer than `max_waiters` wait; otherwise it fails fast (stale or 403 with `retry-after`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacingConfig {
    /// Longest wait for budget, in seconds; 0 never waits.
    #[serde(default = "default_max_wait")]
    pub max_wait_secs: u64,
    /// Most requests waiting for budget at once.
    #[serde(default = "default_max_waiters")]
    pub max_waiters: usize,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            max_wait_secs: default_max_wait(),
            max_waiters: default_max_waiters(),
        }
    }
}

/// `[webhooks]`: freshness when the tenant forwards GitHub's webhooks (see `cache::invalidate`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// TTL of the route classes events cover while the tenant's webhook is live (an event or a
    /// ping in the last hour), in seconds; a class whose own TTL is longer keeps it.
    #[serde(default = "default_covered_ttl")]
    pub covered_ttl_secs: u64,
    /// How long after an invalidation GitHub may still confirm the old representation (a 304 to
    /// the old ETag): answers within it leave the entry revalidating on each read. In ms.
    #[serde(default = "default_stale_window")]
    pub stale_window_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            covered_ttl_secs: default_covered_ttl(),
            stale_window_ms: default_stale_window(),
        }
    }
}

/// `[[identity]]`: one pooled GitHub identity.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// A name for stats and logs, unique in the file.
    pub id: String,
    /// `env:NAME` or `file:/path` holding the personal access token (a PAT identity).
    #[serde(default)]
    pub token: Option<String>,
    /// A GitHub App identity: the App's id (with `installation_id` and `private_key`).
    #[serde(default)]
    pub app_id: Option<u64>,
    /// A GitHub App identity: the installation whose tokens are minted.
    #[serde(default)]
    pub installation_id: Option<u64>,
    /// A GitHub App identity: `env:NAME` or `file:/path` holding the App's RSA private key (PKCS#8
    /// or PKCS#1 PEM).
    #[serde(default)]
    pub private_key: Option<String>,
    /// The GitHub login whose buckets the token spends (learned at start when absent).
    #[serde(default)]
    pub account: Option<String>,
    /// Owners or owner/repo this identity may serve; empty: any allowed owner.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `[[caller]]`: one caller token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerConfig {
    /// Who the token belongs to, for stats.
    pub name: String,
    /// `env:NAME` or `file:/path` holding the caller token.
    pub token: String,
    /// GitHub login of the caller, if known.
    #[serde(default)]
    pub login: Option<String>,
}

/// What the environment can set, for a worker run without a file or beside one.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("SHOAL_WORKER_LISTEN", "address to listen on (listen)"),
    ("SHOAL_WORKER_UPSTREAM", "GitHub API base URL (upstream)"),
    ("SHOAL_WORKER_ALLOWED_OWNERS", "comma-separated owners (allowed_owners)"),
    (
        UPSTREAM_TIMEOUT_VAR,
        "seconds before an upstream call is abandoned (upstream_timeout_secs, default 10)",
    ),
    (
        "SHOAL_WORKER_IDENTITIES",
        "comma-separated id=env:NAME or id=file:/path, PAT identities",
    ),
    (
        "SHOAL_WORKER_CALLERS",
        "comma-separated name=env:NAME or name=file:/path, caller tokens",
    ),
];

/// An upstream timeout in whole seconds, 1 to 300.
pub fn parse_timeout(v: &str) -> Result<u64, Error> {
    match v.trim().parse::<u64>() {
        Ok(n) if (1..=300).contains(&n) => Ok(n),
        _ => Err(Error::Config(format!(
            "{UPSTREAM_TIMEOUT_VAR}: {v:?} is not a number of seconds from 1 to 300"
        ))),
    }
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `a=env:X, b=file:/y` as pairs. A malformed item is named by position only: it may be a
/// token pasted in by mistake.
fn pairs(name: &str, value: Option<String>) -> Result<Vec<(String, String)>, Error> {
    let Some(value) = value else { return Ok(Vec::new()) };
    list(&value)
        .enumerate()
        .map(|(i, item)| match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok((k.trim().into(), v.trim().into())),
            _ => Err(Error::Config(format!(
                "{name}: item {} is not NAME=env:VAR or NAME=file:/path",
                i + 1
            ))),
        })
        .collect()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8787))
}
fn default_upstream() -> String {
    DEFAULT_UPSTREAM.to_string()
}
fn yes() -> bool {
    true
}
fn default_reserve() -> u8 {
    10
}
fn default_max_wait() -> u64 {
    5
}
fn default_max_waiters() -> usize {
    64
}
fn default_timeout() -> u64 {
    DEFAULT_UPSTREAM_TIMEOUT_SECS
}

/// How long an upstream call may take by default: GitHub's own limit for an API request.
pub const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 10;

/// `SHOAL_WORKER_UPSTREAM_TIMEOUT_SECS`: the upstream deadline, standalone and scheduled.
pub const UPSTREAM_TIMEOUT_VAR: &str = "SHOAL_WORKER_UPSTREAM_TIMEOUT_SECS";
fn default_max_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_max_entry_bytes() -> u64 {
    8 * 1024 * 1024
}
fn default_stale_max() -> u64 {
    6 * 3600
}
fn default_covered_ttl() -> u64 {
    600
}
fn default_stale_window() -> u64 {
    crate::cache::DEFAULT_INVALIDATION_WINDOW_MS
}

/// Process settings that are not part of the tenant's bundle.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub cache_max_bytes: u64,
    pub cache_max_entry_bytes: u64,
    pub stale_max_secs: u64,
    pub revalidate: bool,
    pub compute_etags: bool,
    /// Where the cache's on-disk tier lives; `None`: memory only.
    pub cache_dir: Option<PathBuf>,
    pub reserve_percent: u8,
    /// The bounded wait for budget.
    pub pacing: Pacing,
    pub discover_accounts: bool,
    /// Seconds before one upstream call is abandoned.
    pub upstream_timeout_secs: u64,
    /// Upstream calls allowed at once; more wait in a bounded queue.
    pub max_upstream_concurrency: usize,
    /// Requests allowed to wait for an upstream slot before new ones get 503.
    pub max_upstream_queue: usize,
    /// Web host for token-free diffs and patches; `None`: derived from the upstream.
    pub web_base: Option<String>,
    /// Raw-content host for token-free file reads; `None`: derived from the upstream.
    pub raw_base: Option<String>,
    /// TTL of covered route classes while the tenant's webhook is live, in ms.
    pub covered_ttl_ms: u64,
    /// How long after an invalidation a confirming answer leaves the entry stale, in ms.
    pub stale_window_ms: u64,
}

impl Settings {
    /// Settings for tests: loopback port 0, everything else default.
    pub fn for_tests() -> Self {
        Self::from_config(&Config::from_toml_str("").expect("empty config parses"))
    }

    /// The defaults, listening on `listen` (scheduled mode, where the control plane sets the rest).
    pub fn defaults(listen: SocketAddr) -> Self {
        Self {
            listen,
            ..Self::for_tests()
        }
    }

    fn from_config(c: &Config) -> Self {
        Self {
            listen: c.listen,
            cache_max_bytes: c.cache.max_bytes,
            cache_max_entry_bytes: c.cache.max_entry_bytes,
            stale_max_secs: c.cache.stale_max_secs,
            revalidate: c.cache.revalidate,
            compute_etags: c.cache.compute_etags,
            cache_dir: c.cache.dir.clone(),
            reserve_percent: c.reserve_percent.min(90),
            pacing: Pacing {
                // Longer waits would hold callers past what clients tolerate; fail fast instead.
                max_wait_ms: c.pacing.max_wait_secs.min(60) * 1000,
                max_waiters: c.pacing.max_waiters,
            },
            discover_accounts: c.discover_accounts,
            upstream_timeout_secs: c.upstream_timeout_secs.max(1),
            max_upstream_concurrency: 64,
            max_upstream_queue: 4096,
            web_base: c.web_base.as_ref().map(|u| u.trim_end_matches('/').to_string()),
            raw_base: c.raw_base.as_ref().map(|u| u.trim_end_matches('/').to_string()),
            covered_ttl_ms: c.webhooks.covered_ttl_secs.saturating_mul(1000),
            stale_window_ms: c.webhooks.stale_window_ms,
        }
    }
}

/// The id of the identity named `name` in the file: the same at every start, so the upstream
/// ETags kept on disk with each entry still name it after a restart.
fn identity_id(name: &str) -> IdentityId {
    let digest = Sha256::digest(format!("shoal-worker identity\n{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    IdentityId::from(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// Reads a secret reference: `env:NAME` or `file:/path`. Inline values are refused so a token
/// never sits in a config file that may be committed or shared.
pub fn resolve_secret(reference: &str, what: &str) -> Result<Secret, Error> {
    let value = if let Some(name) = reference.strip_prefix("env:") {
        std::env::var(name).map_err(|_| Error::Config(format!("{what}: environment variable {name} is not set")))?
    } else if let Some(path) = reference.strip_prefix("file:") {
        std::fs::read_to_string(path).map_err(|e| Error::Config(format!("{what}: cannot read {path}: {e}")))?
    } else {
        return Err(Error::Config(format!(
            "{what}: token must be a reference, \"env:NAME\" or \"file:/path\" (inline tokens are not accepted)"
        )));
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::Config(format!("{what}: the referenced token is empty")));
    }
    if value.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::Config(format!(
            "{what}: the referenced token contains whitespace or control characters"
        )));
    }
    Ok(Secret::new(value))
}

/// Reads a PEM private key from a reference (`env:NAME` or `file:/path`); multi-line, unlike a
/// token.
pub fn resolve_pem(reference: &str, what: &str) -> Result<Secret, Error> {
    let value = if let Some(name) = reference.strip_prefix("env:") {
        std::env::var(name).map_err(|_| Error::Config(format!("{what}: environment variable {name} is not set")))?
    } else if let Some(path) = reference.strip_prefix("file:") {
        std::fs::read_to_string(path).map_err(|e| Error::Config(format!("{what}: cannot read {path}: {e}")))?
    } else {
        return Err(Error::Config(format!(
            "{what}: private_key must be a reference, \"env:NAME\" or \"file:/path\" (inline keys are not accepted)"
        )));
    };
    if !value.contains("-----BEGIN") {
        return Err(Error::Config(format!("{what}: private_key is not a PEM key")));
    }
    Ok(Secret::new(value.trim()))
}

impl Config {
    /// Parses a TOML document.
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|e| Error::Config(format!("invalid config: {e}")))
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml_str(&text)
    }

    /// Applies the `SHOAL_WORKER_*` variables (see [`ENV_VARS`]) that `var` knows: scalars replace
    /// the file's values, identities and callers are added to the file's.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("SHOAL_WORKER_LISTEN") {
            self.listen = v
                .trim()
                .parse()
                .map_err(|e| Error::Config(format!("SHOAL_WORKER_LISTEN: {v:?} is not an address: {e}")))?;
        }
        if let Some(v) = var("SHOAL_WORKER_UPSTREAM") {
            self.upstream = v.trim().to_string();
        }
        if let Some(v) = var(UPSTREAM_TIMEOUT_VAR) {
            self.upstream_timeout_secs = parse_timeout(&v)?;
        }
        if let Some(v) = var("SHOAL_WORKER_ALLOWED_OWNERS") {
            self.allowed_owners = list(&v).map(str::to_string).collect();
        }
        for (id, token) in pairs("SHOAL_WORKER_IDENTITIES", var("SHOAL_WORKER_IDENTITIES"))? {
            self.identity.push(IdentityConfig {
                id,
                token: Some(token),
                ..Default::default()
            });
        }
        for (name, token) in pairs("SHOAL_WORKER_CALLERS", var("SHOAL_WORKER_CALLERS"))? {
            self.caller.push(CallerConfig {
                name,
                token,
                login: None,
            });
        }
        Ok(())
    }

    /// Checks the config, resolves secret references, hashes caller tokens under a fresh
    /// in-memory pepper, and returns the settings and the bundle the request path serves.
    pub fn into_parts(self) -> Result<(Settings, Bundle), Error> {
        let settings = Settings::from_config(&self);
        if !self.upstream.starts_with("http://") && !self.upstream.starts_with("https://") {
            return Err(Error::Config(format!(
                "upstream: {:?} must be an http:// or https:// URL",
                self.upstream
            )));
        }
        if self.identity.is_empty() {
            return Err(Error::Config(
                "at least one [[identity]] with `id` and `token` is required".into(),
            ));
        }
        if self.caller.is_empty() {
            return Err(Error::Config(
                "at least one [[caller]] with `name` and `token` is required".into(),
            ));
        }
        // GraphQL answers have their own two keys beside the REST freshness classes.
        const GRAPHQL_TTL_KEYS: [&str; 2] = ["graphql", "introspection"];
        for class in self.ttl.keys() {
            if !crate::route::Freshness::NAMES.contains(&class.as_str()) && !GRAPHQL_TTL_KEYS.contains(&class.as_str())
            {
                return Err(Error::Config(format!(
                    "ttl: unknown freshness class {class:?} (known: {}, {})",
                    crate::route::Freshness::NAMES.join(", "),
                    GRAPHQL_TTL_KEYS.join(", ")
                )));
            }
        }
        let policy_module = match &self.policy {
            Some(path) => {
                let source = std::fs::read(path)
                    .map_err(|e| Error::Config(format!("policy: cannot read {}: {e}", path.display())))?;
                let binary = shoal_common::policy::load::to_binary(&source)
                    .map_err(|e| Error::Config(format!("policy: {}: {e}", path.display())))?;
                Some(PolicyModule::from_binary(&binary, self.policy_on_failure))
            }
            None => None,
        };
        let mut seen = std::collections::HashSet::new();
        let mut identities = Vec::new();
        for (i, idc) in self.identity.into_iter().enumerate() {
            if idc.id.trim().is_empty() {
                return Err(Error::Config(format!("identity[{i}]: `id` is empty")));
            }
            if !seen.insert(idc.id.clone()) {
                return Err(Error::Config(format!("identity {:?} is listed twice", idc.id)));
            }
            let what = format!("identity {:?}", idc.id);
            let credential = match (&idc.token, idc.app_id, idc.installation_id, &idc.private_key) {
                (Some(token), None, None, None) => Credential::Pat {
                    token: resolve_secret(token, &what)?,
                },
                (None, Some(app_id), Some(installation_id), Some(key)) => Credential::GithubApp {
                    app_id,
                    installation_id,
                    private_key: resolve_pem(key, &what)?,
                },
                _ => {
                    return Err(Error::Config(format!(
                        "{what}: give either `token` (a PAT) or all of `app_id`, `installation_id` and `private_key` (a GitHub App installation)"
                    )));
                }
            };
            identities.push(IdentityEntry {
                id: identity_id(&idc.id),
                name: idc.id,
                credential,
                scopes: idc.scopes,
                account: idc.account.map(|a| a.to_ascii_lowercase()),
                enabled: true,
            });
        }
        let pepper = Pepper::generate().map_err(|e| Error::Config(e.to_string()))?;
        let mut callers = Vec::new();
        for (i, cc) in self.caller.into_iter().enumerate() {
            if cc.name.trim().is_empty() {
                return Err(Error::Config(format!("caller[{i}]: `name` is empty")));
            }
            let token = resolve_secret(&cc.token, &format!("caller {:?}", cc.name))?;
            callers.push(CallerTokenEntry {
                id: CallerTokenId::new(),
                hash: hash_token(&pepper, token.expose()).to_hex(),
                user_login: cc.login.unwrap_or_else(|| cc.name.clone()),
                name: cc.name,
                expires_at: None,
            });
        }
        let bundle = Bundle {
            protocol_version: PROTOCOL_VERSION,
            version: 1,
            tenant: TenantRef {
                id: TenantId::new(),
                slug: "standalone".into(),
            },
            caller_tokens: callers,
            identities,
            policy: Policy {
                allowed_owners: self.allowed_owners.iter().map(|o| o.to_ascii_lowercase()).collect(),
                public_only: self.public_only,
                search_allowed: self.search_allowed,
                token_free_reads: self.token_free_reads,
                ttl_overrides: self.ttl,
            },
            token_pepper: Secret::new(hex::encode(pepper.as_bytes())),
            upstream: self.upstream.trim_end_matches('/').to_string(),
            plan: String::new(),
            allowance: None,
            policy_module,
        };
        Ok((settings, bundle))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_identity_keeps_its_id_across_starts() {
        assert_eq!(super::identity_id("ci-bot"), super::identity_id("ci-bot"));
        assert_ne!(super::identity_id("ci-bot"), super::identity_id("ci-bot2"));
    }

    #[test]
    fn environment_variables_configure_a_worker_without_a_file() {
        let env: std::collections::HashMap<&str, &str> = [
            ("SHOAL_WORKER_LISTEN", "127.0.0.1:9999"),
            ("SHOAL_WORKER_UPSTREAM", "http://127.0.0.1:1"),
            ("SHOAL_WORKER_ALLOWED_OWNERS", "octo-org, acme"),
            ("SHOAL_WORKER_IDENTITIES", "bot=env:BOT_TOKEN,ci=file:/run/ci"),
            ("SHOAL_WORKER_CALLERS", "alice=file:/run/alice"),
        ]
        .into();
        let mut c = Config::from_toml_str("allowed_owners = [\"x\"]").unwrap();
        c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.upstream, "http://127.0.0.1:1");
        assert_eq!(c.allowed_owners, ["octo-org", "acme"]);
        let ids: Vec<_> = c.identity.iter().map(|i| (i.id.as_str(), i.token.as_deref())).collect();
        assert_eq!(ids, [("bot", Some("env:BOT_TOKEN")), ("ci", Some("file:/run/ci"))]);
        assert_eq!(
            (c.caller[0].name.as_str(), c.caller[0].token.as_str()),
            ("alice", "file:/run/alice")
        );

        let pasted = |k: &str| (k == "SHOAL_WORKER_IDENTITIES").then(|| "ghp_pastedsecret".to_string());
        let err = Config::from_toml_str("")
            .unwrap()
            .apply_env(pasted)
            .unwrap_err()
            .to_string();
        assert!(err.contains("item 1") && !err.contains("ghp_"), "{err}");
    }

    use super::*;
    use std::io::Write;

    fn token_file(value: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "{value}").unwrap();
        f
    }

    #[test]
    fn contract_example_builds_a_bundle_with_hashed_callers() {
        let id = token_file("ghp_identity_canary");
        let caller = token_file("shoal_caller_canary");
        let text = format!(
            r#"
listen = "127.0.0.1:0"
upstream = "http://127.0.0.1:9999/"
allowed_owners = ["Octo-Org"]

[[identity]]
id = "bot"
token = "file:{}"

[[caller]]
name = "alice"
token = "file:{}"
"#,
            id.path().display(),
            caller.path().display()
        );
        let (settings, bundle) = Config::from_toml_str(&text).unwrap().into_parts().unwrap();
        assert_eq!(settings.listen.port(), 0);
        assert_eq!(bundle.upstream, "http://127.0.0.1:9999");
        assert_eq!(bundle.policy.allowed_owners, vec!["octo-org"]);
        assert_eq!(bundle.identities[0].name, "bot");
        match &bundle.identities[0].credential {
            Credential::Pat { token } => assert_eq!(token.expose(), "ghp_identity_canary"),
            other => panic!("unexpected credential {other:?}"),
        }
        let pepper = Pepper::new(hex::decode(bundle.token_pepper.expose()).unwrap()).unwrap();
        assert_eq!(
            bundle.caller_tokens[0].hash,
            hash_token(&pepper, "shoal_caller_canary").to_hex()
        );
        assert!(!format!("{bundle:?}").contains("canary"));
    }

    #[test]
    fn app_identities_and_token_free_settings_are_read() {
        let key = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/github-app/app-pkcs1.pem"
        );
        let caller_file = token_file("shoal_caller");
        let caller = caller_file.path().display();
        let text = format!(
            r#"
token_free_reads = true
web_base = "http://web.example/"
[ttl]
graphql = 5
introspection = 60
[[identity]]
id = "app"
app_id = 4242
installation_id = 7
private_key = "file:{key}"
[[caller]]
name = "alice"
token = "file:{caller}"
"#
        );
        let (settings, bundle) = Config::from_toml_str(&text).unwrap().into_parts().unwrap();
        assert!(bundle.policy.token_free_reads);
        assert_eq!(bundle.policy.ttl_overrides["graphql"], 5);
        assert_eq!(settings.web_base.as_deref(), Some("http://web.example"));
        match &bundle.identities[0].credential {
            Credential::GithubApp {
                app_id,
                installation_id,
                private_key,
            } => {
                assert_eq!((*app_id, *installation_id), (4242, 7));
                assert!(private_key.expose().starts_with("-----BEGIN RSA PRIVATE KEY-----"));
            }
            other => panic!("unexpected credential {other:?}"),
        }
        let both = format!(
            "[[identity]]\nid = \"x\"\ntoken = \"env:X\"\napp_id = 1\n[[caller]]\nname = \"a\"\ntoken = \"file:{caller}\"\n"
        );
        let err = Config::from_toml_str(&both).unwrap().into_parts().unwrap_err();
        assert!(err.to_string().contains("either `token`"), "{err}");
    }

    #[test]
    fn upstream_defaults_to_github() {
        let c = Config::from_toml_str("").unwrap();
        assert_eq!(c.upstream, DEFAULT_UPSTREAM);
        assert_eq!(c.reserve_percent, 10);
    }

    #[test]
    fn inline_tokens_are_refused_with_a_clear_message() {
        let err = resolve_secret("ghp_inline", "identity \"bot\"").unwrap_err();
        assert!(err.to_string().contains("env:NAME"), "{err}");
        assert!(!err.to_string().contains("ghp_inline"));
    }

    #[test]
    fn missing_env_var_is_named() {
        let err = resolve_secret("env:SHOAL_TEST_SURELY_UNSET_VAR", "caller \"x\"").unwrap_err();
        assert!(err.to_string().contains("SHOAL_TEST_SURELY_UNSET_VAR"));
    }

    #[test]
    fn unknown_keys_and_ttl_classes_are_refused() {
        assert!(Config::from_toml_str("listn = \"127.0.0.1:1\"").is_err());
        let f = token_file("t");
        let text = format!(
            "[ttl]\nforever = 1\n[[identity]]\nid = \"a\"\ntoken = \"file:{p}\"\n[[caller]]\nname = \"c\"\ntoken = \"file:{p}\"\n",
            p = f.path().display()
        );
        let err = Config::from_toml_str(&text).unwrap().into_parts().unwrap_err();
        assert!(err.to_string().contains("forever"));
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("## Standalone worker").unwrap()..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + section[start..].find("```").unwrap();
        let c = Config::from_toml_str(&section[start..end]).unwrap();
        assert_eq!(c.identity[0].scopes, vec!["octo-org"]);
        assert_eq!(c.ttl["fast"], 20);
        assert_eq!(c.cache.stale_max_secs, default_stale_max());
    }

    #[test]
    fn identities_and_callers_are_required() {
        let err = Config::from_toml_str("").unwrap().into_parts().unwrap_err();
        assert!(err.to_string().contains("[[identity]]"));
    }
}
