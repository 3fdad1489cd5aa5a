//! The web UI: account-level pages in [`home`], the public [`pricing`] page, pages inside one tenant in [`tenant`], the
//! operator console in [`ops`], SVG [`charts`],
//! stylesheet and the health check. Templates live in the workspace's `web/templates/`.

mod charts;
mod home;
mod ops;
mod pricing;
mod tenant;

use crate::state::AppState;
use crate::{Error, db};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// The pages, the stylesheet and `/healthz`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(get_health))
        .route("/static/app.css", get(get_stylesheet))
        .merge(home::routes())
        .merge(ops::routes())
        .merge(pricing::routes())
        .merge(tenant::routes())
}

/// Liveness and database reachability.
async fn get_health(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    db::ping(&state.pool).await?;
    Ok(Json(json!({ "status": "ok", "database": "ok" })))
}

/// The one stylesheet, compiled in.
async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../web/static/app.css"),
    )
        .into_response()
}
