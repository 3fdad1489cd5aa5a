//! What real gh needs from a GitHub Enterprise-style host beyond relayed reads: `GET /api/v3/`,
//! whose `X-OAuth-Scopes` gh checks before using a token. The relay answers it itself, for the
//! caller's token, with the scopes gh asks for (the caller's reads go through the pool; writes
//! stay with the caller's own gh).

use crate::classify::Layout;
use crate::headers::caller_base;
use crate::worker::Worker;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// The scopes reported to gh for a caller token (gh warns without `repo` and `read:org`).
pub const CALLER_SCOPES: &str = "repo, read:org, gist";

/// `GET /api/v3/` (and `/api/v3`): the API root, answered locally.
pub async fn api_root(State(w): State<Arc<Worker>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let tenant = w.tenant();
    if let Err(e) = super::auth::authenticate(&tenant, &parts, w.clock.now_ms()) {
        w.stats.error();
        return e.into_response();
    }
    let api = caller_base(&parts, Layout::Enterprise.prefix());
    let mut resp = Json(json!({
        "current_user_url": format!("{api}/user"),
        "rate_limit_url": format!("{api}/rate_limit"),
        "repository_url": format!("{api}/repos/{{owner}}/{{repo}}"),
        "user_url": format!("{api}/users/{{user}}"),
        "issue_search_url": format!("{api}/search/issues?q={{query}}{{&page,per_page,sort,order}}"),
    }))
    .into_response();
    let h = resp.headers_mut();
    h.insert("x-oauth-scopes", HeaderValue::from_static(CALLER_SCOPES));
    h.insert("x-accepted-oauth-scopes", HeaderValue::from_static(""));
    h.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    h.insert("x-shoal-cache", HeaderValue::from_static("BYPASS"));
    resp
}
