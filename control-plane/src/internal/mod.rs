//! The internal API workers talk to: `GET /internal/v1/bundle` (long-polls for a newer bundle)
//! and `POST /internal/v1/usage` (aggregated counters, idempotent by report id). Every request is
//! signed with the worker's own secret (`shoal_common::signing`); the tenant is the signing
//! worker's, never a parameter, so a worker can only ever read its own tenant's bundle.

mod auth;
mod bundle;
mod usage;

pub use bundle::build_bundle;

use crate::config::Keys;
use axum::Router;
use axum::routing::{get, post};
use shoal_common::signing::ReplayGuard;
use std::sync::Arc;
use std::time::Duration;

/// Largest usage report accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the internal API needs.
#[derive(Clone)]
pub struct InternalState {
    pub pool: sqlx::PgPool,
    pub keys: Arc<Keys>,
    /// The GitHub API base URL workers are told to use.
    pub upstream: String,
    pub replay: Arc<ReplayGuard>,
    /// How long a bundle request waits for a newer version before answering 304.
    pub long_poll: Duration,
    /// Turns true when the control plane shuts down, so long polls end at once.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

impl InternalState {
    pub fn new(pool: sqlx::PgPool, keys: Arc<Keys>, upstream: String) -> Self {
        let (_, closing) = tokio::sync::watch::channel(false);
        Self {
            pool,
            keys,
            upstream,
            replay: Arc::default(),
            long_poll: Duration::from_secs(25),
            closing,
        }
    }

    /// Ends pending long polls when `closing` turns true.
    pub fn with_closing(mut self, closing: tokio::sync::watch::Receiver<bool>) -> Self {
        self.closing = closing;
        self
    }
}

/// The routes under `/internal/v1`.
pub fn router(state: InternalState) -> Router {
    Router::new()
        .route("/internal/v1/bundle", get(bundle::get_bundle))
        .route("/internal/v1/usage", post(usage::post_usage))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
