//! The whole service in one process: Postgres (embedded when `DATABASE_URL` is unset), the
//! [`Application`] (web UI, APIs, the workers' internal API and the scheduler), and the edge on
//! HTTPS (and optionally plain HTTP).

use crate::config::Config;
use crate::edge::proxy::{EdgeState, router as edge_router};
use crate::edge::{serve, tls};
use crate::{Application, Error, db};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Runs once the database is migrated, before serving; returns lines to print (the demo's token).
pub type Seeder = Box<
    dyn FnOnce(sqlx::PgPool, Arc<Config>) -> Pin<Box<dyn Future<Output = Result<Vec<String>, Error>> + Send>> + Send,
>;

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
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
    announce(&format!("web on http://{web_addr}"));
    announce(&format!("edge on https://{edge_addr}"));
    if let Some(p) = &ca_path {
        announce(&format!(
            "ca at {}",
            std::path::absolute(p).unwrap_or(p.clone()).display()
        ));
    }
    if let Some(seed) = seeder {
        let mut seen = config.clone();
        if seen.public_url.is_none() {
            seen.public_url = url::Url::parse(&format!("http://{web_addr}/")).ok();
        }
        for line in seed(pool.clone(), Arc::new(seen)).await? {
            announce(&line);
        }
    }

    let edge = EdgeState::new(pool.clone(), &config.base_domain, "https")
        .with_control_plane(std::net::SocketAddr::from(([127, 0, 0, 1], web_addr.port())))
        .with_billing(config.billing.clone(), app.public_url().clone());
    let mut tasks = vec![tokio::spawn(serve::serve_tls(
        edge_tls,
        tls_config,
        edge_router(edge.clone()),
    ))];
    if let Some(l) = edge_plain {
        let r = edge_router(edge.with_scheme("http"));
        tasks.push(tokio::spawn(serve::serve_plain(l, r)));
    }
    app.run_until(crate::shutdown_signal()).await;
    for t in tasks {
        t.abort();
    }
    pool.close().await;
    if let Some(pg) = embedded {
        tokio::task::spawn_blocking(move || pg.stop())
            .await
            .map_err(|e| Error::Embedded(e.to_string()))??;
    }
    Ok(())
}
