//! HTTP routes of the control plane.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
}

pub fn router(state: AppState) -> Router {
    Router::new().route("/healthz", get(get_health)).with_state(state)
}

/// Liveness and database reachability.
async fn get_health(State(state): State<AppState>) -> Result<Json<Value>, crate::Error> {
    sqlx::query("SELECT 1").execute(&state.pool).await?;
    Ok(Json(json!({ "status": "ok", "database": "ok" })))
}
