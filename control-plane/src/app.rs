//! The assembled control plane: [`Application`] binds the listener, puts every router together
//! (pages, sign-in, the JSON API, the workers' internal API and GitHub's webhook deliveries) over
//! one [`AppState`], behind sessions and security headers, and runs the background tasks
//! (membership re-checks, the expired-session sweeper, the scheduler).

use crate::billing::{Stripe, meter};
use crate::config::{Config, SchedulerConfig};
use crate::github::GithubClient;
use crate::http::session::{SESSION_COOKIE, cookie_key};
use crate::scheduler::WorkerRuntime;
use crate::scheduler::kubernetes::KubernetesRuntime;
use crate::scheduler::process::{Isolation, ProcessRuntime, worker_launcher};
use crate::scheduler::reconcile::Reconciler;
use crate::state::AppState;
use crate::tenants::sync;
use crate::{Error, api, hooks, internal, metrics, oauth, web};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;
use url::Url;

/// Largest request body accepted by pages and the JSON API (forms and JSON; an App private key
/// is a few KiB). The internal API has its own limit.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How often the scheduler compares wanted and running workers.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// A bound, ready-to-serve control plane with its background tasks running. Tests build one on
/// port 0.
pub struct Application {
    listener: TcpListener,
    router: Router,
    closing: watch::Sender<bool>,
    scheduler: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    tasks: Vec<JoinHandle<()>>,
    public_url: Url,
}

impl Application {
    /// Binds the listener, builds every route over an already-migrated pool (the session table is
    /// created here by the session store) and starts the background tasks.
    pub async fn build(config: &Config, pool: sqlx::PgPool) -> Result<Self, Error> {
        let listener = TcpListener::bind(config.listen).await.map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(Error::Serve)?;
        let public_url = match &config.public_url {
            Some(u) => u.clone(),
            None => Url::parse(&format!("http://{addr}/")).map_err(|e| Error::Config(e.to_string()))?,
        };
        let store = PostgresStore::new(pool.clone());
        store
            .migrate()
            .await
            .map_err(|e| Error::Config(format!("session store migration: {e}")))?;
        let sessions = SessionManagerLayer::new(store)
            .with_name(SESSION_COOKIE)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(public_url.scheme() == "https")
            .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)))
            .with_signed(cookie_key(&config.keys.pepper));
        let (closing, closing_rx) = watch::channel(false);
        let state = AppState::new(
            pool.clone(),
            Arc::new(config.clone()),
            public_url.clone(),
            closing_rx.clone(),
        )?;
        let stripe = state.stripe.clone();
        let changes = state.changes.clone();
        let public = Router::new()
            .merge(web::routes())
            .merge(oauth::routes())
            .merge(api::routes())
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(middleware::from_fn(security_headers))
            .layer(sessions);
        let router = public
            .route("/metrics", axum::routing::get(metrics::get_metrics))
            .merge(internal::routes())
            .merge(hooks::routes())
            .with_state(state);
        let internal_url = format!("http://127.0.0.1:{}", addr.port());
        let scheduler = spawn_scheduler(config, &pool, internal_url).await?;
        let listen_pool = pool.clone();
        let mut tasks = spawn_background(config, pool, stripe);
        tasks.push(tokio::spawn(
            async move { changes.listen(listen_pool, closing_rx).await },
        ));
        Ok(Self {
            listener,
            router,
            closing,
            scheduler,
            tasks,
            public_url,
        })
    }

    /// The URL browsers reach the control plane at (`SHOAL_PUBLIC_URL`, else the bound address).
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves. Then pending long polls end and the scheduler stops its
    /// workers (which send their last usage reports) before the server drains.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let Self {
            listener,
            router,
            closing,
            scheduler,
            tasks,
            ..
        } = self;
        shoal_common::serve::serve(listener, router, async move {
            shutdown.await;
            let _ = closing.send(true);
            if let Some((stop, task)) = scheduler {
                let _ = stop.send(true);
                let _ = task.await;
            }
        })
        .await;
        for t in tasks {
            t.abort();
        }
    }
}

