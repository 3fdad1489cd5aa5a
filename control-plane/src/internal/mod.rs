//! The internal API workers talk to: `GET /internal/v1/bundle` (long-polls for a newer bundle),
//! `GET /internal/v1/events` (long-polls the tenant's webhook change feed) and
//! `POST /internal/v1/usage` (aggregated counters, idempotent by report id). Every request is
//! signed with the worker's own secret (`shoal_common::signing`); the tenant is the signing
//! worker's, never a parameter, so a worker can only ever read its own tenant's bundle and events.

mod auth;
mod bundle;
mod events;
mod long_poll;
mod usage;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// Largest usage report accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The routes under `/internal/v1`, with their own body limit.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/bundle", get(bundle::get_bundle))
        .route("/internal/v1/events", get(events::get_events))
        .route("/internal/v1/usage", post(usage::post_usage))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}
