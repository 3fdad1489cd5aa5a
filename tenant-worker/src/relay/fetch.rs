//! Answering a read from the cache or from GitHub: fresh hits, single-flight misses,
//! revalidation of stale entries (per-identity ETag, `If-Modified-Since`, optionally a computed
//! ETag), retries on another identity when the failure was the identity's, and stale answers when
//! no identity has budget or GitHub fails.
//!
//! A 404 may only mean "this identity cannot see it": see [`super::not_found`] for when a cached
//! one is served.

use super::classify::{Freshness, RouteInfo};
use super::headers;
use crate::cache::{Entry, relay_etag};
use crate::coordinator::{Ask, Verdict};
use crate::error::Error;
use crate::stats::RevalidationPath;
use crate::upstream::{Conditional, UpstreamRequest, UpstreamResponse};
use crate::worker::Worker;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use shoal_common::IdentityId;
use shoal_common::protocol::CacheStatus;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::SemaphorePermit;

/// An answer: the representation and how it was obtained.
#[derive(Debug, Clone)]
pub struct Served {
    pub entry: Arc<Entry>,
    pub status: CacheStatus,
}

/// What a flight resolves to; shared by every caller of one key.
pub type FetchResult = Result<Served, Error>;

/// One cacheable read.
#[derive(Debug, Clone)]
pub struct FetchSpec {
    pub key: Arc<str>,
    pub path_and_query: String,
    pub accept: String,
    pub api_version: Option<String>,
    pub info: RouteInfo,
}

