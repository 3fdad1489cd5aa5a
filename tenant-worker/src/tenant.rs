//! The tenant as the request path sees it, built from a [`Bundle`] (pulled from the control
//! plane or made from the standalone config): caller-token hashes, pooled identities with their
//! credentials, policy and upstream. A new bundle replaces it atomically.

use crate::error::Error;
use crate::github_app::{AppCredentials, AppTokenSource};
use crate::policy::wasm::TenantModule;
use shoal_common::protocol::{Bundle, Credential, Policy};
use shoal_common::token::{Pepper, TokenHash, TokenHasher, find_constant_time};
use shoal_common::{CallerTokenId, IdentityId, Secret, TenantId};
use std::sync::{Arc, RwLock};

/// A caller the worker accepts.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: CallerTokenId,
    pub name: String,
    /// Unix ms after which the token is refused.
    pub expires_at_ms: Option<u64>,
    /// The member's GitHub login (answers `viewer { login }`).
    pub user_login: String,
}

/// How a pooled identity authenticates upstream.
pub enum IdentityAuth {
    /// A token sent as `Authorization: token ...`.
    Token(Secret),
    /// A GitHub App installation: installation tokens are minted and refreshed by the source
    /// (see `fetch::credentials`).
    App(Arc<AppTokenSource>),
    /// A credential the worker cannot use (e.g. an App key that is not RSA PEM); never selected.
    Unusable(String),
}

/// A pooled identity.
pub struct Identity {
    pub id: IdentityId,
    pub name: String,
    pub auth: IdentityAuth,
    /// Lower-cased owner or owner/repo patterns; empty: any allowed owner.
    pub scopes: Vec<String>,
    pub account: Option<String>,
    pub enabled: bool,
}

impl Identity {
    /// Whether this identity may serve a route touching `owner`/`repo`.
    pub fn serves(&self, owner: Option<&str>, repo: Option<&str>) -> bool {
        if self.scopes.is_empty() {
            return true;
        }
        self.scopes.iter().any(|s| match s.split_once('/') {
            Some(_) => repo.is_some_and(|r| r == s),
            None => owner.is_some_and(|o| o == s),
        })
    }

    /// The `Authorization` header value for upstream calls of a token identity. App identities
    /// get theirs asynchronously (`Worker::authorization`), so this is `None` for them.
    pub fn authorization(&self) -> Option<String> {
        match &self.auth {
            IdentityAuth::Token(t) => Some(format!("token {}", t.expose())),
            IdentityAuth::App(_) | IdentityAuth::Unusable(_) => None,
        }
    }
}

/// One tenant's serving state.
pub struct Tenant {
    pub bundle_version: u64,
    pub id: TenantId,
    pub slug: String,
    hasher: TokenHasher,
    callers: Vec<(TokenHash, Caller)>,
    pub identities: Vec<Identity>,
    pub policy: Policy,
    /// Upstream base URL without a trailing slash.
    pub upstream: String,
    /// The tenant's WebAssembly policy module, compiled.
    pub module: Option<TenantModule>,
}

impl Tenant {
    /// Builds the serving state from a bundle.
    pub fn from_bundle(b: &Bundle) -> Result<Self, Error> {
        Self::build(b, None)
    }

    /// Builds the serving state for a new bundle, keeping the App token sources (and their cached
    /// installation tokens) of identities whose App credentials did not change.
    pub fn from_bundle_keeping(b: &Bundle, previous: &Tenant) -> Result<Self, Error> {
        Self::build(b, Some(previous))
    }

