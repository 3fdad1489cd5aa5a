//! The control plane. [`Application`] (in [`app`]) assembles it; `main.rs` only parses config
//! and runs it. The HTTP front ends are leaves: pages in `web/`, the JSON API in `api/`, sign-in
//! in `oauth/`, the workers' protocol in `internal/`, all over [`state::AppState`] and the request
//! plumbing in `http/`. They call the use cases of the domain modules (`tenants/`, `identities/`,
//! `tokens/`, `audit`), which take an [`access`] proof. `db/` holds the tenant-scoped transaction,
//! `scheduler/` runs the workers, `edge/` routes tenant hosts to them (waking sleeping ones) and
//! `metrics` counts wakes and sleeps for `/metrics`.

pub mod access;
pub mod api;
pub mod app;
pub mod audit;
pub mod billing;
pub mod config;
pub mod db;
pub mod demo;
pub mod edge;
pub mod error;
pub mod github;
pub mod hooks;
pub mod http;
pub mod identities;
pub mod internal;
pub mod metrics;
pub mod oauth;
pub mod ops;
pub mod scheduler;
pub mod service;
pub mod state;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod web;
pub mod webhooks;

pub use app::Application;
pub use config::Config;
pub use error::Error;

/// What `shoal-control-plane` does: the whole service (see [`service::run`]) until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> Result<(), Error> {
    service::run(config, None).await
}

pub(crate) async fn shutdown_signal() {
    shoal_common::shutdown::signal().await;
    tracing::info!("shutting down");
}
