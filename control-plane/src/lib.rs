//! The control plane. `Application` wires config, database and routes; `main.rs` only parses
//! config and runs it. Pages live in `web/`, the JSON API in `api/`, sign-in in `oauth/`, the
//! database helpers in `db/`, and the domain rules in `tenants/`, `tokens/` and `identities/`.

pub mod api;
pub mod audit;
pub mod config;
pub mod db;
pub mod demo;
pub mod edge;
pub mod error;
pub mod github;
pub mod identities;
pub mod internal;
pub mod oauth;
pub mod scheduler;
pub mod service;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod web;

pub use config::Config;
pub use error::Error;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

/// A bound, ready-to-serve control plane. Tests build one on port 0.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Binds the listener and builds the routes over an already-migrated pool (the session
    /// table is created here by the session store).
    pub async fn build(config: &Config, pool: sqlx::PgPool) -> Result<Self, Error> {
        let listener = TcpListener::bind(config.listen).await.map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(Error::Serve)?;
        let public_url = match &config.public_url {
            Some(u) => u.clone(),
            None => url::Url::parse(&format!("http://{addr}/")).map_err(|e| Error::Config(e.to_string()))?,
        };
        let store = PostgresStore::new(pool.clone());
        store
            .migrate()
            .await
            .map_err(|e| Error::Config(format!("session store migration: {e}")))?;
        let sessions = SessionManagerLayer::new(store)
            .with_name(web::signed_cookie::SESSION_COOKIE)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(public_url.scheme() == "https")
            .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)));
        let state = web::AppState::new(pool, Arc::new(config.clone()), public_url);
        let signer = web::signed_cookie::CookieSigner::new(config.keys.pepper.clone());
        Ok(Self {
            listener,
            router: web::router(state)
                .layer(sessions)
                .layer(axum::middleware::from_fn_with_state(
                    signer,
                    web::signed_cookie::sign_session_cookie,
                )),
        })
    }

    /// Adds routes served on the same listener (the workers' internal API).
    pub fn with_routes(mut self, routes: axum::Router) -> Self {
        self.router = self.router.merge(routes);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        axum::serve(
            self.listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
    }
}

/// What `shoal-control-plane` does: the whole service (see [`service::run`]) until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> Result<(), Error> {
    service::run(config, None).await
}

/// The control plane's own background loops: membership re-checks and the expired-session sweeper.
fn spawn_background(config: &Config, pool: sqlx::PgPool) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks: Vec<_> = spawn_membership_recheck(config, pool.clone()).into_iter().collect();
    tasks.push(tokio::spawn(async move {
        use tower_sessions::ExpiredDeletion;
        let store = PostgresStore::new(pool);
        if let Err(e) = store
            .continuously_delete_expired(tokio::time::Duration::from_secs(3600))
            .await
        {
            tracing::warn!(error = %e, "expired-session sweeper stopped");
        }
    }));
    tasks
}

/// Re-checks every tenant's members against GitHub on the configured interval.
fn spawn_membership_recheck(config: &Config, pool: sqlx::PgPool) -> Option<tokio::task::JoinHandle<()>> {
    if config.membership_recheck.is_zero() {
        return None;
    }
    let every = config.membership_recheck;
    let keys = config.keys.clone();
    let github = github::GithubClient::new(&config.github);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = tenants::sync::recheck_all(&pool, &keys, &github).await {
                tracing::warn!(error = %e, "membership re-check failed");
            }
        }
    }))
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler works on unix");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}
