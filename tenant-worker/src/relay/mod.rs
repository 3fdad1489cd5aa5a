//! The relay: the request path of a REST read. Authenticate the caller, normalise and classify
//! the path, apply the tenant policy (allowed owners, search, public-only guard), answer from the
//! cache or through the coordinator, and shape the response for the caller (filtered headers,
//! links on the caller's host and layout, the relay's own ETag, the pool's rate limit).

pub mod classify;
pub mod enterprise;
pub mod fetch;
pub mod graphql;
pub mod headers;
pub mod local;
pub mod not_found;
pub mod token_free;

use crate::error::Error;
use crate::tenant::{Caller, Tenant, bearer};
use crate::worker::Worker;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use classify::{Layout, Normalized, Resource, Route, RouteInfo, classify, normalize, split_layout};
use fetch::{FetchSpec, Served};
use std::sync::Arc;

/// What GitHub assumes when a client sends no `Accept`.
pub const DEFAULT_ACCEPT: &str = "application/vnd.github+json";
const MAX_ACCEPT: usize = 256;
/// How long a repo's visibility is trusted for the public-only guard.
pub(crate) const VISIBILITY_TTL_MS: u64 = 10 * 60 * 1000;

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

/// Authenticates the caller from `Authorization: token|Bearer ...`.
pub(crate) fn authenticate<'t>(w: &Worker, tenant: &'t Tenant, parts: &Parts) -> Result<&'t Caller, Error> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Error::Unauthenticated)?;
    let token = bearer(value).ok_or(Error::Unauthenticated)?;
    tenant
        .authenticate(token, w.clock.now_ms())
        .ok_or(Error::BadCredentials)
}

async fn handle(w: &Arc<Worker>, parts: &Parts) -> Result<Response, Error> {
    let tenant = w.tenant();
    let caller = authenticate(w, &tenant, parts)?.id;
    let head = parts.method == Method::HEAD;
    if parts.method != Method::GET && !head {
        return Err(Error::MethodNotRelayed(parts.method.to_string()));
    }
    let (layout, path) = split_layout(parts.uri.path());
    let n = normalize(path, parts.uri.query()).map_err(Error::BadRequest)?;
    let info = match classify(&n) {
        Route::Refused(why) => return Err(Error::FallbackLocal(why)),
        Route::RateLimit => return Ok(local::rate_limit(w)),
        Route::Relay(info) => info,
    };
    let info = apply_policy(w, &tenant, info, &n).await?;
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
    let spec = FetchSpec::new(n.path_and_query(), accept, api_version, info);
    let served = match token_free::lookup(w, &tenant, &spec).await {
        Some(s) => s,
        None => w.lookup(spec).await?,
    };
    w.stats.served(caller, kind, served.status);
    tracing::debug!(
        route.kind = kind,
        status = served.entry.status,
        cache = served.status.as_str(),
        "relayed"
    );
    Ok(respond(w, parts, layout, &served, head, resource))
}

/// Tenant settings: allowed owners, search, the public-only guard. Refusals answer
/// `fallback_local` so the shim reads with the caller's own credentials instead.
async fn apply_policy(
    w: &Arc<Worker>,
    tenant: &Tenant,
    mut info: RouteInfo,
    n: &Normalized,
) -> Result<RouteInfo, Error> {
    if let Some(id) = info.repo_id {
        let known = w.repo_ids.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned();
        let Some(repo) = known else {
            return Err(Error::FallbackLocal(format!(
                "repository id {id} is not known to this relay yet; read it as /repos/OWNER/REPO first"
            )));
        };
        info.owner = repo.split('/').next().map(str::to_string);
        info.repo = Some(repo);
    }
    if let Some(owner) = &info.owner
        && !tenant.owner_allowed(owner)
    {
        return Err(Error::FallbackLocal(format!(
            "owner {owner} is not among this tenant's allowed owners"
        )));
    }
    if info.kind == "search" {
        if !tenant.policy.search_allowed {
            return Err(Error::FallbackLocal("search is not enabled for this tenant".into()));
        }
        let owners = classify::search_owners(&n.query);
        if owners.is_empty() || owners.iter().any(|o| !tenant.owner_allowed(o)) {
            return Err(Error::FallbackLocal(
                "a search through the pool must be limited with repo:, org: or user: qualifiers naming allowed owners only".into(),
            ));
        }
    }
    if tenant.policy.public_only
        && let Some(repo) = info.repo.clone()
        && !is_public(w, &repo).await?
    {
        return Err(Error::FallbackLocal(format!(
            "{repo} is not public and this tenant relays public repositories only"
        )));
    }
    Ok(info)
}

/// Whether `owner/repo` is public, from the visibility learned from `/repos/{owner}/{repo}`
/// (fetched through the cache when unknown).
pub(crate) async fn is_public(w: &Arc<Worker>, repo: &str) -> Result<bool, Error> {
    let now = w.clock.now_ms();
    if let Some((public, at)) = w.visibility.lock().unwrap_or_else(|p| p.into_inner()).get(repo)
        && now < at + VISIBILITY_TTL_MS
    {
        return Ok(*public);
    }
    let path = format!("/repos/{repo}");
    let n = normalize(&path, None).map_err(Error::BadRequest)?;
    let Route::Relay(info) = classify(&n) else {
        return Err(Error::Internal);
    };
    let served = w
        .lookup(FetchSpec::new(n.path_and_query(), DEFAULT_ACCEPT.into(), None, info))
        .await?;
    let public = served.entry.status == 200
        && serde_json::from_slice::<serde_json::Value>(&served.entry.body)
            .ok()
            .is_some_and(|v| v["private"] == serde_json::Value::Bool(false));
    w.visibility
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(repo.to_string(), (public, now));
    Ok(public)
}

/// `scheme://host[:port][/api/v3]` as the caller addressed us.
fn caller_base(parts: &Parts, layout: Layout) -> String {
    let scheme = match parts
        .headers
        .get(headers::X_FORWARDED_PROTO)
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| headers::valid_host(h))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    [scheme, "://", host, layout.prefix()].concat()
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
        Body::from(e.body_for(base.get_or_insert_with(|| caller_base(parts, layout))))
    } else {
        Body::from(e.body.clone())
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    *h = e.prebuilt.clone();
    for (k, v) in &e.headers {
        if k == header::LINK || k == header::LOCATION {
            let base = base.get_or_insert_with(|| caller_base(parts, layout));
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
