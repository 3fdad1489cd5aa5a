//! GraphQL queries through the fetch loop: a `POST` of the re-printed operation on the identity
//! with the most GraphQL points left. The call reserves the query's estimated points; GitHub's
//! answer replaces the estimate. An answer with a `RATE_LIMITED` error is the identity's failure;
//! one with a `NOT_FOUND` or `FORBIDDEN` error may only mean the identity cannot see a private
//! repo (see [`super::not_found`]).

use super::{Answer, FetchResult, Fetcher, Judged, Read, Served, Witness};
use crate::cache::{Entry, relay_etag};
use crate::coordinator::{Ask, Lease, Verdict};
use crate::error::Error;
use crate::policy::Scope;
use crate::route::{Freshness, Resource};
use crate::tenant::{Identity, Tenant};
use crate::upstream::UpstreamResponse;
use crate::upstream::header_u64;
use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use serde_json::Value;
use shoal_common::IdentityId;
use shoal_common::protocol::CacheStatus;
use std::sync::Arc;

const JSON: &str = "application/json; charset=utf-8";

/// One cacheable GraphQL query.
pub struct GraphqlSpec {
    pub key: Arc<str>,
    /// The request body sent upstream.
    pub body: Bytes,
    /// The owner and repository an identity must be scoped for, and the answer keys under `data`
    /// holding one repository's objects (the node ids found there are learned as its).
    pub scope: Arc<Scope>,
    pub ttl_ms: u64,
    pub freshness: Freshness,
    /// Points the query is expected to cost.
    pub cost: u64,
}

/// What a GraphQL call carries from sending to storing.
pub struct Note {
    /// The identity's (remaining, reset) before the call.
    before: Option<(u64, u64)>,
    /// The answer's body, parsed when judged.
    parsed: Value,
}

impl Read for GraphqlSpec {
    type Note = Note;

    fn key(&self) -> &Arc<str> {
        &self.key
    }

    fn ask(&self) -> Ask<'_> {
        Ask {
            cost: self.cost,
            ..Ask::one(
                Resource::Graphql,
                self.scope.owner.as_deref(),
                self.scope.repo.as_deref(),
            )
        }
    }

    fn settled(&self, f: &Fetcher, e: &Entry) -> bool {
        f.witnesses_of(&self.key, e)
            .is_none_or(|seen| f.negative_settled(&seen, self.scope.owner.as_deref(), self.scope.repo.as_deref()))
    }

    async fn call(
        &self,
        f: &Fetcher,
        tenant: &Tenant,
        id: IdentityId,
        authorization: &str,
        _: Option<&Entry>,
    ) -> Result<(UpstreamResponse, Note), String> {
        let before = f.coord.remaining(id, Resource::Graphql);
        let url = format!("{}/graphql", graphql_base(&tenant.upstream));
        let resp = f.upstream.post_json(&url, authorization, self.body.clone()).await?;
        Ok((
            resp,
            Note {
                before,
                parsed: Value::Null,
            },
        ))
    }

    fn judge(&self, f: &Fetcher, ident: &Identity, lease: Lease, resp: &UpstreamResponse, note: &mut Note) -> Judged {
        note.parsed = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let limited = resp.status == 200 && has_error(&note.parsed, &["RATE_LIMITED"]);
        let reported = note.parsed.pointer("/data/rateLimit/cost").and_then(Value::as_u64);
        tracing::debug!(identity.name = %ident.name, estimated = lease.cost, charged = ?reported, "graphql points");
        let verdict = f.coord.observe(lease, resp.status, &resp.headers, reported);
        if limited || verdict == Verdict::TryAnother {
            f.stats
                .upstream(ident.id, Resource::Graphql, resp.status.max(403), true);
            // A 200 with RATE_LIMITED does not cool the identity down: leave it out here.
            return Judged::TryAnother { exclude: true };
        }
        if resp.status == 200 {
            let points = points_charged(&note.parsed, &resp.headers, note.before);
            f.stats.upstream_units(ident.id, Resource::Graphql, points);
        } else {
            f.stats.upstream(ident.id, Resource::Graphql, resp.status, false);
        }
        Judged::Use
    }

    async fn store(
        &self,
        f: &Fetcher,
        _: &Tenant,
        cached: Option<Arc<Entry>>,
        answer: Answer<Note>,
        now: u64,
    ) -> (FetchResult, Witness) {
        let Answer { resp, note, .. } = answer;
        if resp.status >= 500 {
            let err = Error::Upstream(format!("GitHub answered {}", resp.status));
            return (f.stale_or(cached, err), Witness::Keep);
        }
        let ttl_ms = if resp.status == 200 { self.ttl_ms } else { 0 };
        if resp.status == 200 {
            for (key, repo) in &self.scope.repo_roots {
                if let Some(objects) = note.parsed.get("data").and_then(|d| d.get(key)) {
                    f.knowledge.learn_node_ids(objects, repo);
                }
            }
        }
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
                freshness: self.freshness,
                last_modified: None,
                etags: Vec::new(),
                prebuilt: Default::default(),
                rebase: Default::default(),
                per_caller: Default::default(),
            }
            .prebuild(),
        );
        let (status, witness) = if ttl_ms > 0 && f.cache.insert(self.key.clone(), entry.clone()).await {
            let witness = if has_error(&note.parsed, &["NOT_FOUND", "FORBIDDEN"]) {
                Witness::Record
            } else {
                Witness::Forget
            };
            (CacheStatus::Miss, witness)
        } else {
            (CacheStatus::Bypass, Witness::Keep)
        };
        (Ok(Served { entry, status }), witness)
    }
}

/// Whether the answer carries an error of one of `types`.
fn has_error(body: &Value, types: &[&str]) -> bool {
    body.get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errs| errs.iter().any(|e| types.iter().any(|t| e["type"] == *t)))
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

/// GitHub serves GraphQL at `https://api.github.com/graphql`, GHES at `https://HOST/api/graphql`
/// (its REST base being `https://HOST/api/v3`).
pub fn graphql_base(upstream: &str) -> String {
    match upstream.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api"),
        None => upstream.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn answers_are_judged_by_their_error_types() {
        let limited = json!({"errors": [{"type": "RATE_LIMITED"}]});
        assert!(has_error(&limited, &["RATE_LIMITED"]));
        assert!(!has_error(&limited, &["NOT_FOUND", "FORBIDDEN"]));
        assert!(has_error(
            &json!({"errors": [{"type": "FORBIDDEN"}]}),
            &["NOT_FOUND", "FORBIDDEN"]
        ));
        assert!(!has_error(&json!({"data": {}}), &["NOT_FOUND"]));
    }
}
