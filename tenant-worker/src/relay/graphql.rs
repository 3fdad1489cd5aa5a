//! The GraphQL relay (`POST /graphql`, `POST /api/graphql`): authenticate the caller, classify the
//! body with a real parser, refuse what must stay with the caller's own gh (`fallback_local`:
//! mutations, subscriptions, `viewer` beyond its login, roots outside the tenant's owners),
//! answer `viewer { login }` with the caller's login, and serve queries from the cache or one
//! coalesced upstream call on the pooled identity with the most GraphQL points left. The call
//! reserves the query's estimated points; GitHub's answer replaces the estimate. An answer with a
//! `NOT_FOUND` or `FORBIDDEN` error may only mean the identity cannot see a private repo: it is
//! served from the cache under the rule of [`super::not_found`].

use crate::cache::{Entry, relay_etag};
use crate::coordinator::{Ask, Verdict};
use crate::error::Error;
use crate::graphql::{Classified, Operation, classify};
use crate::relay::classify::{Freshness, Resource};
use crate::relay::fetch::{FetchResult, Served};
use crate::relay::headers;
use crate::tenant::Tenant;
use crate::worker::Worker;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use shoal_common::IdentityId;
use shoal_common::protocol::CacheStatus;
use std::sync::Arc;

/// Largest GraphQL request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Default TTL of a GraphQL answer: queries read PR, issue and check state (the fast class).
/// A tenant overrides it with the `graphql` TTL key.
pub const DEFAULT_TTL_SECS: u64 = 20;
/// Introspection answers change only with GitHub's schema (gh itself keeps them 24 h).
pub const INTROSPECTION_TTL_SECS: u64 = 24 * 3600;
const JSON: &str = "application/json; charset=utf-8";

/// Handles `POST /graphql` and `POST /api/graphql`.
pub async fn graphql(State(w): State<Arc<Worker>>, req: Request) -> Response {
    match handle(&w, req).await {
        Ok(r) => r,
        Err(e) => {
            w.stats.error();
            e.into_response()
        }
    }
}

async fn handle(w: &Arc<Worker>, req: Request) -> Result<Response, Error> {
    let (parts, body) = req.into_parts();
    let tenant = w.tenant();
    let caller = super::authenticate(w, &tenant, &parts)?;
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Error::BadRequest(format!("the GraphQL body is larger than {MAX_BODY_BYTES} bytes")))?;
    let c = classify(&body).map_err(|e| Error::BadRequest(e.to_string()))?;
    tracing::debug!(key = &c.cache_key[..12], roots = ?c.root_fields, op = ?c.operation_name, "graphql request");
    if c.operation != Operation::Query {
        return Err(Error::FallbackLocal(
            "fallback_local: GraphQL mutations and subscriptions are never sent with pooled identities; send them with your own credentials".into(),
        ));
    }
    if c.reads_viewer() {
        if c.viewer_login_only && !caller.user_login.is_empty() {
            w.stats.served(caller.id, "graphql", CacheStatus::Bypass);
            return Ok(viewer_login(&c, &caller.user_login));
        }
        return Err(Error::FallbackLocal(
            "fallback_local: this query reads viewer, whose answer depends on who asks; send it with your own credentials".into(),
        ));
    }
    if c.viewer_login_merged && caller.user_login.is_empty() {
        return Err(Error::FallbackLocal(
            "fallback_local: this query reads viewer and the caller's login is not known here; send it with your own credentials".into(),
        ));
    }
    let scope = check_roots(w, &tenant, &c).await?;
    let ttl_secs = if c.is_introspection() {
        tenant
            .policy
            .ttl_overrides
            .get("introspection")
            .copied()
            .unwrap_or(INTROSPECTION_TTL_SECS)
    } else {
        tenant
            .policy
            .ttl_overrides
            .get("graphql")
            .copied()
            .unwrap_or(DEFAULT_TTL_SECS)
    };
    // Only the operation that runs goes upstream, re-printed from the parse.
    let mut upstream_body = json!({ "query": c.executed, "variables": c.variables });
    if let Some(name) = &c.operation_name {
        upstream_body["operationName"] = json!(name);
    }
    let body = Bytes::from(serde_json::to_vec(&upstream_body).map_err(|_| Error::Internal)?);
    let spec = GraphqlSpec {
        key: format!("POST /graphql\n{}", c.cache_key).into(),
        body,
        owner: scope.0,
        repo: scope.1,
        ttl_ms: ttl_secs.saturating_mul(1000),
        freshness: if c.is_introspection() {
            Freshness::Meta
        } else {
            Freshness::Fast
        },
        cost: c.cost,
    };
    let served = lookup(w, spec).await?;
    w.stats.served(caller.id, "graphql", served.status);
    tracing::debug!(
        route.kind = "graphql",
        cache = served.status.as_str(),
        introspection = c.is_introspection(),
        key = &c.cache_key[..12],
        "graphql request answered"
    );
    let viewer = c
        .viewer_login_merged
        .then(|| viewer_json(&caller.user_login, c.viewer_typename));
    Ok(respond(w, &served, viewer))
}

