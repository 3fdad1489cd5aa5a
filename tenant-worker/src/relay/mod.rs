//! The worker's HTTP surface: its routes. Each file is one handler family: REST reads ([`rest`]),
//! GraphQL ([`graphql`]), the endpoints the worker answers itself ([`local`]) and the Enterprise
//! API root ([`enterprise`]); [`auth`] authenticates their callers and [`rest_memo`] remembers what
//! a REST request's head decides.

pub mod answer;
pub mod auth;
pub mod enterprise;
pub mod graphql;
pub mod local;
pub mod rest;
pub mod rest_memo;

use crate::worker::Worker;
use axum::Router;
use axum::http::Method;
use axum::routing::{get, post};
use std::sync::Arc;

const GRAPHQL: [&str; 2] = ["/graphql", "/api/graphql"];
const API_ROOT: [&str; 2] = ["/api/v3", "/api/v3/"];
const LOCAL: [&str; 3] = ["/healthz", "/metrics", "/_shoal/stats"];

/// The worker's routes: local endpoints, GraphQL, the Enterprise API root, and every other path
/// as a REST read.
pub fn router(worker: Arc<Worker>) -> Router {
    let mut r = Router::new()
        .route(LOCAL[0], get(local::healthz))
        .route(LOCAL[1], get(local::metrics))
        .route(LOCAL[2], get(local::stats));
    for path in GRAPHQL {
        r = r.route(path, post(graphql::graphql));
    }
    for path in API_ROOT {
        r = r.route(path, get(enterprise::api_root));
    }
    r.fallback(rest::relay).with_state(worker)
}

/// Which handler [`router`] gives a request, for a caller that calls the relay's handlers
/// directly ([`crate::server::http1`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Handler {
    /// [`rest::reply`].
    Rest,
    /// [`graphql::reply`].
    Graphql,
    /// Another route: only the router answers it.
    Router,
}

/// The [`Handler`] of a request with `method` and `path`.
pub fn handler(method: &Method, path: &str) -> Handler {
    let routed = |p: &str| GRAPHQL.contains(&p) || API_ROOT.contains(&p) || LOCAL.contains(&p);
    match *method {
        Method::GET | Method::HEAD if !routed(path) => Handler::Rest,
        Method::POST if GRAPHQL.contains(&path) => Handler::Graphql,
        _ => Handler::Router,
    }
}
