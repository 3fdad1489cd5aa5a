//! A fake GitHub for tests, benchmarks and the offline demo: a seeded world served over real HTTP
//! with GitHub's rate limits, per-token ETags, pagination, OAuth and counters of every call.
//!
//! Map: [`world`] generates and stores the data, `derived` computes what the world does not
//! store (a pull's files and commits, reviews, comments, check runs, labels), [`state`] holds
//! tokens, buckets and stats, `api` is the request pipeline (auth, limits, conditional requests,
//! headers) and `call` the steps of it every kind of call shares (auth, charging, counting,
//! replies), `rest` the REST routes (parser, dispatch, one module per area), `render` the JSON
//! shapes, `graphql` the GraphQL executor and schema, `web` the web-host paths, `oauth` the web
//! flow, `app` GitHub App tokens, `control` the `/_fake/...` control API.
//! See `tests/fake-github/README.md` for the contract and what is faithful.

#![recursion_limit = "512"]

mod api;
mod app;
mod call;
mod control;
mod derived;
mod error;
mod faults;
mod graphql;
mod oauth;
mod render;
mod rest;
pub mod state;
pub mod stats;
mod tls;
mod web;
pub mod webhooks;
pub mod world;
mod zip;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use api::{etag_for, http_date, parse_http_date};
pub use error::FakeError;
pub use faults::Faults;
pub use graphql::sdl as graphql_sdl;
pub use state::{AccountKey, Resource};
pub use stats::{Counters, Stats, TokenStats};
pub use tls::{TlsFront, tls_front};
pub use world::{Role, Size};

/// Rate limits per window; tests lower them to exhaust buckets quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Core REST requests per hour per user account (GitHub: 5000).
    pub core: u64,
    /// Search requests per minute (GitHub: 30).
    pub search: u64,
    /// Code search requests per minute (GitHub: 10).
    pub code_search: u64,
    /// GraphQL points per hour (GitHub: 5000).
    pub graphql: u64,
    /// Core requests per hour per installation (GitHub: 5000 minimum).
    pub installation_core: u64,
    /// Unauthenticated core requests per hour per client IP (GitHub: 60).
    pub anonymous_core: u64,
    /// Unauthenticated search requests per minute per client IP (GitHub: 10).
    pub anonymous_search: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            core: 5000,
            search: 30,
            code_search: 10,
            graphql: 5000,
            installation_core: 5000,
            anonymous_core: 60,
            anonymous_search: 10,
        }
    }
}

/// How to start a fake.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// World seed.
    pub seed: u64,
    /// World size.
    pub size: Size,
    /// Rate limits.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 1,
            size: Size::Small,
            limits: Limits::default(),
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// A running fake GitHub. Dropping it stops the server.
pub struct FakeGithub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

use state::{Shared, TokenKind};

/// The axum app for a shared state (exposed for embedding).
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(control::router())
        .merge(webhooks::router())
        .route("/login/oauth/authorize", get(oauth::authorize))
        .route("/login/oauth/access_token", post(oauth::access_token))
        .fallback(api::serve)
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
        .with_state(shared)
}

impl FakeGithub {
    /// Starts a fake on `opts.listen`. Panics when the address cannot be bound (test support).
    pub async fn start(opts: Options) -> FakeGithub {
        match Self::try_start(opts).await {
            Ok(f) => f,
            Err(e) => panic!("fake GitHub failed to start: {e}"),
        }
    }

