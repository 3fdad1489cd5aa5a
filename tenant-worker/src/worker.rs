//! The worker: one tenant's serving state (bundle, cache, coordinator, upstream client, stats)
//! and the HTTP server around it. The bundle can be replaced at run time; the cache and the
//! identities' budgets survive a swap.

use crate::cache::Cache;
use crate::cache::singleflight::Flights;
use crate::clock::Clock;
use crate::config::Settings;
use crate::coordinator::Coordinator;
use crate::error::Error;
use crate::relay::fetch::FetchResult;
use crate::stats::Stats;
use crate::tenant::Tenant;
use crate::upstream::{Conditional, Upstream, UpstreamRequest};
use axum::Router;
use axum::routing::{get, post};
use shoal_common::protocol::Bundle;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Semaphore, oneshot};

/// Everything one tenant's relay needs at run time.
pub struct Worker {
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<dyn Clock>,
    tenant: RwLock<Arc<Tenant>>,
    pub(crate) cache: Cache,
    pub(crate) coord: Coordinator,
    pub(crate) upstream: Upstream,
    pub(crate) stats: Stats,
    pub(crate) flights: Flights<FetchResult>,
    /// `/repositories/{id}` → `owner/repo`, learned from responses.
    pub(crate) repo_ids: Mutex<HashMap<u64, String>>,
    /// `owner/repo` → (public, learned at ms), for the public-only guard.
    pub(crate) visibility: Mutex<HashMap<String, (bool, u64)>>,
    /// Who got each cached negative answer (see [`crate::relay::not_found`]).
    pub(crate) not_found: crate::relay::not_found::Witnesses,
    pub(crate) slots: Semaphore,
    pub(crate) waiting: AtomicUsize,
}

impl Worker {
    /// Builds a worker serving `bundle`, its cache loaded from `settings.cache_dir` when set.
    pub async fn new(settings: Settings, bundle: &Bundle, clock: Arc<dyn Clock>) -> Result<Arc<Self>, Error> {
        let tenant = Tenant::from_bundle(bundle)?;
        let coord = Coordinator::with_pacing(clock.clone(), settings.reserve_percent, settings.pacing);
        coord.sync(&tenant);
        let (max, max_entry) = (settings.cache_max_bytes, settings.cache_max_entry_bytes);
        let cache = match &settings.cache_dir {
            Some(dir) => Cache::with_disk(max, max_entry, dir, &tenant.upstream).await?,
            None => Cache::new(max, max_entry),
        };
        Ok(Arc::new(Self {
            cache,
            upstream: Upstream::new(Duration::from_secs(settings.upstream_timeout_secs)),
            slots: Semaphore::new(settings.max_upstream_concurrency.max(1)),
            waiting: AtomicUsize::new(0),
            settings,
            clock,
            tenant: RwLock::new(Arc::new(tenant)),
            coord,
            stats: Stats::default(),
            flights: Flights::default(),
            repo_ids: Mutex::new(HashMap::new()),
            visibility: Mutex::new(HashMap::new()),
            not_found: Default::default(),
        }))
    }

    /// The tenant state in force now.
    pub fn tenant(&self) -> Arc<Tenant> {
        self.tenant.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the bundle (new caller tokens, identities, policy) without dropping the cache.
    pub fn swap_bundle(&self, bundle: &Bundle) -> Result<(), Error> {
        let tenant = Tenant::from_bundle_keeping(bundle, &self.tenant())?;
        self.coord.sync(&tenant);
        *self.tenant.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tenant);
        Ok(())
    }

    /// The coordinator (budgets and identity health).
    pub fn coordinator(&self) -> &Coordinator {
        &self.coord
    }

    /// Learns each identity's GitHub account with `GET /user`, for identities whose account is
    /// not known, so tokens of one user share one budget. A 401 quarantines the identity.
    pub async fn discover_accounts(&self) {
        let tenant = self.tenant();
        for ident in tenant.identities.iter().filter(|i| i.account.is_none() && i.enabled) {
            let Some(authz) = ident.authorization() else { continue };
            let url = format!("{}/user", tenant.upstream);
            let resp = self
                .upstream
                .get(UpstreamRequest {
                    url: &url,
                    authorization: &authz,
                    accept: "application/vnd.github+json",
                    api_version: None,
                    conditional: Conditional::None,
                })
                .await;
            let resource = crate::relay::classify::Resource::Core;
            match resp {
                Ok(r) if r.status == 200 => {
                    self.stats.upstream(ident.id, resource, 200, false);
                    let login = serde_json::from_slice::<serde_json::Value>(&r.body)
                        .ok()
                        .and_then(|v| v["login"].as_str().map(str::to_string));
                    if let Some(login) = login {
                        tracing::info!(identity.name = %ident.name, account = %login, "identity account learned");
                        self.coord.set_account(ident.id, &login);
                    }
                }
                Ok(r) if r.status == 401 => {
                    self.stats.upstream(ident.id, resource, 401, false);
                    tracing::warn!(identity.name = %ident.name, "GitHub answered 401 for /user: identity quarantined");
                    self.coord
                        .quarantine(ident.id, "GitHub answered 401: the credential is revoked or invalid");
                }
                Ok(r) => {
                    self.stats.upstream(ident.id, resource, r.status, false);
                    tracing::warn!(identity.name = %ident.name, status = r.status, "could not learn the identity's account");
                }
                Err(reason) => {
                    self.stats.upstream(ident.id, resource, 0, false);
                    tracing::warn!(identity.name = %ident.name, %reason, "could not learn the identity's account");
                }
            }
        }
    }

    /// The HTTP routes.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/healthz", get(crate::relay::local::healthz))
            .route("/metrics", get(crate::relay::local::metrics))
            .route("/_shoal/stats", get(crate::relay::local::stats))
            .route("/graphql", post(crate::relay::graphql::graphql))
            .route("/api/graphql", post(crate::relay::graphql::graphql))
            .route("/api/v3", get(crate::relay::enterprise::api_root))
            .route("/api/v3/", get(crate::relay::enterprise::api_root))
            .fallback(crate::relay::relay)
            .with_state(self.clone())
    }
}

/// A running server.
pub struct Running {
    /// The bound address (port 0 resolved).
    pub addr: SocketAddr,
    pub worker: Arc<Worker>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the cache's disk writes.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.worker.cache.flush().await;
    }
}

/// Binds `listen` and serves the worker until shut down.
pub async fn serve(worker: Arc<Worker>, listen: SocketAddr) -> Result<Running, Error> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot read the bound address: {e}")))?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = worker.router();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    Ok(Running {
        addr,
        worker,
        shutdown: Some(tx),
        task,
    })
}