fn viewer_json(login: &str, typename: bool) -> Value {
    let mut viewer = json!({ "login": login });
    if typename {
        viewer["__typename"] = json!("User");
    }
    viewer
}

/// `{"data": {"viewer": {"login": ...}}}` for the caller, never a pooled identity.
fn viewer_login(c: &Classified, login: &str) -> Response {
    let viewer = viewer_json(login, c.viewer_typename);
    let mut resp = (StatusCode::OK, axum::Json(json!({ "data": { "viewer": viewer } }))).into_response();
    resp.headers_mut()
        .insert("x-shoal-cache", HeaderValue::from_static("BYPASS"));
    resp
}

/// Checks every root field against the tenant policy and returns the (owner, repo) an identity
/// must be scoped for: one repository or owner when the query names exactly one, else none
/// (then only unscoped identities serve it).
async fn check_roots(
    w: &Arc<Worker>,
    tenant: &Tenant,
    c: &Classified,
) -> Result<(Option<String>, Option<String>), Error> {
    let mut owners: Vec<String> = Vec::new();
    let mut repos: Vec<String> = Vec::new();
    for call in &c.root_calls {
        match call.name.as_str() {
            n if n.starts_with("__") => {}
            "rateLimit" => {}
            "repository" => {
                let (Some(owner), Some(name)) = (call.arg_lower("owner"), call.arg_lower("name")) else {
                    return Err(Error::BadRequest(
                        "repository needs owner and name arguments (literals or variables)".into(),
                    ));
                };
                if !tenant.owner_allowed(&owner) {
                    return Err(Error::FallbackLocal(format!(
                        "fallback_local: owner {owner} is not among this tenant's allowed owners"
                    )));
                }
                owners.push(owner.clone());
                repos.push(format!("{owner}/{name}"));
            }
            "search" => {
                if !tenant.policy.search_allowed {
                    return Err(Error::FallbackLocal(
                        "fallback_local: search is not enabled for this tenant".into(),
                    ));
                }
                let q = call.args.get("query").and_then(Value::as_str).unwrap_or("");
                let named = search_owners(q);
                if named.is_empty() || named.iter().any(|o| !tenant.owner_allowed(o)) {
                    return Err(Error::FallbackLocal(
                        "fallback_local: a search through the pool must be limited with repo:, org: or user: qualifiers naming allowed owners only".into(),
                    ));
                }
                owners.extend(named);
            }
            other => {
                return Err(Error::FallbackLocal(format!(
                    "fallback_local: the GraphQL root field {other} is not relayed through pooled identities; use your own credentials"
                )));
            }
        }
    }
    if tenant.policy.public_only {
        for repo in &repos {
            if !super::is_public(w, repo).await? {
                return Err(Error::FallbackLocal(format!(
                    "fallback_local: {repo} is not public and this tenant relays public repositories only"
                )));
            }
        }
    }
    owners.sort();
    owners.dedup();
    repos.sort();
    repos.dedup();
    Ok(match (owners.as_slice(), repos.as_slice()) {
        ([owner], [repo]) => (Some(owner.clone()), Some(repo.clone())),
        ([owner], []) => (Some(owner.clone()), None),
        _ => (None, None),
    })
}

/// Owners named by `repo:`, `org:`, `user:` or `owner:` qualifiers of a search string.
fn search_owners(q: &str) -> Vec<String> {
    q.split_whitespace()
        .filter_map(|term| {
            let (k, v) = term.trim_start_matches('-').split_once(':')?;
            let v = v.trim_matches('"');
            match k.to_ascii_lowercase().as_str() {
                "repo" => v.split('/').next().map(str::to_ascii_lowercase),
                "org" | "user" | "owner" => Some(v.to_ascii_lowercase()),
                _ => None,
            }
        })
        .collect()
}

/// One cacheable GraphQL query.
struct GraphqlSpec {
    key: Arc<str>,
    body: Bytes,
    owner: Option<String>,
    repo: Option<String>,
    ttl_ms: u64,
    freshness: Freshness,
    /// Points the query is expected to cost.
    cost: u64,
}

/// Identities that got the negative answer cached as `e`, `None` for any other answer.
fn negative_seen(w: &Worker, spec: &GraphqlSpec, e: &Entry) -> Option<Vec<IdentityId>> {
    w.not_found.of(&spec.key, e)
}

/// Whether a fresh cached answer may be served as is (see [`super::not_found`]).
fn settled(w: &Worker, spec: &GraphqlSpec, e: &Entry) -> bool {
    negative_seen(w, spec, e).is_none_or(|seen| w.negative_settled(&seen, spec.owner.as_deref(), spec.repo.as_deref()))
}

