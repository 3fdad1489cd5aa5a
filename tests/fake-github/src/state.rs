//! The fake's mutable state: tokens and the accounts they belong to, rate-limit buckets,
//! secondary limits, OAuth apps and codes, GitHub Apps and their installations, and the stats.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::Options;
use crate::stats::Stats;
use crate::world::{Repo, World};

/// A rate-limit resource, as named in `x-ratelimit-resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Most REST endpoints.
    Core,
    /// `/search/*` except code.
    Search,
    /// `/search/code`.
    CodeSearch,
    /// GraphQL points.
    Graphql,
}

impl Resource {
    /// GitHub's name for the resource.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Core => "core",
            Resource::Search => "search",
            Resource::CodeSearch => "code_search",
            Resource::Graphql => "graphql",
        }
    }

    /// The resource GitHub names `name` (`core`, `search`, `code_search`, `graphql`).
    pub fn parse(name: &str) -> Option<Resource> {
        match name {
            "core" => Some(Resource::Core),
            "search" => Some(Resource::Search),
            "code_search" => Some(Resource::CodeSearch),
            "graphql" => Some(Resource::Graphql),
            _ => None,
        }
    }

    /// Length of the window in seconds.
    pub fn window_secs(self) -> i64 {
        match self {
            Resource::Core | Resource::Graphql => 3600,
            Resource::Search | Resource::CodeSearch => 60,
        }
    }
}

/// Whose budget a call spends: buckets belong to accounts, not tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKey {
    /// A user account (every PAT or OAuth token of the user shares it).
    User(u64),
    /// A GitHub App installation.
    Installation(u64),
    /// Unauthenticated calls, per client IP.
    Anonymous(IpAddr),
}

/// What kind of token it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Personal access token (`ghp_`).
    Pat,
    /// OAuth app user token (`gho_`).
    OAuth,
    /// App installation token (`ghs_`).
    Installation,
}

/// Who is asking: the token presented, `None` when unauthenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token, None when unauthenticated.
    pub token: Option<TokenInfo>,
}

impl Caller {
    /// Whether the caller may read the repo (private repos: org members, the owner, the installation).
    pub fn can_read_repo(&self, w: &World, r: &Repo) -> bool {
        match &self.token {
            None => !r.private,
            Some(t) if t.kind == TokenKind::Installation => {
                !r.private
                    || t.installation_owner
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(&r.owner))
            }
            Some(t) => w.can_read(Some(&t.login), r),
        }
    }

    /// The bucket the caller spends (unauthenticated calls: the client address's).
    pub fn account(&self, ip: IpAddr) -> AccountKey {
        self.token.as_ref().map_or(AccountKey::Anonymous(ip), |t| t.account)
    }
}

/// A registered token.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// The token itself (these are fake credentials; stats are keyed by them).
    pub token: String,
    /// Account it spends.
    pub account: AccountKey,
    /// Login of the user, or `owner[bot]`-like name for an installation.
    pub login: String,
    /// Numeric id of the user or installation.
    pub account_id: u64,
    /// Kind.
    pub kind: TokenKind,
    /// Revoked tokens answer 401.
    pub revoked: bool,
    /// Expiry (installation tokens).
    pub expires_at: Option<OffsetDateTime>,
    /// Granted scopes (`X-OAuth-Scopes`).
    pub scopes: String,
    /// For installation tokens: the account (org or user) the installation is on.
    pub installation_owner: Option<String>,
}

/// One rate-limit bucket.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// Units in the window.
    pub limit: u64,
    /// Units used in the window.
    pub used: u64,
    /// Epoch seconds when the window resets.
    pub reset: i64,
}

impl Bucket {
    /// Units left.
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

/// A forced secondary limit on a token.
#[derive(Debug, Clone, Copy)]
pub struct SecondaryLimit {
    /// 403 or 429.
    pub status: u16,
    /// `retry-after` seconds.
    pub retry_after: u64,
}

/// A registered OAuth app.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// Client secret.
    pub secret: String,
}

