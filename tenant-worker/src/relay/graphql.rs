//! The GraphQL handler (`POST /graphql`, `POST /api/graphql`): authenticate the caller, classify
//! the body with a real parser, refuse what must stay with the caller's own gh (`fallback_local`:
//! mutations, subscriptions, `viewer` beyond its login, `viewer...` fields other than
//! `viewerDidAuthor`), answer `viewer { login }` and `viewerDidAuthor` for the caller, resolve
//! `@me` in searches and `filterBy` to that login, admit the roots under the tenant's rules
//! ([`crate::policy`]), and serve the query through the fetcher ([`crate::fetch::graphql`]).

use super::answer::{Answer, Reply, settle};
use crate::cache::invalidate::GRAPHQL_KEY;
use crate::cache::relay_etag;
use crate::error::Error;
use crate::fetch::Served;
use crate::fetch::graphql::GraphqlSpec;
use crate::graphql::memo::Memo;
use crate::graphql::{Classified, Operation, classify, viewer};
use crate::policy::{self, Named, Scope, wasm};
use crate::route::{Freshness, Resource};
use crate::worker::Worker;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use shoal_common::protocol::CacheStatus;
use std::sync::Arc;

/// Largest GraphQL request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Default TTL of a GraphQL answer: queries read PR, issue and check state (the fast class).
/// A tenant overrides it with the `graphql` TTL key.
pub const DEFAULT_TTL_SECS: u64 = 20;
/// Introspection answers change only with GitHub's schema (gh itself keeps them 24 h).
pub const INTROSPECTION_TTL_SECS: u64 = 24 * 3600;

/// Handles `POST /graphql` and `POST /api/graphql`.
pub async fn graphql(State(w): State<Arc<Worker>>, req: Request) -> Response {
    reply(&w, req).await.into_response()
}

/// The reply to a GraphQL request.
pub async fn reply(w: &Arc<Worker>, req: Request) -> Reply {
    settle(w, handle(w, req).await)
}

async fn handle(w: &Arc<Worker>, req: Request) -> Result<Reply, Error> {
    let (parts, body) = req.into_parts();
    let tenant = w.tenant();
    let now_ms = w.clock.now_ms();
    let caller = super::auth::authenticate(&tenant, &parts, now_ms)?;
    let reservation = w.allowance.reserve(now_ms)?;
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Error::BadRequest(format!("the GraphQL body is larger than {MAX_BODY_BYTES} bytes")))?;
    let prepared = prepare_memoised(&w.graphql_memo, &body, &caller.user_login)?;
    let c = &prepared.classified;
    tracing::debug!(key = &c.cache_key[..12], roots = ?c.root_fields, op = ?c.operation_name, "graphql request");
    if c.operation != Operation::Query {
        return Err(Error::FallbackLocal(
            "GraphQL mutations and subscriptions are never sent with pooled identities; send them with your own credentials".into(),
        ));
    }
    if c.reads_viewer() {
        if c.viewer_login_only && !caller.user_login.is_empty() {
            w.stats.served(caller.id, "graphql", CacheStatus::Bypass);
            reservation.keep();
            return Ok(Reply::Response(viewer_login(c, &caller.user_login)));
        }
        return Err(Error::FallbackLocal(
            "this query reads viewer, whose answer depends on who asks; send it with your own credentials".into(),
        ));
    }
    if let Some(why) = viewer::refusal(c, &caller.user_login) {
        return Err(Error::FallbackLocal(why));
    }
    if c.viewer_login_merged && caller.user_login.is_empty() {
        return Err(Error::FallbackLocal(
            "this query reads viewer and the caller's login is not known here; send it with your own credentials"
                .into(),
        ));
    }
    let scope = policy::admit_named(&tenant, &w.knowledge, &w.fetcher, &prepared.named).await?;
    let key = match &prepared.key {
        Some(key) => key.clone(),
        None => cache_key(&scope, c),
    };
    let mut ttl_ms = if c.is_introspection() {
        w.fetcher.ttl_ms(&tenant, "introspection", INTROSPECTION_TTL_SECS)
    } else {
        w.fetcher
            .covered_ttl_ms(&key, w.fetcher.ttl_ms(&tenant, "graphql", DEFAULT_TTL_SECS))
    };
    if let Some(m) = &tenant.module {
        let public = scope
            .repo
            .as_deref()
            .and_then(|r| w.knowledge.visibility(r, w.clock.now_ms()));
        let facts = wasm::facts::graphql(
            &c.root_fields,
            scope.owner.as_deref(),
            scope.repo.as_deref(),
            caller,
            public,
            ttl_ms / 1000,
        );
        if let Some(secs) = wasm::decide(Some(m), &w.stats.policy_module, facts).await? {
            ttl_ms = u64::from(secs) * 1000;
        }
    }
    let spec = GraphqlSpec {
        key,
        body: prepared.upstream_body.clone(),
        scope: scope.clone(),
        ttl_ms,
        freshness: if c.is_introspection() {
            Freshness::Meta
        } else {
            Freshness::Fast
        },
        cost: c.cost,
    };
    let served = w.fetcher.lookup_as(spec, w.fetcher.want(&parts.headers)).await?;
    w.stats.served(caller.id, "graphql", served.status);
    w.stats.repository_read(scope.repo.as_deref());
    reservation.keep();
    tracing::debug!(
        route.kind = "graphql",
        cache = served.status.as_str(),
        introspection = c.is_introspection(),
        key = &c.cache_key[..12],
        "graphql request answered"
    );
    let for_caller = ForCaller {
        login: &caller.user_login,
        viewer: c.viewer_login_merged.then_some(c.viewer_typename),
        did_author: c.viewer_fields.contains("viewerDidAuthor"),
    };
    Ok(Reply::Answer(respond(w, served, &for_caller)))
}