    /// Starts a fake on `opts.listen`.
    pub async fn try_start(opts: Options) -> Result<FakeGithub, StartError> {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: opts.listen,
            source,
        })?;
        let shared = Arc::new(Shared::new(opts, format!("http://{addr}")));
        let app = router(shared.clone());
        let gate = shared.clone();
        let listener = listener.tap_io(move |stream| {
            if gate.meter().faults.is_down() {
                faults::refuse(stream);
            }
        });
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "fake GitHub server stopped");
            }
        });
        Ok(FakeGithub {
            shared,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers a new PAT (`ghp_...`) for `login` (the account is created if new).
    pub fn add_token(&self, login: &str) -> String {
        self.shared
            .add_user_token(login, TokenKind::Pat, false, control::DEFAULT_SCOPES)
    }

    /// Registers a PAT for `login` that is already revoked (answers 401).
    pub fn add_revoked_token(&self, login: &str) -> String {
        self.shared
            .add_user_token(login, TokenKind::Pat, true, control::DEFAULT_SCOPES)
    }

    /// Revokes a token; later calls with it answer 401 `Bad credentials`.
    pub fn revoke(&self, token: &str) {
        self.shared.revoke(token);
    }

    /// The numeric id of a user (the N in "API rate limit exceeded for user ID N.").
    pub fn user_id(&self, login: &str) -> Option<u64> {
        self.shared.world().user(login).map(|u| u.id)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.meter().stats.clone()
    }

    /// Zeroes the counters (buckets are untouched).
    pub fn reset_stats(&self) {
        self.shared.meter().stats = Stats::default();
    }

    /// Changes a resource so its body, ETag and Last-Modified change: `what` is `pulls/N`,
    /// `issues/N`, or empty for the repo itself, and delivers the matching webhook event to the
    /// owner's registered hooks. Panics when the repo or item does not exist.
    pub fn touch(&self, repo: &str, what: &str) {
        assert!(
            webhooks::touch(&self.shared, repo, what),
            "touch: no {what:?} in {repo:?}"
        );
    }

    /// Registers a webhook for `org` (GitHub then sends it a `ping`); changes made through the
    /// control API to the org's repos are delivered to `url` signed with `secret`.
    pub fn register_hook(&self, org: &str, url: &str, secret: &str) -> u64 {
        let hook = webhooks::HookIn {
            org: org.into(),
            url: url.into(),
            secret: secret.into(),
        };
        webhooks::register(&self.shared, hook).expect("register_hook: no such org or a bad URL")
    }

    /// Every webhook delivery so far, oldest first, with the status its receiver answered.
    pub fn deliveries(&self) -> Vec<webhooks::Delivery> {
        self.shared.hooks.deliveries()
    }

    /// Forces a secondary limit on a token: every call answers `status` (403 or 429) with
    /// `retry-after: retry_after_secs` until [`FakeGithub::clear_secondary_limit`].
    pub fn set_secondary_limit(&self, token: &str, status: u16, retry_after_secs: u64) {
        assert!(
            status == 403 || status == 429,
            "secondary limit status must be 403 or 429"
        );
        self.shared.meter().secondary.insert(
            token.to_string(),
            state::SecondaryLimit {
                status,
                retry_after: retry_after_secs,
            },
        );
    }

    /// Lifts a forced secondary limit.
    pub fn clear_secondary_limit(&self, token: &str) {
        self.shared.meter().secondary.remove(token);
    }

    /// Adds `login` to `org` with `role` ("admin" or "member"); org and user are created if new.
    pub fn add_org_member(&self, org: &str, login: &str, role: &str) {
        let role = if role == "admin" { Role::Admin } else { Role::Member };
        self.shared.world_mut().add_org_member(org, login, role);
    }

    /// Chooses who approves `/login/oauth/authorize` from now on (the user is created if new).
    pub fn set_oauth_approver(&self, login: &str) {
        self.shared.world_mut().ensure_user(login);
        self.shared.auth_mut().oauth_approver = Some(login.to_string());
    }

    /// Makes authorize deny access (`error=access_denied`).
    pub fn clear_oauth_approver(&self) {
        self.shared.auth_mut().oauth_approver = None;
    }

    /// Registers an OAuth app.
    pub fn register_oauth_app(&self, client_id: &str, client_secret: &str) {
        self.shared.auth_mut().oauth_apps.insert(
            client_id.to_string(),
            state::OAuthApp {
                secret: client_secret.to_string(),
            },
        );
    }

    /// Registers a GitHub App with the public key (PEM) its JWTs must verify against.
    pub fn register_app(&self, app_id: u64, public_key_pem: &str) {
        self.shared.auth_mut().apps.insert(
            app_id,
            state::App {
                public_key_pem: public_key_pem.to_string(),
            },
        );
    }

    /// Installs an app on an org or user account; returns the installation id.
    pub fn add_installation(&self, app_id: u64, account: &str) -> u64 {
        self.shared.add_installation(app_id, account)
    }

    /// Sets injected faults (latency, 5xx rate, connection resets), replacing earlier ones.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.meter().faults.set(faults);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.shared.meter().faults.set(Faults::default());
    }

    /// Spends what is left of `login`'s `resource` bucket now and moves its reset to
    /// `reset_in_secs` from now (every identity of that account then gets GitHub's primary-limit
    /// 403 until the reset refills it). False when the login is unknown.
    pub fn exhaust(&self, login: &str, resource: Resource, reset_in_secs: u64) -> bool {
        self.shared.exhaust(login, resource, reset_in_secs)
    }

    /// Remaining units of an account's bucket (None when the login is unknown).
    pub fn remaining(&self, login: &str, resource: Resource) -> Option<u64> {
        let id = self.user_id(login)?;
        Some(
            self.shared
                .with_bucket(AccountKey::User(id), resource, |b| b.remaining()),
        )
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