    fn build(b: &Bundle, previous: Option<&Tenant>) -> Result<Self, Error> {
        let reuse = |id: IdentityId, fingerprint: [u8; 32]| {
            previous?.identity(id).and_then(|old| match &old.auth {
                IdentityAuth::App(s) if s.fingerprint() == fingerprint => Some(s.clone()),
                _ => None,
            })
        };
        shoal_common::protocol::check_version(b.protocol_version).map_err(Error::Config)?;
        let pepper_bytes =
            hex::decode(b.token_pepper.expose()).map_err(|_| Error::Config("bundle token_pepper is not hex".into()))?;
        let pepper = Pepper::new(pepper_bytes).map_err(|e| Error::Config(e.to_string()))?;
        let mut callers = Vec::with_capacity(b.caller_tokens.len());
        for c in &b.caller_tokens {
            let hash = TokenHash::from_hex(&c.hash)
                .map_err(|_| Error::Config(format!("caller token {:?} has a malformed hash", c.name)))?;
            callers.push((
                hash,
                Caller {
                    id: c.id,
                    name: c.name.clone(),
                    expires_at_ms: c
                        .expires_at
                        .map(|t| (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64),
                    user_login: c.user_login.clone(),
                },
            ));
        }
        let identities = b
            .identities
            .iter()
            .map(|i| Identity {
                id: i.id,
                name: i.name.clone(),
                auth: match &i.credential {
                    Credential::Pat { token } => IdentityAuth::Token(token.clone()),
                    Credential::GithubApp {
                        app_id,
                        installation_id,
                        private_key,
                    } => match reuse(
                        i.id,
                        AppCredentials::fingerprint_of(*app_id, *installation_id, private_key),
                    ) {
                        // Same App credentials as before: keep the installation token.
                        Some(source) => IdentityAuth::App(source),
                        None => match AppCredentials::new(*app_id, *installation_id, private_key) {
                            Ok(creds) => IdentityAuth::App(Arc::new(AppTokenSource::new(creds))),
                            Err(e) => {
                                tracing::warn!(identity.name = %i.name, error = %e, "App identity cannot be used");
                                IdentityAuth::Unusable(e.to_string())
                            }
                        },
                    },
                },
                scopes: i.scopes.iter().map(|s| s.to_ascii_lowercase()).collect(),
                account: i.account.as_ref().map(|a| a.to_ascii_lowercase()),
                enabled: i.enabled,
            })
            .collect();
        let module = match &b.policy_module {
            Some(m) => Some(TenantModule::load(m, previous.and_then(|p| p.module.as_ref()))?),
            None => None,
        };
        let mut policy = b.policy.clone();
        for o in &mut policy.allowed_owners {
            o.make_ascii_lowercase();
        }
        Ok(Self {
            bundle_version: b.version,
            id: b.tenant.id,
            slug: b.tenant.slug.clone(),
            hasher: TokenHasher::new(&pepper),
            callers,
            identities,
            policy,
            upstream: b.upstream.trim_end_matches('/').to_string(),
            module,
        })
    }

    /// Finds the caller presenting `token`, comparing hashes in constant time.
    pub fn authenticate(&self, token: &str, now_ms: u64) -> Option<&Caller> {
        let h = self.hasher.hash(token);
        let found = find_constant_time(&h, self.callers.iter().map(|(h, c)| (h, c)))?;
        match found.expires_at_ms {
            Some(t) if t <= now_ms => None,
            _ => Some(found),
        }
    }

    /// Finds an identity by id.
    pub fn identity(&self, id: IdentityId) -> Option<&Identity> {
        self.identities.iter().find(|i| i.id == id)
    }

    /// Whether the policy lets the pool read this owner's repos.
    pub fn owner_allowed(&self, owner: &str) -> bool {
        self.policy.allowed_owners.iter().any(|o| o == owner)
    }
}

/// The tenant in force: read per request, replaced whole when a new bundle arrives.
pub struct CurrentTenant(RwLock<Arc<Tenant>>);

impl CurrentTenant {
    pub fn new(tenant: Tenant) -> Self {
        Self(RwLock::new(Arc::new(tenant)))
    }

    /// The tenant now.
    pub fn get(&self) -> Arc<Tenant> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `tenant` in force.
    pub fn set(&self, tenant: Tenant) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_common::TenantId;
    use shoal_common::protocol::{CallerTokenEntry, IdentityEntry, PROTOCOL_VERSION, TenantRef};
    use shoal_common::token::{generate_token, hash_token};

    fn bundle(token: &str, pepper: &Pepper, expires: Option<time::OffsetDateTime>) -> Bundle {
        Bundle {
            protocol_version: PROTOCOL_VERSION,
            version: 3,
            tenant: TenantRef {
                id: TenantId::new(),
                slug: "acme".into(),
            },
            caller_tokens: vec![CallerTokenEntry {
                id: CallerTokenId::new(),
                hash: hash_token(pepper, token).to_hex(),
                name: "laptop".into(),
                user_login: "alice".into(),
                expires_at: expires,
            }],
            identities: vec![IdentityEntry {
                id: IdentityId::new(),
                name: "bot".into(),
                credential: Credential::Pat {
                    token: Secret::new("ghp_x"),
                },
                scopes: vec!["Octo-Org".into()],
                account: None,
                enabled: true,
            }],
            policy: Policy {
                allowed_owners: vec!["Octo-Org".into()],
                ..Default::default()
            },
            token_pepper: Secret::new(hex::encode(pepper.as_bytes())),
            upstream: "http://x/".into(),
            plan: String::new(),
            allowance: None,
            policy_module: None,
        }
    }

    #[test]
    fn known_caller_is_found_and_unknown_is_not() {
        let p = Pepper::generate().unwrap();
        let t = generate_token().unwrap();
        let tenant = Tenant::from_bundle(&bundle(t.expose(), &p, None)).unwrap();
        assert_eq!(tenant.authenticate(t.expose(), 0).unwrap().name, "laptop");
        assert!(tenant.authenticate("shoal_other", 0).is_none());
        assert!(tenant.owner_allowed("octo-org"));
        assert!(tenant.identities[0].serves(Some("octo-org"), None));
        assert!(!tenant.identities[0].serves(Some("other"), None));
        assert_eq!(tenant.upstream, "http://x");
    }

    #[test]
    fn expired_caller_is_refused() {
        let p = Pepper::generate().unwrap();
        let exp = time::OffsetDateTime::from_unix_timestamp(1_000).unwrap();
        let tenant = Tenant::from_bundle(&bundle("shoal_a", &p, Some(exp))).unwrap();
        assert!(tenant.authenticate("shoal_a", 999_000).is_some());
        assert!(tenant.authenticate("shoal_a", 1_000_000).is_none());
    }
}
