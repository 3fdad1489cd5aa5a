//! The whole service in one process: Postgres (embedded when `DATABASE_URL` is unset), the web UI
//! and APIs (with the workers' internal API on the same listener), the edge on HTTPS (and
//! optionally plain HTTP), and the scheduler running one `shoal-worker` per active tenant.

use crate::config::Config;
use crate::edge::proxy::{EdgeState, router as edge_router};
use crate::edge::{serve, tls};
use crate::internal::{InternalState, router as internal_router};
use crate::scheduler::process::{Isolation, ProcessRuntime, worker_launcher};
use crate::scheduler::reconcile::Reconciler;
use crate::{Application, Error, db};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Runs once the database is migrated, before serving; returns lines to print (the demo's token).
pub type Seeder = Box<
    dyn FnOnce(sqlx::PgPool, Arc<Config>) -> Pin<Box<dyn Future<Output = Result<Vec<String>, Error>> + Send>> + Send,
>;

/// How often the scheduler compares wanted and running workers.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

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

/// Prints one line on stdout. A closed stdout (the reader went away) must not stop the server.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Serves until Ctrl-C or SIGTERM. Prints `web on http://ADDR`, `edge on https://ADDR` and, with
/// the dev CA, `ca at PATH`, each on its own line, then the seeder's lines.
pub async fn run(mut config: Config, seeder: Option<Seeder>) -> Result<(), Error> {
    let embedded = match &config.database_url {
        Some(_) => None,
        None => {
            tracing::info!(state_dir = %config.state_dir.display(), "DATABASE_URL is unset: starting embedded postgres");
            let dir = config.state_dir.clone();
            Some(
                tokio::task::spawn_blocking(move || db::embedded::EmbeddedPostgres::start(&dir))
                    .await
                    .map_err(|e| Error::Embedded(e.to_string()))??,
            )
        }
    };
    let url = match (&config.database_url, &embedded) {
        (Some(u), _) => u.clone(),
        (None, Some(pg)) => pg.url(),
        (None, None) => unreachable!("embedded postgres starts when DATABASE_URL is unset"),
    };
    let pool = db::connect_and_migrate(&url).await?;

    let edge_tls = bind(config.edge.listen).await?;
    let edge_addr = edge_tls.local_addr().map_err(Error::Serve)?;
    config.edge.public_port.get_or_insert(edge_addr.port());
    let edge_plain = match config.edge.http_listen {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let (tls_config, ca_path) = match &config.edge.tls_files {
        Some((cert, key)) => (tls::file_server_config(cert, key)?, None),
        None => {
            let ca = tls::DevCa::load_or_create(&config.state_dir.join("ca"))?;
            let path = ca.cert_path().to_path_buf();
            (tls::dev_server_config(ca, &config.base_domain)?, Some(path))
        }
    };

    let app = Application::build(&config, pool.clone()).await?;
    let web_addr = app.local_addr();
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let app = app.with_routes(internal_router(
        InternalState::new(
            pool.clone(),
            config.keys.clone(),
            config.github.api_url.as_str().trim_end_matches('/').to_string(),
        )
        .with_closing(closing_rx),
    ));
    announce(&format!("web on http://{web_addr}"));
    announce(&format!("edge on https://{edge_addr}"));
    if let Some(p) = &ca_path {
        announce(&format!(
            "ca at {}",
            std::path::absolute(p).unwrap_or(p.clone()).display()
        ));
    }
    if let Some(seed) = seeder {
        for line in seed(pool.clone(), Arc::new(config.clone())).await? {
            announce(&line);
        }
    }

    let edge = EdgeState::new(pool.clone(), &config.base_domain, "https")
        .with_control_plane(std::net::SocketAddr::from(([127, 0, 0, 1], web_addr.port())));
    let mut tasks = vec![tokio::spawn(serve::serve_tls(
        edge_tls,
        tls_config,
        edge_router(edge.clone()),
    ))];
    if let Some(l) = edge_plain {
        let r = edge_router(edge.with_scheme("http"));
        tasks.push(tokio::spawn(async move {
            if let Err(e) = serve::serve_plain(l, r).await {
                tracing::error!(error = %e, "plain edge listener stopped");
            }
        }));
    }
    let (stop_scheduler, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = match (config.edge.scheduler, worker_bin(&config)) {
        (true, Some(bin)) => {
            let internal_url = format!("http://127.0.0.1:{}", web_addr.port());
            let runtime = Arc::new(ProcessRuntime::new(
                worker_launcher(bin, internal_url),
                &config.state_dir,
                Isolation::detect().await,
            ));
            Some(tokio::spawn(
                Reconciler::new(pool.clone(), runtime, config.keys.clone(), RECONCILE_EVERY).run(stop_rx),
            ))
        }
        _ => None,
    };
    tasks.extend(crate::spawn_background(&config, pool.clone()));

    // On the signal, workers stop and long polls end first, so the web server drains at once.
    let served = app
        .run_until(async move {
            crate::shutdown_signal().await;
            let _ = closing.send(true);
            let _ = stop_scheduler.send(true);
            if let Some(s) = scheduler {
                let _ = s.await;
            }
        })
        .await;
    for t in tasks {
        t.abort();
    }
    pool.close().await;
    if let Some(pg) = embedded {
        tokio::task::spawn_blocking(move || pg.stop())
            .await
            .map_err(|e| Error::Embedded(e.to_string()))??;
    }
    served
}
