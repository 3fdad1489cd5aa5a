//! The worker's HTTP surface: its routes. Each file is one handler family: REST reads ([`rest`]),
//! GraphQL ([`graphql`]), the endpoints the worker answers itself ([`local`]) and the Enterprise
//! API root ([`enterprise`]); [`auth`] authenticates their callers and [`rest_memo`] remembers what
//! a REST request's head decides.

pub mod auth;
pub mod enterprise;
pub mod graphql;
pub mod local;
pub mod rest;
pub mod rest_memo;

use crate::worker::Worker;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// The worker's routes: local endpoints, GraphQL, the Enterprise API root, and every other path
/// as a REST read.
pub fn router(worker: Arc<Worker>) -> Router {
    Router::new()
        .route("/healthz", get(local::healthz))
        .route("/metrics", get(local::metrics))
        .route("/_shoal/stats", get(local::stats))
        .route("/graphql", post(graphql::graphql))
        .route("/api/graphql", post(graphql::graphql))
        .route("/api/v3", get(enterprise::api_root))
        .route("/api/v3/", get(enterprise::api_root))
        .fallback(rest::relay)
        .with_state(worker)
}