async fn lookup(w: &Arc<Worker>, spec: GraphqlSpec) -> FetchResult {
    let now = w.clock.now_ms();
    if let Some(e) = w.cache.get(&spec.key).await
        && e.is_fresh(now)
        && settled(w, &spec, &e)
    {
        return Ok(Served {
            entry: e,
            status: CacheStatus::Hit,
        });
    }
    let w2 = w.clone();
    let key = spec.key.clone();
    let (res, leader) = w
        .flights
        .run(key, move || async move { fetch(w2, spec).await }, Err(Error::Internal))
        .await;
    if !leader {
        w.stats.coalesced();
    }
    res
}

fn stale_or(w: &Worker, cached: Option<Arc<Entry>>, err: Error) -> FetchResult {
    let now = w.clock.now_ms();
    match cached {
        Some(e) if e.status == 200 && e.within_stale_bound(now, w.settings.stale_max_secs * 1000) => Ok(Served {
            entry: e,
            status: CacheStatus::Stale,
        }),
        _ => Err(err),
    }
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Points GitHub charged for one answer: `rateLimit.cost` when the query asked for it, else the
/// drop in `x-ratelimit-remaining` within the same window, else 1. (Concurrent calls on one
/// account can blur the header estimate; the body's figure is exact.)
pub fn points_charged(body: &Value, headers: &HeaderMap, before: Option<(u64, u64)>) -> u64 {
    if let Some(cost) = body.pointer("/data/rateLimit/cost").and_then(Value::as_u64) {
        return cost;
    }
    let remaining = header_u64(headers, "x-ratelimit-remaining");
    let reset_ms = header_u64(headers, "x-ratelimit-reset").map(|s| s * 1000);
    match (before, remaining, reset_ms) {
        (Some((prev, prev_reset)), Some(now), Some(reset)) if prev_reset == reset && prev >= now => (prev - now).max(1),
        _ => 1,
    }
}

/// An answer that may depend on which identity asked: something not found or forbidden.
fn negative(body: &Value) -> bool {
    body.get("errors").and_then(Value::as_array).is_some_and(|errs| {
        errs.iter()
            .any(|e| e["type"] == "NOT_FOUND" || e["type"] == "FORBIDDEN")
    })
}

fn rate_limited(body: &Value) -> bool {
    body.get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errs| errs.iter().any(|e| e["type"] == "RATE_LIMITED"))
}