/// Entries of the worker's memo of prepared GraphQL bodies ([`prepare_memoised`]).
pub const MEMO_ENTRIES: usize = 2048;
/// Bytes the worker's memo of prepared GraphQL bodies may hold (approximately, by
/// [`Prepared::weight`]).
pub const MEMO_BYTES: usize = 8 << 20;

/// A GraphQL body made ready for one caller: classified after `@me` (in searches and
/// `filterBy`) is resolved to the caller's login, the body that goes upstream if the relay
/// serves it (the selected operation re-printed, its variables and name), what its roots name
/// for the tenant's rules and, when that does not depend on the request, its cache key. Whether
/// it is served is decided after, per request, from [`Prepared::classified`] and
/// [`Prepared::named`].
#[derive(Debug, PartialEq)]
pub struct Prepared {
    pub classified: Classified,
    pub upstream_body: Bytes,
    pub named: Named,
    pub key: Option<Arc<str>>,
}

/// The cache key of a query in `scope`: the repository it reads (if one) is in it, for
/// invalidation by that repository's events.
fn cache_key(scope: &Scope, c: &Classified) -> Arc<str> {
    format!(
        "{GRAPHQL_KEY}{}\n{}",
        scope.repo.as_deref().unwrap_or_default().to_ascii_lowercase(),
        c.cache_key
    )
    .into()
}

impl Prepared {
    /// Approximate memory held, for the memo's byte bound.
    pub fn weight(&self) -> usize {
        let c = &self.classified;
        let calls: usize = c.root_calls.iter().map(|r| r.name.len() + r.key.len() + 64).sum();
        c.executed.len() + self.upstream_body.len() * 2 + calls + c.cache_key.len() * 2 + 1024
    }
}

/// The full path: parses and classifies `body` (again after each `@me` rewrite) for the caller
/// whose login is `login`. A function of `body` and `login` alone.
pub fn prepare(body: &[u8], login: &str) -> Result<Prepared, Error> {
    let bad = |e: crate::graphql::GraphqlError| Error::BadRequest(e.to_string());
    let mut c = classify(body).map_err(bad)?;
    let resolved_search;
    let mut body = body;
    if let Some(resolved) = policy::resolve_me_graphql(body, &c.root_calls, login)? {
        resolved_search = resolved;
        body = &resolved_search;
        c = classify(body).map_err(bad)?;
    }
    if let Some(resolved) = policy::resolve_me_filter_by(body, login)? {
        c = classify(&resolved).map_err(bad)?;
    }
    // Only the operation that runs goes upstream, re-printed from the parse.
    let mut upstream = json!({ "query": c.executed, "variables": c.variables });
    if let Some(name) = &c.operation_name {
        upstream["operationName"] = json!(name);
    }
    let upstream_body = Bytes::from(serde_json::to_vec(&upstream).map_err(|_| Error::Internal)?);
    let named = policy::name_graphql(&c.root_calls);
    let key = named.fixed_scope().map(|scope| cache_key(scope, &c));
    Ok(Prepared {
        classified: c,
        upstream_body,
        named,
        key,
    })
}

/// [`prepare`] through `memo`, keyed by the exact body bytes and the login: a body seen before
/// for this login is not parsed again. The same answer as [`prepare`]; errors
/// are never remembered, so a refused body takes the full path each time.
pub fn prepare_memoised(memo: &Memo<Prepared>, body: &[u8], login: &str) -> Result<Arc<Prepared>, Error> {
    memo.get_or_try_insert(&[Some(login.as_bytes()), Some(body)], Prepared::weight, || {
        prepare(body, login)
    })
}

/// What of a pooled answer is made the caller's own before it is sent.
struct ForCaller<'a> {
    /// The caller's login.
    login: &'a str,
    /// `viewer { login }`, added to `data` when the query asked for it beside pooled fields;
    /// `Some(true)` with `__typename`.
    viewer: Option<bool>,
    /// Whether `viewerDidAuthor` must be answered for the caller.
    did_author: bool,
}

impl ForCaller<'_> {
    /// Which parts are the caller's, as a bit set (0: none, the pooled answer is sent as is).
    fn parts(&self) -> u8 {
        let viewer = match self.viewer {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        viewer | if self.did_author { 4 } else { 0 }
    }

    /// The pooled answer `body` made the caller's own.
    fn apply(&self, body: &[u8]) -> Bytes {
        let mut v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if let Some(typename) = self.viewer
            && let Some(data) = v.get_mut("data").and_then(Value::as_object_mut)
        {
            data.insert("viewer".into(), viewer_json(self.login, typename));
        }
        if self.did_author
            && let Some(data) = v.get_mut("data")
        {
            viewer::answer_did_author(data, self.login);
        }
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }
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

/// The answer for the caller, made theirs as [`ForCaller`] says (built once per caller and entry).
fn respond(w: &Worker, served: Served, for_caller: &ForCaller<'_>) -> Answer {
    let e = &served.entry;
    let parts = for_caller.parts();
    let (body, etag) = if parts == 0 {
        (e.body.clone(), None)
    } else {
        let (body, etag) = e.per_caller.get_or_build(for_caller.login, parts, || {
            let bytes = for_caller.apply(&e.body);
            let etag = relay_etag(e.status, "graphql", &bytes);
            (bytes, etag)
        });
        (body, Some(etag))
    };
    Answer {
        status: StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY),
        length: body.len(),
        body,
        etag,
        links: Vec::new(),
        pool: w.coord.pool_snapshot(Resource::Graphql),
        resource: Resource::Graphql,
        served,
    }
}
