//! The long-polling `GET /internal/v1/bundle`: a worker's bundle, now or once it changes.

use super::auth::authenticate_long_poll;
use super::long_poll::LongPoll;
use crate::Error;
use crate::db::changes::Feed;
use crate::state::AppState;
use crate::tenants::bundle::{BundleContext, build_bundle, current_version};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// `GET /internal/v1/bundle[?after=N]`: the bundle now, or once its version exceeds `after`;
/// `304` when nothing changed within the long-poll window. The version is looked at again when a
/// change is notified (see [`crate::db::changes`]), else every `long_poll_recheck`.
pub async fn get_bundle(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, Error> {
    let (worker, after) = authenticate_long_poll(&state, &headers, &uri, "bundle version").await?;
    if let Some(after) = after {
        let mut poll = LongPoll::start(&state, Feed::Bundle, worker.tenant);
        while current_version(&state.pool, worker.tenant).await? <= after {
            if !poll.again().await {
                return Ok(StatusCode::NOT_MODIFIED.into_response());
            }
        }
    }
    let upstream = state.config.github.api_url.as_str().trim_end_matches('/');
    let ctx = BundleContext {
        keys: &state.config.keys,
        upstream,
        billing: &state.config.billing,
        public_url: &state.public_url,
    };
    let bundle = build_bundle(&state.pool, &ctx, worker.tenant).await?;
    tracing::debug!(worker.id = %worker.worker, bundle.version = bundle.version, "served bundle");
    Ok(Json(bundle).into_response())
}