async fn fetch(w: Arc<Worker>, spec: GraphqlSpec) -> FetchResult {
    let now = w.clock.now_ms();
    let cached = w.cache.get(&spec.key).await;
    if let Some(e) = &cached
        && e.is_fresh(now)
        && settled(&w, &spec, e)
    {
        return Ok(Served {
            entry: e.clone(),
            status: CacheStatus::Hit,
        });
    }
    // A fresh negative answer not yet confirmed by every eligible identity: ask one that has not.
    let fresh_negative = cached.as_ref().filter(|e| e.is_fresh(now)).cloned();
    let seen = fresh_negative
        .as_deref()
        .and_then(|e| negative_seen(&w, &spec, e))
        .unwrap_or_default();
    let tenant = w.tenant();
    let url = format!("{}/graphql", graphql_base(&tenant.upstream));
    let mut exclude = seen.clone();
    let mut retry_after = 60;
    for _attempt in 0..3 {
        let ask = Ask {
            cost: spec.cost,
            exclude: &exclude,
            ..Ask::one(Resource::Graphql, spec.owner.as_deref(), spec.repo.as_deref())
        };
        // With a fresh answer in hand there is no waiting for another opinion.
        let lease = if fresh_negative.is_some() {
            w.coord.acquire(&ask)
        } else {
            w.coord.acquire_paced(&ask).await
        };
        let lease = match lease {
            Ok(l) => l,
            Err(nb) => {
                if let Some(e) = fresh_negative {
                    return Ok(Served {
                        entry: e,
                        status: CacheStatus::Hit,
                    });
                }
                return stale_or(
                    &w,
                    cached,
                    Error::PoolExhausted {
                        retry_after_secs: nb.retry_after_secs,
                    },
                );
            }
        };
        let id = lease.identity;
        let Some(ident) = tenant.identity(id) else {
            exclude.push(id);
            continue;
        };
        let Ok(authz) = w.authorization(ident).await else {
            exclude.push(id);
            continue;
        };
        let before = w.coord.remaining(id, Resource::Graphql);
        let resp = match w.upstream.post_json(&url, &authz, spec.body.clone()).await {
            Ok(r) => r,
            Err(reason) => {
                drop(lease);
                w.stats.upstream(id, Resource::Graphql, 0, false);
                tracing::warn!(identity.name = %ident.name, %reason, "upstream GraphQL call failed");
                return stale_or(&w, cached, Error::Upstream(reason));
            }
        };
        let parsed: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let limited = resp.status == 200 && rate_limited(&parsed);
        let reported = parsed.pointer("/data/rateLimit/cost").and_then(Value::as_u64);
        tracing::debug!(identity.name = %ident.name, estimated = lease.cost, charged = ?reported, "graphql points");
        let verdict = w.coord.observe(lease, resp.status, &resp.headers, reported);
        if limited || verdict == Verdict::TryAnother {
            w.stats.upstream(id, Resource::Graphql, resp.status.max(403), true);
            tracing::info!(identity.name = %ident.name, status = resp.status, "identity out of GraphQL points or refused; trying another");
            if resp.status == 401 {
                w.unauthorized(ident).await;
            }
            if let Some(s) = header_u64(&resp.headers, "retry-after") {
                retry_after = s;
            }
            exclude.push(id);
            continue;
        }
        if resp.status == 200 {
            let points = points_charged(&parsed, &resp.headers, before);
            w.stats.upstream_units(id, Resource::Graphql, points);
        } else {
            w.stats.upstream(id, Resource::Graphql, resp.status, false);
        }
        if resp.status >= 500 {
            return stale_or(&w, cached, Error::Upstream(format!("GitHub answered {}", resp.status)));
        }
        let ttl_ms = if resp.status == 200 { spec.ttl_ms } else { 0 };
        let content_type = resp
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(JSON));
        let entry = Arc::new(
            Entry {
                status: resp.status,
                relay_etag: relay_etag(resp.status, "graphql", &resp.body),
                headers: vec![(header::CONTENT_TYPE, content_type)],
                body: resp.body,
                validated_ms: now,
                ttl_ms,
                freshness: spec.freshness,
                last_modified: None,
                etags: Vec::new(),
                prebuilt: HeaderMap::new(),
                rebase: Default::default(),
            }
            .prebuild(),
        );
        let status = if ttl_ms > 0 && w.cache.insert(spec.key.clone(), entry.clone()).await {
            if negative(&parsed) {
                let mut seen = seen;
                seen.push(id);
                w.not_found.record(&spec.key, &entry, seen, now);
            } else {
                w.not_found.forget(&spec.key);
            }
            CacheStatus::Miss
        } else {
            CacheStatus::Bypass
        };
        return Ok(Served { entry, status });
    }
    stale_or(
        &w,
        cached,
        Error::PoolExhausted {
            retry_after_secs: retry_after,
        },
    )
}

/// GitHub serves GraphQL at `https://api.github.com/graphql`, GHES at `https://HOST/api/graphql`
/// (its REST base being `https://HOST/api/v3`).
pub fn graphql_base(upstream: &str) -> String {
    match upstream.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api"),
        None => upstream.to_string(),
    }
}

/// The answer for the caller; `viewer` (the caller's own) is added to `data` when the query
/// asked for it beside pooled fields.
fn respond(w: &Worker, served: &Served, viewer: Option<Value>) -> Response {
    let e = &served.entry;
    let mut etag = e.relay_etag.clone();
    let body = match viewer {
        Some(viewer) => {
            let mut v: Value = serde_json::from_slice(&e.body).unwrap_or(Value::Null);
            if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
                data.insert("viewer".into(), viewer);
            }
            let bytes = Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
            etag = relay_etag(e.status, "graphql", &bytes);
            bytes
        }
        None => e.body.clone(),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = resp.headers_mut();
    for (k, v) in &e.headers {
        h.insert(k.clone(), v.clone());
    }
    h.insert(header::ETAG, etag);
    h.insert(headers::X_SHOAL_CACHE, HeaderValue::from_static(served.status.as_str()));
    headers::insert_pool(h, w.coord.pool(Resource::Graphql), Resource::Graphql.as_str());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_base_follows_the_rest_layout() {
        assert_eq!(graphql_base("https://api.github.com"), "https://api.github.com");
        assert_eq!(graphql_base("https://ghe.example/api/v3"), "https://ghe.example/api");
    }

    #[test]
    fn points_come_from_the_body_then_the_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("4990"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("100"));
        assert_eq!(
            points_charged(&json!({"data": {"rateLimit": {"cost": 7}}}), &h, None),
            7
        );
        assert_eq!(points_charged(&json!({}), &h, Some((4993, 100_000))), 3);
        assert_eq!(points_charged(&json!({}), &h, Some((5000, 0))), 1, "unknown window");
    }

    #[test]
    fn search_qualifiers_name_owners() {
        assert_eq!(
            search_owners("is:pr repo:Octo-Org/hello-world author:x org:other"),
            vec!["octo-org", "other"]
        );
        assert!(search_owners("hello").is_empty());
    }
}