/// An issued, not yet exchanged authorization code.
#[derive(Debug, Clone)]
pub struct OAuthCode {
    /// App it was issued to.
    pub client_id: String,
    /// Approving user.
    pub login: String,
    /// redirect_uri of the authorize request.
    pub redirect_uri: Option<String>,
    /// PKCE S256 challenge, if the authorize request had one.
    pub code_challenge: Option<String>,
    /// Requested scopes.
    pub scope: String,
}

/// A registered GitHub App.
#[derive(Debug, Clone)]
pub struct App {
    /// Its public key (PEM) that JWTs must verify against.
    pub public_key_pem: String,
}

/// An installation of an app on an account.
#[derive(Debug, Clone)]
pub struct Installation {
    /// App it belongs to.
    pub app_id: u64,
    /// Org or user login it is installed on.
    pub account: String,
}

/// Tokens, apps and codes.
#[derive(Debug, Default)]
pub struct Auth {
    /// Keyed by SHA-256 of the token, so lookups do not compare secrets byte by byte.
    pub tokens: HashMap<[u8; 32], TokenInfo>,
    /// OAuth apps by client id.
    pub oauth_apps: HashMap<String, OAuthApp>,
    /// Who approves the next authorize request.
    pub oauth_approver: Option<String>,
    /// Outstanding codes.
    pub oauth_codes: HashMap<String, OAuthCode>,
    /// GitHub Apps by app id.
    pub apps: HashMap<u64, App>,
    /// Installations by id.
    pub installations: HashMap<u64, Installation>,
}

/// Buckets, secondary limits and stats: everything each request writes.
#[derive(Debug, Default)]
pub struct Meter {
    /// Buckets per account and resource.
    pub buckets: HashMap<(AccountKey, Resource), Bucket>,
    /// Forced secondary limits by token.
    pub secondary: HashMap<String, SecondaryLimit>,
    /// Counters.
    pub stats: Stats,
    /// Injected faults.
    pub faults: crate::faults::FaultState,
}

/// Everything behind the server, shared by all requests.
#[derive(Debug)]
pub struct Shared {
    /// Options it was started with.
    pub opts: Options,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Seeded data.
    pub world: RwLock<World>,
    /// Tokens and OAuth.
    pub auth: RwLock<Auth>,
    /// Buckets and stats.
    pub meter: Mutex<Meter>,
    counter: AtomicU64,
    /// Registered webhooks and their deliveries.
    pub hooks: crate::webhooks::Hooks,
}

