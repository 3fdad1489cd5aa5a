//! The REST read handler: authenticate the caller, normalise and classify the path, admit it
//! under the tenant's rules ([`crate::policy`]), answer through the fetcher (token-free when it
//! can be), and shape the response for the caller: filtered headers, links on the caller's host
//! and layout, the relay's own ETag, the pool's rate limit.

use super::auth::authenticate;
use super::local;
use crate::classify::{Layout, Route, classify, normalize, split_layout};
use crate::error::Error;
use crate::fetch::rest::FetchSpec;
use crate::fetch::{Served, token_free};
use crate::headers::{self, DEFAULT_ACCEPT};
use crate::policy::{self, wasm};
use crate::route::Resource;
use crate::worker::Worker;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const MAX_ACCEPT: usize = 256;

/// Handles every request that is not a local endpoint.
pub async fn relay(State(w): State<Arc<Worker>>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    match handle(&w, &parts).await {
        Ok(r) => r,
        Err(e) => {
            w.stats.error();
            e.into_response()
        }
    }
}

async fn handle(w: &Arc<Worker>, parts: &Parts) -> Result<Response, Error> {
    let tenant = w.tenant();
    let caller = authenticate(&tenant, parts, w.clock.now_ms())?;
    let head = parts.method == Method::HEAD;
    if parts.method != Method::GET && !head {
        return Err(Error::MethodNotRelayed(parts.method.to_string()));
    }
    let (layout, path) = split_layout(parts.uri.path());
    let mut n = normalize(path, parts.uri.query()).map_err(Error::BadRequest)?;
    let info = match classify(&n) {
        Route::Refused(why) => return Err(Error::FallbackLocal(why)),
        Route::RateLimit => return Ok(local::rate_limit(w)),
        Route::Relay(info) => info,
    };
    let reservation = w.allowance.reserve(w.clock.now_ms())?;
    let info = policy::admit_rest(&tenant, &w.knowledge, &w.fetcher, info, &mut n, &caller.user_login).await?;
    let ttl_override = match &tenant.module {
        None => None,
        Some(m) => {
            let default_ttl = w
                .fetcher
                .ttl_ms(&tenant, info.freshness.as_str(), info.freshness.default_ttl_secs())
                / 1000;
            let public = info
                .repo
                .as_deref()
                .and_then(|r| w.knowledge.visibility(r, w.clock.now_ms()));
            let facts = wasm::facts::rest(parts.method.as_str(), &n, &info, caller, public, default_ttl);
            wasm::decide(Some(m), &w.stats.policy_module, facts).await?
        }
    };
    let accept = match parts.headers.get(header::ACCEPT).map(|v| v.to_str()) {
        // `gh api` sends an empty Accept; GitHub reads it as the default.
        None => DEFAULT_ACCEPT.to_string(),
        Some(Ok(a)) if a.trim().is_empty() => DEFAULT_ACCEPT.to_string(),
        Some(Ok(a)) if a.len() <= MAX_ACCEPT && !a.trim().is_empty() => a.trim().to_ascii_lowercase(),
        Some(_) => return Err(Error::BadRequest("the Accept header is malformed or too long".into())),
    };
    let api_version = match parts.headers.get(headers::X_GITHUB_API_VERSION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) if v.len() <= 32 => Some(v.trim().to_string()),
        Some(_) => return Err(Error::BadRequest("X-GitHub-Api-Version is malformed".into())),
    };
    let resource = info.resource;
    let kind = info.kind;
    let repository = info.repo.clone();
    let spec = FetchSpec::new(n.path_and_query(), accept, api_version, info).with_ttl_override(ttl_override);
    let want = w.fetcher.want(&parts.headers);
    let served = match token_free::lookup(&w.fetcher, &tenant, &spec, want).await {
        Some(s) => s,
        None => w.fetcher.lookup_as(spec, want).await?,
    };
    w.stats.served(caller.id, kind, served.status);
    w.stats.repository_read(repository.as_deref());
    reservation.keep();
    tracing::debug!(
        route.kind = kind,
        status = served.entry.status,
        cache = served.status.as_str(),
        "relayed"
    );
    Ok(respond(w, parts, layout, &served, head, resource))
}

fn client_has_current(parts: &Parts, etag: &HeaderValue) -> bool {
    let Some(inm) = parts.headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ours = etag.to_str().unwrap_or("");
    inm.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == ours || t.strip_prefix("W/") == Some(ours))
}

fn respond(w: &Worker, parts: &Parts, layout: Layout, served: &Served, head: bool, resource: Resource) -> Response {
    let e = &served.entry;
    let not_modified = e.status == 200 && client_has_current(parts, &e.relay_etag);
    let status = if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY)
    };
    let mut base: Option<String> = None;
    let body = if head || not_modified {
        Body::empty()
    } else if e.rebase.is_needed() {
        Body::from(e.body_for(base.get_or_insert_with(|| headers::caller_base(parts, layout.prefix()))))
    } else {
        Body::from(e.body.clone())
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    *h = e.prebuilt.clone();
    for (k, v) in &e.headers {
        if k == header::LINK || k == header::LOCATION {
            let base = base.get_or_insert_with(|| headers::caller_base(parts, layout.prefix()));
            let text = v.to_str().unwrap_or("");
            if let Ok(v) = HeaderValue::from_str(&headers::absolutize(text, base)) {
                h.append(k.clone(), v);
            }
        }
    }
    h.insert(headers::X_SHOAL_CACHE, HeaderValue::from_static(served.status.as_str()));
    headers::insert_pool(h, w.coord.pool_snapshot(resource), resource.as_str());
    resp
}