impl FetchSpec {
    /// The cache key is the normalised path and query, `Accept` and the API version.
    pub fn new(path_and_query: String, accept: String, api_version: Option<String>, info: RouteInfo) -> Self {
        let version = api_version.as_deref().unwrap_or("");
        let key: Arc<str> = [path_and_query.as_str(), "\n", &accept, "\n", version].concat().into();
        Self {
            key,
            path_and_query,
            accept,
            api_version,
            info,
        }
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The ETag GitHub would issue to another identity for the same representation (the observed
/// algorithm: weak, SHA-256 over each present `Accept`, `Authorization`, `Cookie` value followed
/// by `:`, then the body). The relay sends no cookie.
pub fn computed_etag(accept: &str, authorization: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(format!("{accept}:{authorization}:").as_bytes());
    h.update(body);
    format!("W/\"{}\"", hex::encode(h.finalize()))
}

/// A repo object's `permissions` describe the pooled identity that fetched it (admin, push...):
/// replaced with what a caller can do through the relay, read only. `None` when absent.
pub fn read_only_permissions(body: &[u8]) -> Option<bytes::Bytes> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object_mut()?;
    obj.get("permissions")?;
    obj.insert(
        "permissions".into(),
        serde_json::json!({"admin": false, "maintain": false, "push": false, "triage": false, "pull": true}),
    );
    serde_json::to_vec(&v).ok().map(bytes::Bytes::from)
}

impl Worker {
    /// Identities that got the 404 cached under `key` as `e` (none recorded: none).
    fn not_found_by(&self, key: &str, e: &Entry) -> Vec<IdentityId> {
        self.not_found.of(key, e).unwrap_or_default()
    }

    /// Whether a fresh cached answer may be served as is: anything but a 404, and a 404 only when
    /// it holds for every identity that could be asked.
    fn settled(&self, spec: &FetchSpec, e: &Entry) -> bool {
        e.status != 404
            || self.negative_settled(
                &self.not_found_by(&spec.key, e),
                spec.info.owner.as_deref(),
                spec.info.repo.as_deref(),
            )
    }

    /// Stores an answer and, for a 404, who has seen it (`seen` before `id`).
    async fn settle(
        &self,
        spec: &FetchSpec,
        cached: Option<Arc<Entry>>,
        id: IdentityId,
        resp: UpstreamResponse,
        now: u64,
        mut seen: Vec<IdentityId>,
    ) -> FetchResult {
        let status = resp.status;
        let out = self.store(spec, cached, id, resp, now).await;
        match (&out, status) {
            (Ok(served), 404) => {
                if !seen.contains(&id) {
                    seen.push(id);
                }
                self.not_found.record(&spec.key, &served.entry, seen, now);
            }
            (_, 200) => self.not_found.forget(&spec.key),
            _ => {}
        }
        out
    }

    /// A fresh cache hit, or the shared result of the one upstream call for this key.
    pub(crate) async fn lookup(self: &Arc<Self>, spec: FetchSpec) -> FetchResult {
        let now = self.clock.now_ms();
        if let Some(e) = self.cache.get(&spec.key).await
            && e.is_fresh(now)
            && self.settled(&spec, &e)
        {
            return Ok(Served {
                entry: e,
                status: CacheStatus::Hit,
            });
        }
        let w = self.clone();
        let key = spec.key.clone();
        let (res, leader) = self
            .flights
            .run(key, move || async move { w.fetch(spec).await }, Err(Error::Internal))
            .await;
        if !leader {
            self.stats.coalesced();
        }
        res
    }

    fn ttl_ms(&self, f: Freshness) -> u64 {
        let t = self.tenant();
        t.policy
            .ttl_overrides
            .get(f.as_str())
            .copied()
            .unwrap_or_else(|| f.default_ttl_secs())
            .saturating_mul(1000)
    }

    fn stale_or(&self, cached: Option<Arc<Entry>>, err: Error) -> FetchResult {
        let now = self.clock.now_ms();
        match cached {
            Some(e) if e.status == 200 && e.within_stale_bound(now, self.settings.stale_max_secs * 1000) => {
                Ok(Served {
                    entry: e,
                    status: CacheStatus::Stale,
                })
            }
            _ => Err(err),
        }
    }

    async fn upstream_slot(&self) -> Result<SemaphorePermit<'_>, Error> {
        if let Ok(p) = self.slots.try_acquire() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.settings.max_upstream_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Busy);
        }
        let p = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        p.map_err(|_| Error::Internal)
    }

    fn validator(
        &self,
        cached: Option<&Entry>,
        identity: IdentityId,
        authorization: &str,
        accept: &str,
    ) -> (Conditional, Option<RevalidationPath>) {
        let Some(e) = cached else {
            return (Conditional::None, None);
        };
        if e.status != 200 || !self.settings.revalidate {
            return (Conditional::None, None);
        }
        // GitHub Support's advice: If-Modified-Since works across tokens, ETags do not.
        if let Some(lm) = &e.last_modified {
            (
                Conditional::IfModifiedSince(lm.clone()),
                Some(RevalidationPath::IfModifiedSince),
            )
        } else if let Some(etag) = e.etag_for(identity) {
            (
                Conditional::IfNoneMatch(etag.to_string()),
                Some(RevalidationPath::OwnEtag),
            )
        } else if self.settings.compute_etags {
            let etag = computed_etag(accept, authorization, &e.body);
            (Conditional::IfNoneMatch(etag), Some(RevalidationPath::ComputedEtag))
        } else {
            (Conditional::None, Some(RevalidationPath::Refetch))
        }
    }

    /// The upstream side of a flight.
    async fn fetch(self: Arc<Self>, spec: FetchSpec) -> FetchResult {
        let now = self.clock.now_ms();
        let cached = self.cache.get(&spec.key).await;
        // Another flight may have landed between our cache miss and joining.
        if let Some(e) = &cached
            && e.is_fresh(now)
            && self.settled(&spec, e)
        {
            return Ok(Served {
                entry: e.clone(),
                status: CacheStatus::Hit,
            });
        }
        // A fresh 404 not yet confirmed by every eligible identity: ask one that has not seen it.
        let fresh_404 = cached.as_ref().filter(|e| e.status == 404 && e.is_fresh(now)).cloned();
        let tenant = self.tenant();
        let info = &spec.info;
        let mut seen_404 = fresh_404
            .as_deref()
            .map(|e| self.not_found_by(&spec.key, e))
            .unwrap_or_default();
        let mut exclude = seen_404.clone();
        let mut retry_after = 60;
        // Without Last-Modified only an identity's own ETag revalidates for free: prefer those.
        let prefer: Vec<IdentityId> = match &cached {
            Some(e) if e.last_modified.is_none() && self.settings.revalidate => {
                e.etags.iter().map(|(i, _)| *i).collect()
            }
            _ => Vec::new(),
        };
        let mut permit = None;
        // A 404 that would replace a cached 200, kept while another identity is asked.
        let mut pending_404: Option<(IdentityId, UpstreamResponse)> = None;
        for _attempt in 0..3 {
            let ask = Ask {
                exclude: &exclude,
                prefer: &prefer,
                ..Ask::one(info.resource, info.owner.as_deref(), info.repo.as_deref())
            };
            // With a fresh 404 in hand there is an answer to give: no waiting for another opinion.
            let lease = if fresh_404.is_some() {
                self.coord.acquire(&ask)
            } else {
                self.coord.acquire_paced(&ask).await
            };
            let lease = match lease {
                Ok(l) => l,
                Err(nb) => {
                    if let Some((id, resp)) = pending_404 {
                        return self.settle(&spec, cached, id, resp, now, seen_404).await;
                    }
                    if let Some(e) = fresh_404 {
                        return Ok(Served {
                            entry: e,
                            status: CacheStatus::Hit,
                        });
                    }
                    return self.stale_or(
                        cached,
                        Error::PoolExhausted {
                            retry_after_secs: nb.retry_after_secs,
                        },
                    );
                }
            };
            if permit.is_none() {
                permit = match self.upstream_slot().await {
                    Ok(p) => Some(p),
                    Err(e) => return self.stale_or(cached, e),
                };
            }
            let id = lease.identity;
            let Some(ident) = tenant.identity(id) else {
                exclude.push(id);
                continue;
            };
            let Ok(authz) = self.authorization(ident).await else {
                exclude.push(id);
                continue;
            };
            let (conditional, path) = self.validator(cached.as_deref(), id, &authz, &spec.accept);
            let url = format!("{}{}", tenant.upstream, spec.path_and_query);
            let result = self
                .upstream
                .get(UpstreamRequest {
                    url: &url,
                    authorization: &authz,
                    accept: &spec.accept,
                    api_version: spec.api_version.as_deref(),
                    conditional,
                })
                .await;
            let resp = match result {
                Ok(r) => r,
                Err(reason) => {
                    drop(lease);
                    self.stats.upstream(id, info.resource, 0, false);
                    tracing::warn!(identity.name = %ident.name, route.kind = info.kind, %reason, "upstream call failed");
                    return self.stale_or(cached, Error::Upstream(reason));
                }
            };
            let verdict = self.coord.observe(lease, resp.status, &resp.headers, None);
            let identity_refused = verdict == Verdict::TryAnother;
            self.stats.upstream(id, info.resource, resp.status, identity_refused);
            tracing::debug!(identity.name = %ident.name, route.kind = info.kind, status = resp.status, "upstream answered");
            if identity_refused {
                if resp.status == 401 {
                    tracing::warn!(identity.name = %ident.name, "GitHub answered 401: identity quarantined");
                    self.unauthorized(ident).await;
                    exclude.push(id);
                } else {
                    // Not excluded: the coordinator keeps it out until its cooldown or reset, and
                    // the request may wait for that when it is near.
                    tracing::info!(identity.name = %ident.name, status = resp.status, "identity rate limited; trying another");
                    if let Some(s) = header_str(&resp.headers, "retry-after").and_then(|s| s.parse().ok()) {
                        retry_after = s;
                    }
                }
                continue;
            }
            if let Some(p) = path {
                self.stats.revalidation(p, resp.status == 304);
            }
            if resp.status == 404
                && pending_404.is_none()
                && cached.as_ref().is_some_and(|e| e.status == 200)
                && !self.known_public(info.repo.as_deref())
            {
                tracing::debug!(identity.name = %ident.name, "404 where another identity got 200; asking another");
                exclude.push(id);
                seen_404.push(id);
                pending_404 = Some((id, resp));
                continue;
            }
            return self.settle(&spec, cached, id, resp, now, seen_404).await;
        }
        if let Some((id, resp)) = pending_404 {
            return self.settle(&spec, cached, id, resp, now, seen_404).await;
        }
        self.stale_or(
            cached,
            Error::PoolExhausted {
                retry_after_secs: retry_after,
            },
        )
    }

    async fn store(
        &self,
        spec: &FetchSpec,
        cached: Option<Arc<Entry>>,
        id: IdentityId,
        resp: UpstreamResponse,
        now: u64,
    ) -> FetchResult {
        let tenant = self.tenant();
        let etag = header_str(&resp.headers, "etag").map(str::to_string);
        let last_modified = header_str(&resp.headers, "last-modified").map(str::to_string);
        match resp.status {
            304 => {
                let Some(old) = cached else {
                    return Err(Error::Upstream(
                        "GitHub answered 304 to an unconditional request".into(),
                    ));
                };
                let mut e = (*old).clone();
                e.validated_ms = now;
                if let Some(etag) = etag {
                    e.etags.retain(|(i, _)| *i != id);
                    e.etags.push((id, etag));
                }
                if last_modified.is_some() {
                    e.last_modified = last_modified;
                }
                let e = Arc::new(e);
                self.cache.insert(spec.key.clone(), e.clone()).await;
                Ok(Served {
                    entry: e,
                    status: CacheStatus::Revalidated,
                })
            }
            200 | 404 => {
                let hdrs = headers::filter(&resp.headers, &tenant.upstream);
                // Same representation fetched by another identity: the others' ETags still hold.
                let mut etags: Vec<(IdentityId, String)> = match &cached {
                    Some(old) if old.status == resp.status && old.body == resp.body => {
                        old.etags.iter().filter(|(i, _)| *i != id).cloned().collect()
                    }
                    _ => Vec::new(),
                };
                etags.extend(etag.map(|t| (id, t)));
                self.learn(spec, &resp);
                let body = match &spec.info.repo {
                    Some(repo) if resp.status == 200 && spec.path_and_query == format!("/repos/{repo}") => {
                        read_only_permissions(&resp.body).unwrap_or(resp.body)
                    }
                    _ => resp.body,
                };
                let freshness = if resp.status == 404 {
                    Freshness::NotFound
                } else {
                    spec.info.freshness
                };
                let e = Arc::new(
                    Entry {
                        status: resp.status,
                        relay_etag: relay_etag(resp.status, &spec.accept, &body),
                        headers: hdrs,
                        body,
                        validated_ms: now,
                        ttl_ms: self.ttl_ms(freshness),
                        freshness,
                        last_modified,
                        etags,
                        prebuilt: HeaderMap::new(),
                        rebase: Default::default(),
                    }
                    .prebuild()
                    .rebase_links(&tenant.upstream),
                );
                let stored = self.cache.insert(spec.key.clone(), e.clone()).await;
                let status = if stored { CacheStatus::Miss } else { CacheStatus::Bypass };
                Ok(Served { entry: e, status })
            }
            500..=599 => self.stale_or(cached, Error::Upstream(format!("GitHub answered {}", resp.status))),
            status => {
                // Relayed as is, never cached: redirects, 403s for missing access, 422s...
                let e = Arc::new(
                    Entry {
                        status,
                        relay_etag: relay_etag(status, &spec.accept, &resp.body),
                        headers: headers::filter(&resp.headers, &tenant.upstream),
                        body: resp.body,
                        validated_ms: now,
                        ttl_ms: 0,
                        freshness: spec.info.freshness,
                        last_modified: None,
                        etags: Vec::new(),
                        prebuilt: HeaderMap::new(),
                        rebase: Default::default(),
                    }
                    .prebuild()
                    .rebase_links(&tenant.upstream),
                );
                Ok(Served {
                    entry: e,
                    status: CacheStatus::Bypass,
                })
            }
        }
    }

    /// Learns repository ids (for `/repositories/{id}` links) and visibility from answers.
    fn learn(&self, spec: &FetchSpec, resp: &UpstreamResponse) {
        let Some(repo) = &spec.info.repo else { return };
        if let Some(link) = header_str(&resp.headers, "link") {
            let ids = headers::repository_ids(link);
            if !ids.is_empty() {
                let mut m = self.repo_ids.lock().unwrap_or_else(|p| p.into_inner());
                for id in ids {
                    m.insert(id, repo.clone());
                }
            }
        }
        if resp.status == 200
            && spec.path_and_query == format!("/repos/{repo}")
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&resp.body)
        {
            if let Some(id) = v["id"].as_u64() {
                self.repo_ids
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, repo.clone());
            }
            if let Some(private) = v["private"].as_bool() {
                self.visibility
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(repo.clone(), (!private, self.clock.now_ms()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pooled_identitys_repo_permissions_are_not_revealed() {
        let body = br#"{"id":1,"permissions":{"admin":true,"push":true,"pull":true}}"#;
        let out: serde_json::Value = serde_json::from_slice(&read_only_permissions(body).unwrap()).unwrap();
        assert_eq!(out["permissions"]["admin"], false);
        assert_eq!(out["permissions"]["push"], false);
        assert_eq!(out["permissions"]["pull"], true);
        assert_eq!(out["id"], 1);
        assert!(read_only_permissions(br#"{"id":1}"#).is_none());
        assert!(read_only_permissions(b"[1]").is_none());
    }

    #[test]
    fn computed_etag_matches_the_observed_algorithm() {
        // sha256("application/json:token x:" + "{}"), as the fake and GitHub compute it.
        let mut h = Sha256::new();
        h.update(b"application/json:token x:{}");
        let want = format!("W/\"{}\"", hex::encode(h.finalize()));
        assert_eq!(computed_etag("application/json", "token x", b"{}"), want);
    }
}