/// SHA-256 of a token: the key of the token table.
pub fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Shared {
    /// New state for these options, served at `base_url`.
    pub fn new(opts: Options, base_url: String) -> Shared {
        let world = World::generate(opts.seed, opts.size);
        Shared {
            opts,
            base_url,
            world: RwLock::new(world),
            auth: RwLock::new(Auth::default()),
            meter: Mutex::new(Meter::default()),
            counter: AtomicU64::new(1),
            hooks: Default::default(),
        }
    }

    /// Read access to the world (a poisoned lock is still usable: the data stays consistent per write).
    pub fn world(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the world.
    pub fn world_mut(&self) -> RwLockWriteGuard<'_, World> {
        self.world.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Read access to tokens.
    pub fn auth(&self) -> RwLockReadGuard<'_, Auth> {
        self.auth.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to tokens.
    pub fn auth_mut(&self) -> RwLockWriteGuard<'_, Auth> {
        self.auth.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The meter.
    pub fn meter(&self) -> MutexGuard<'_, Meter> {
        self.meter.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh unique number (request ids, token material, codes).
    pub fn next_counter(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A new random-looking token string with GitHub's prefix for its kind.
    pub fn mint_secret(&self, prefix: &str, len: usize) -> String {
        let n = self.next_counter();
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let mut out = String::from(prefix);
        let mut block = 0u64;
        while out.len() < prefix.len() + len {
            let digest = Sha256::digest(format!("{}:{n}:{nanos}:{block}:{:p}", self.opts.seed, self).as_bytes());
            for b in digest.iter() {
                if out.len() >= prefix.len() + len {
                    break;
                }
                out.push(BASE62[(*b as usize) % 62] as char);
            }
            block += 1;
        }
        out
    }

    /// Registers a token of `kind` for user `login` (created if new) and returns it.
    pub fn add_user_token(&self, login: &str, kind: TokenKind, revoked: bool, scopes: &str) -> String {
        let user = self.world_mut().ensure_user(login);
        let prefix = match kind {
            TokenKind::Pat => "ghp_",
            TokenKind::OAuth => "gho_",
            TokenKind::Installation => "ghs_",
        };
        let token = self.mint_secret(prefix, 36);
        let info = TokenInfo {
            token: token.clone(),
            account: AccountKey::User(user.id),
            login: user.login.clone(),
            account_id: user.id,
            kind,
            revoked,
            expires_at: None,
            scopes: scopes.to_string(),
            installation_owner: None,
        };
        self.auth_mut().tokens.insert(token_key(&token), info);
        token
    }

    /// Installs an app on an account; returns the new installation id.
    pub fn add_installation(&self, app_id: u64, account: &str) -> u64 {
        let mut auth = self.auth_mut();
        let id = 40_000_000 + auth.installations.len() as u64 + 1;
        auth.installations.insert(
            id,
            Installation {
                app_id,
                account: account.to_string(),
            },
        );
        id
    }

    /// Marks a token revoked; false when unknown.
    pub fn revoke(&self, token: &str) -> bool {
        match self.auth_mut().tokens.get_mut(&token_key(token)) {
            Some(t) => {
                t.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Runs `f` on an account's bucket for a resource as it is now (refilled if its window has
    /// passed), under the meter's lock.
    pub fn with_bucket<T>(&self, account: AccountKey, resource: Resource, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let limit = self.limit_for(account, resource);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        f(self.meter().bucket(account, resource, limit, now))
    }

    /// Empties `login`'s bucket for `resource` until `reset_in_secs` from now; false when the login
    /// is unknown.
    pub fn exhaust(&self, login: &str, resource: Resource, reset_in_secs: u64) -> bool {
        let Some(id) = self.world().user(login).map(|u| u.id) else {
            return false;
        };
        let account = AccountKey::User(id);
        let limit = self.limit_for(account, resource);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut meter = self.meter();
        let b = meter.bucket(account, resource, limit, now);
        b.used = b.limit;
        b.reset = now + i64::try_from(reset_in_secs).unwrap_or(i64::MAX / 2);
        true
    }

    /// Limit of a bucket for an account and resource, from the options.
    pub fn limit_for(&self, account: AccountKey, resource: Resource) -> u64 {
        let l = &self.opts.limits;
        match (account, resource) {
            (AccountKey::Anonymous(_), Resource::Core) => l.anonymous_core,
            (AccountKey::Anonymous(_), Resource::Search) => l.anonymous_search,
            (AccountKey::Anonymous(_), Resource::CodeSearch) => 0,
            (AccountKey::Anonymous(_), Resource::Graphql) => 0,
            (AccountKey::Installation(_), Resource::Core) => l.installation_core,
            (_, Resource::Core) => l.core,
            (_, Resource::Search) => l.search,
            (_, Resource::CodeSearch) => l.code_search,
            (_, Resource::Graphql) => l.graphql,
        }
    }
}

impl Meter {
    /// The bucket, refilled if its window has passed.
    pub fn bucket(&mut self, account: AccountKey, resource: Resource, limit: u64, now: i64) -> &mut Bucket {
        let b = self.buckets.entry((account, resource)).or_insert(Bucket {
            limit,
            used: 0,
            reset: now + resource.window_secs(),
        });
        if now >= b.reset {
            b.used = 0;
            b.reset = now + resource.window_secs();
        }
        b.limit = limit;
        b
    }
}
