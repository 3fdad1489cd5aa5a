//! REST reads through the fetch loop: a GET of the normalised path under the chosen identity,
//! revalidating a stale entry with the best validator that identity has (`If-Modified-Since`,
//! its own ETag, or optionally a computed one), a 404 that may be one identity's view checked
//! with another, and what answers teach about repositories (ids, visibility). Also the
//! [`Visibility`] the tenant rules ask when a repository's is not known.

use super::{Answer, FetchResult, Fetcher, Judged, Read, Served, Witness};
use crate::cache::{Entry, relay_etag};
use crate::classify::{Route, RouteInfo, classify, normalize};
use crate::coordinator::{Ask, Lease, Verdict};
use crate::error::Error;
use crate::headers::{self, DEFAULT_ACCEPT};
use crate::policy::Visibility;
use crate::route::Freshness;
use crate::stats::RevalidationPath;
use crate::tenant::{Identity, Tenant};
use crate::upstream::header_str;
use crate::upstream::{Conditional, UpstreamRequest, UpstreamResponse};
use sha2::{Digest, Sha256};
use shoal_common::IdentityId;
use shoal_common::protocol::CacheStatus;
use std::sync::Arc;

/// One cacheable REST read.
#[derive(Debug, Clone)]
pub struct FetchSpec {
    pub key: Arc<str>,
    pub path_and_query: String,
    pub accept: String,
    pub api_version: Option<String>,
    pub info: RouteInfo,
    /// The tenant's policy module's TTL for this read, in seconds (0: do not cache).
    pub ttl_override_secs: Option<u32>,
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
            ttl_override_secs: None,
        }
    }

    /// The same read with the policy module's TTL, if it set one.
    pub fn with_ttl_override(mut self, secs: Option<u32>) -> Self {
        self.ttl_override_secs = secs;
        self
    }

    /// Whether this reads the repository object itself (`/repos/{owner}/{repo}`).
    fn is_repo_object(&self) -> bool {
        self.info
            .repo
            .as_deref()
            .and_then(|repo| self.path_and_query.strip_prefix("/repos/").map(|p| p == repo))
            .unwrap_or(false)
    }

    /// How long an answer of class `freshness` under this key stays fresh.
    fn ttl_ms(&self, f: &Fetcher, tenant: &Tenant, freshness: Freshness) -> u64 {
        let ttl = f.ttl_ms(tenant, freshness.as_str(), freshness.default_ttl_secs());
        match (freshness, self.ttl_override_secs) {
            (Freshness::NotFound, _) => ttl,
            // The tenant's policy module said how long, and it has the last word.
            (_, Some(secs)) => u64::from(secs) * 1000,
            _ => f.covered_ttl_ms(&self.key, ttl),
        }
    }

    /// The validator `identity` can revalidate `cached` with, and which path that is.
    fn validator(
        &self,
        f: &Fetcher,
        cached: Option<&Entry>,
        identity: IdentityId,
        authorization: &str,
    ) -> (Conditional, Option<RevalidationPath>) {
        let Some(e) = cached else {
            return (Conditional::None, None);
        };
        if e.status != 200 || !f.settings.revalidate {
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
        } else if f.settings.compute_etags {
            let etag = computed_etag(&self.accept, authorization, &e.body);
            (Conditional::IfNoneMatch(etag), Some(RevalidationPath::ComputedEtag))
        } else {
            (Conditional::None, Some(RevalidationPath::Refetch))
        }
    }

    /// Learns repository ids (for `/repositories/{id}` links), node ids and visibility from an
    /// answer.
    fn learn(&self, f: &Fetcher, resp: &UpstreamResponse) {
        let Some(repo) = &self.info.repo else { return };
        if let Some(link) = header_str(&resp.headers, "link") {
            f.knowledge.learn_repo_ids(headers::repository_ids(link), repo);
        }
        if resp.status != 200 {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&resp.body) else {
            return;
        };
        f.knowledge.learn_node_ids(&v, repo);
        if self.is_repo_object() {
            if let Some(id) = v["id"].as_u64() {
                f.knowledge.learn_repo_ids([id], repo);
            }
            if let Some(private) = v["private"].as_bool() {
                f.knowledge.learn_visibility(repo, !private, f.clock.now_ms());
            }
        }
    }
}

impl Read for FetchSpec {
    /// How a stale entry is revalidated, when it is.
    type Note = Option<RevalidationPath>;

    fn key(&self) -> &Arc<str> {
        &self.key
    }