/// No inline script anywhere (there is no script at all), no framing, no sniffing, no referrer
/// (OAuth codes are in our URLs), and no caching of pages that may show a token once.
async fn security_headers(req: Request<axum::body::Body>, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A page may widen form-action itself (the billing page posts forms that lead to Stripe).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The `shoal-worker` binary: configured, or next to this executable.
fn worker_bin(config: &Config) -> Option<PathBuf> {
    let bin = config.edge.worker_bin.clone().or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("shoal-worker")))
    })?;
    if bin.exists() {
        Some(bin)
    } else {
        tracing::warn!(bin = %bin.display(), "shoal-worker not found (build it, or set SHOAL_WORKER_BIN): no tenant workers will run");
        None
    }
}

/// A running scheduler: its stop signal and its task.
type Scheduler = (watch::Sender<bool>, JoinHandle<()>);

/// The scheduler running one `shoal-worker` per active tenant on the configured backend, when it is
/// on; local workers reach the internal API at `internal_url`.
async fn spawn_scheduler(
    config: &Config,
    pool: &sqlx::PgPool,
    internal_url: String,
) -> Result<Option<Scheduler>, Error> {
    Ok(match &config.edge.scheduler {
        SchedulerConfig::Off => None,
        SchedulerConfig::Process => match worker_bin(config) {
            None => None,
            Some(bin) => {
                let launcher = worker_launcher(bin, internal_url);
                let runtime = ProcessRuntime::new(launcher, &config.state_dir, Isolation::detect().await);
                Some(spawn_reconciler(config, pool, runtime))
            }
        },
        SchedulerConfig::Kubernetes(k8s) => {
            let client = kube::Client::try_default().await.map_err(|e| {
                Error::Config(format!(
                    "SHOAL_SCHEDULER=kubernetes: no access to the Kubernetes API (in-cluster service account or KUBECONFIG): {e}"
                ))
            })?;
            Some(spawn_reconciler(
                config,
                pool,
                KubernetesRuntime::new(client, k8s.clone()),
            ))
        }
    })
}

fn spawn_reconciler<R: WorkerRuntime>(config: &Config, pool: &sqlx::PgPool, runtime: R) -> Scheduler {
    let (stop, stop_rx) = watch::channel(false);
    let reconciler = Reconciler::new(pool.clone(), Arc::new(runtime), config.keys.clone(), RECONCILE_EVERY)
        .with_billing(config.billing.clone())
        .with_idle(config.edge.worker_idle);
    (stop, tokio::spawn(reconciler.run(stop_rx)))
}

/// The control plane's own loops: membership re-checks, the expired-session sweeper, pruning of
/// old usage and, with
/// billing on, metered overage reporting.
fn spawn_background(config: &Config, pool: sqlx::PgPool, stripe: Option<Stripe>) -> Vec<JoinHandle<()>> {
    let mut tasks: Vec<_> = spawn_membership_recheck(config, pool.clone()).into_iter().collect();
    if let Some(stripe) = stripe {
        let billing = &config.billing;
        tasks.push(tokio::spawn(meter::run(
            pool.clone(),
            stripe,
            billing.meter_event_name.clone(),
            billing.meter_every,
        )));
    }
    tasks.push(tokio::spawn(crate::tenants::usage::retention::run(
        pool.clone(),
        std::time::Duration::from_secs(3600),
    )));
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
fn spawn_membership_recheck(config: &Config, pool: sqlx::PgPool) -> Option<JoinHandle<()>> {
    if config.membership_recheck.is_zero() {
        return None;
    }
    let every = config.membership_recheck;
    let keys = config.keys.clone();
    let github = GithubClient::new(&config.github);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = sync::recheck_all(&pool, &keys, &github).await {
                tracing::warn!(error = %e, "membership re-check failed");
            }
        }
    }))
}
