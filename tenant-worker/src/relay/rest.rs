//! The REST read handler: authenticate the caller, normalise and classify the path, admit it
//! under the tenant's rules ([`crate::policy`]), answer through the fetcher (token-free when it
//! can be), and shape the response for the caller: filtered headers, links on the caller's host
//! and layout, the relay's own ETag, the pool's rate limit.

use super::answer::{Answer, Reply, settle};
use super::auth::authenticate;
use super::local;
use super::rest_memo::{self, Classified};
use crate::classify::Layout;
use crate::error::Error;
use crate::fetch::rest::FetchSpec;
use crate::fetch::{Served, token_free};
use crate::headers;
use crate::policy::{self, wasm};
use crate::route::Resource;
use crate::worker::Worker;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use std::sync::Arc;

/// Handles every request that is not a local endpoint.
pub async fn relay(State(w): State<Arc<Worker>>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    reply(&w, &parts).await.into_response()
}

/// The reply to a REST read.
pub async fn reply(w: &Arc<Worker>, parts: &Parts) -> Reply {
    settle(w, handle(w, parts).await)
}

async fn handle(w: &Arc<Worker>, parts: &Parts) -> Result<Reply, Error> {
    let tenant = w.tenant();
    let now_ms = w.clock.now_ms();
    let caller = authenticate(&tenant, parts, now_ms)?;
    let head = parts.method == Method::HEAD;
    if parts.method != Method::GET && !head {
        return Err(Error::MethodNotRelayed(parts.method.to_string()));
    }
    let classified = rest_memo::classified(&w.rest_memo, parts)?;
    let h = match &*classified {
        Classified::RateLimit => return Ok(Reply::Response(local::rate_limit(w))),
        Classified::Relay(h) => h,
    };
    let reservation = w.allowance.reserve(now_ms)?;
    // A route the rules may rewrite goes the full way; any other is admitted as remembered.
    let resolved = if policy::needs_resolving(&h.info) {
        let mut n = h.n.clone();
        let info = policy::admit_rest(
            &tenant,
            &w.knowledge,
            &w.fetcher,
            h.info.clone(),
            &mut n,
            &caller.user_login,
        )
        .await?;
        Some((n, info))
    } else {
        policy::admit_resolved_rest(&tenant, &w.fetcher, &h.info).await?;
        None
    };
    let (n, info) = resolved.as_ref().map_or((&h.n, &h.info), |(n, info)| (n, info));
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
            let facts = wasm::facts::rest(parts.method.as_str(), n, info, caller, public, default_ttl);
            wasm::decide(Some(m), &w.stats.policy_module, facts).await?
        }
    };
    let rebuilt;
    let spec = match (&resolved, &h.spec) {
        (None, Ok(spec)) => spec,
        _ => {
            let (accept, api_version) = h.accept_and_version()?;
            rebuilt = FetchSpec::new(n.path_and_query(), accept, api_version, info.clone());
            &rebuilt
        }
    };
    let want = w.fetcher.want(&parts.headers);
    let served = match token_free::lookup(&w.fetcher, &tenant, spec, want).await {
        Some(s) => s,
        None => match w.fetcher.fresh_hit(spec, want).await {
            Some(s) => s,
            None => {
                w.fetcher
                    .fetch_shared(spec.clone().with_ttl_override(ttl_override), want)
                    .await?
            }
        },
    };
    w.stats.served(caller.id, info.kind, served.status);
    w.stats.repository_read(info.repo.as_deref());
    reservation.keep();
    tracing::debug!(
        route.kind = info.kind,
        status = served.entry.status,
        cache = served.status.as_str(),
        "relayed"
    );
    Ok(Reply::Answer(respond(w, parts, h.layout, served, head, info.resource)))
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

fn respond(w: &Worker, parts: &Parts, layout: Layout, served: Served, head: bool, resource: Resource) -> Answer {
    let e = &served.entry;
    let not_modified = e.status == 200 && client_has_current(parts, &e.relay_etag);
    let status = if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY)
    };
    let pieces = headers::caller_base_pieces(parts, layout.prefix());
    let mut base: Option<String> = None;
    let body = if not_modified {
        Bytes::new()
    } else if e.rebase.is_needed() {
        e.rebase
            .remembered(&pieces)
            .unwrap_or_else(|| e.body_for(base.get_or_insert_with(|| pieces.concat())))
    } else {
        e.body.clone()
    };
    let mut links = Vec::new();
    for (k, v) in &e.headers {
        if k == header::LINK || k == header::LOCATION {
            let base = base.get_or_insert_with(|| pieces.concat());
            let text = v.to_str().unwrap_or("");
            if let Ok(v) = HeaderValue::from_str(&headers::absolutize(text, base)) {
                links.push((k.clone(), v));
            }
        }
    }
    Answer {
        status,
        length: body.len(),
        body: if head { Bytes::new() } else { body },
        etag: None,
        links,
        pool: w.coord.pool_snapshot(resource),
        resource,
        served,
    }
}