    fn ask(&self) -> Ask<'_> {
        Ask::one(
            self.info.resource,
            self.info.owner.as_deref(),
            self.info.repo.as_deref(),
        )
    }

    /// Anything but a 404, and a 404 only when it holds for every identity that could be asked.
    fn settled(&self, f: &Fetcher, e: &Entry) -> bool {
        e.status != 404
            || f.negative_settled(
                &f.witnesses_of(&self.key, e).unwrap_or_default(),
                self.info.owner.as_deref(),
                self.info.repo.as_deref(),
            )
    }

    async fn call(
        &self,
        f: &Fetcher,
        tenant: &Tenant,
        id: IdentityId,
        authorization: &str,
        cached: Option<&Entry>,
    ) -> Result<(UpstreamResponse, Self::Note), String> {
        let (conditional, path) = self.validator(f, cached, id, authorization);
        let url = format!("{}{}", tenant.upstream, self.path_and_query);
        let resp = f
            .upstream
            .get(UpstreamRequest {
                url: &url,
                authorization,
                accept: &self.accept,
                api_version: self.api_version.as_deref(),
                conditional,
            })
            .await?;
        Ok((resp, path))
    }

    fn judge(
        &self,
        f: &Fetcher,
        ident: &Identity,
        lease: Lease,
        resp: &UpstreamResponse,
        path: &mut Self::Note,
    ) -> Judged {
        let verdict = f.coord.observe(lease, resp.status, &resp.headers, None);
        let refused = verdict == Verdict::TryAnother;
        f.stats.upstream(ident.id, self.info.resource, resp.status, refused);
        tracing::debug!(identity.name = %ident.name, route.kind = self.info.kind, status = resp.status, "upstream answered");
        if refused {
            return Judged::TryAnother { exclude: false };
        }
        if let Some(p) = path {
            f.stats.revalidation(*p, resp.status == 304);
        }
        Judged::Use
    }

    fn second_opinion(&self, f: &Fetcher, resp: &UpstreamResponse, cached: Option<&Entry>) -> bool {
        resp.status == 404
            && cached.is_some_and(|e| e.status == 200)
            && !f.knowledge.known_public(self.info.repo.as_deref(), f.clock.now_ms())
    }

    async fn store(
        &self,
        f: &Fetcher,
        tenant: &Tenant,
        cached: Option<Arc<Entry>>,
        answer: Answer<Self::Note>,
        now: u64,
    ) -> (FetchResult, Witness) {
        let Answer { identity: id, resp, .. } = answer;
        let witness = match resp.status {
            404 => Witness::Record,
            200 => Witness::Forget,
            _ => Witness::Keep,
        };
        let etag = header_str(&resp.headers, "etag").map(str::to_string);
        let last_modified = header_str(&resp.headers, "last-modified").map(str::to_string);
        let out = match resp.status {
            304 => {
                let Some(old) = cached else {
                    return (
                        Err(Error::Upstream(
                            "GitHub answered 304 to an unconditional request".into(),
                        )),
                        witness,
                    );
                };
                let mut e = (*old).clone();
                e.validated_ms = now;
                // An invalidation shortened the old TTL.
                e.ttl_ms = self.ttl_ms(f, tenant, e.freshness);
                if let Some(etag) = etag {
                    e.etags.retain(|(i, _)| *i != id);
                    e.etags.push((id, etag));
                }
                if last_modified.is_some() {
                    e.last_modified = last_modified;
                }
                let e = Arc::new(e);
                f.cache.insert(self.key.clone(), e.clone()).await;
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
                self.learn(f, &resp);
                let body = if resp.status == 200 && self.is_repo_object() {
                    read_only_permissions(&resp.body).unwrap_or(resp.body)
                } else {
                    resp.body
                };
                let freshness = if resp.status == 404 {
                    Freshness::NotFound
                } else {
                    self.info.freshness
                };
                let e = Arc::new(
                    Entry {
                        status: resp.status,
                        relay_etag: relay_etag(resp.status, &self.accept, &body),
                        headers: hdrs,
                        body,
                        validated_ms: now,
                        ttl_ms: self.ttl_ms(f, tenant, freshness),
                        freshness,
                        last_modified,
                        etags,
                        prebuilt: Default::default(),
                        rebase: Default::default(),
                        per_caller: Default::default(),
                    }
                    .prebuild()
                    .rebase_links(&tenant.upstream),
                );
                // The policy module's TTL 0 means "do not cache"; a tenant TTL of 0 still keeps a validator.
                let uncached = resp.status == 200 && self.ttl_override_secs == Some(0);
                let stored = !uncached && f.cache.insert(self.key.clone(), e.clone()).await;
                let status = if stored { CacheStatus::Miss } else { CacheStatus::Bypass };
                Ok(Served { entry: e, status })
            }
            500..=599 => f.stale_or(cached, Error::Upstream(format!("GitHub answered {}", resp.status))),
            status => {
                // Relayed as is, never cached: redirects, 403s for missing access, 422s...
                let e = Arc::new(
                    Entry {
                        status,
                        relay_etag: relay_etag(status, &self.accept, &resp.body),
                        headers: headers::filter(&resp.headers, &tenant.upstream),
                        body: resp.body,
                        validated_ms: now,
                        ttl_ms: 0,
                        freshness: self.info.freshness,
                        last_modified: None,
                        etags: Vec::new(),
                        prebuilt: Default::default(),
                        rebase: Default::default(),
                        per_caller: Default::default(),
                    }
                    .prebuild()
                    .rebase_links(&tenant.upstream),
                );
                Ok(Served {
                    entry: e,
                    status: CacheStatus::Bypass,
                })
            }
        };
        (out, witness)
    }
}

/// Whether `owner/repo` is public: learned from answers, else read from `/repos/{owner}/{repo}`
/// through the cache.
impl Visibility for Arc<Fetcher> {
    async fn is_public(&self, repo: &str) -> Result<bool, Error> {
        let now = self.clock.now_ms();
        if let Some(public) = self.knowledge.visibility(repo, now) {
            return Ok(public);
        }
        let path = format!("/repos/{repo}");
        let n = normalize(&path, None).map_err(Error::BadRequest)?;
        let Route::Relay(info) = classify(&n) else {
            return Err(Error::Internal);
        };
        let served = self
            .lookup(FetchSpec::new(n.path_and_query(), DEFAULT_ACCEPT.into(), None, info))
            .await?;
        let public = served.entry.status == 200
            && serde_json::from_slice::<serde_json::Value>(&served.entry.body)
                .ok()
                .is_some_and(|v| v["private"] == serde_json::Value::Bool(false));
        self.knowledge.learn_visibility(repo, public, now);
        Ok(public)
    }
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
