//! The control plane. `Application` wires config, database and routes; `main.rs` only parses
//! config and runs it. Pages live in `web/`, the database in `db/`.

pub mod audit;
pub mod config;
pub mod db;
pub mod edge;
pub mod error;
pub mod github;
pub mod identities;
pub mod internal;
pub mod scheduler;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod web;

pub use config::Config;
pub use error::Error;

use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A bound, ready-to-serve control plane. Tests build one on port 0.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Binds the listener and builds the routes over an already-migrated pool.
    pub async fn build(config: &Config, pool: sqlx::PgPool) -> Result<Self, Error> {
        let listener = TcpListener::bind(config.listen).await.map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        Ok(Self {
            listener,
            router: web::router(web::AppState { pool }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Serve)
    }
}

/// What `shoal-control-plane` does: start the embedded Postgres when there is no `DATABASE_URL`,
/// migrate, serve until Ctrl-C or SIGTERM, then stop Postgres. Prints `web on http://ADDR` once ready.
pub async fn run(config: Config) -> Result<(), Error> {
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
    let app = Application::build(&config, pool.clone()).await?;
    println!("web on http://{}", app.local_addr());
    let served = app.run_until(shutdown_signal()).await;
    pool.close().await;
    if let Some(pg) = embedded {
        tokio::task::spawn_blocking(move || pg.stop())
            .await
            .map_err(|e| Error::Embedded(e.to_string()))??;
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler works on unix");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}
