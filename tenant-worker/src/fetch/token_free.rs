//! Token-free reads: content GitHub serves on its web hosts without the API — raw files at an
//! explicit ref and pull request / commit `.diff` / `.patch` — fetched anonymously, so they
//! spend no pooled identity. Only when the tenant enables `token_free_reads`; an anonymous fetch
//! sees public repositories only, so a private repo (404) falls through to the pooled path.

use super::rest::FetchSpec;
use super::{Fetcher, Served, Want, flight_key};
use crate::cache::{Entry, relay_etag};
use crate::classify::is_sha;
use crate::config::Settings;
use crate::error::Error;
use crate::route::Freshness;
use crate::tenant::Tenant;
use axum::http::{HeaderValue, header};
use shoal_common::protocol::CacheStatus;
use std::sync::Arc;

/// The web and raw hosts that go with an API base URL: github.com's, a GitHub Enterprise
/// host's (`https://HOST` and `https://HOST/raw`), or for any other base (the fake) the base
/// itself with the Enterprise layout. The config's `web_base` / `raw_base` override them.
pub fn web_bases(settings: &Settings, upstream: &str) -> (String, String) {
    let (web, raw) = if upstream == "https://api.github.com" {
        (
            "https://github.com".to_string(),
            "https://raw.githubusercontent.com".to_string(),
        )
    } else {
        let host = upstream.strip_suffix("/api/v3").unwrap_or(upstream);
        (host.to_string(), format!("{host}/raw"))
    };
    (
        settings.web_base.clone().unwrap_or(web),
        settings.raw_base.clone().unwrap_or(raw),
    )
}

/// The web URL and media type of a read that has a token-free form, if this one has.
pub fn web_url(settings: &Settings, tenant: &Tenant, spec: &FetchSpec) -> Option<(String, &'static str)> {
    let repo = spec.info.repo.as_deref()?;
    let (path, query) = spec
        .path_and_query
        .split_once('?')
        .unwrap_or((spec.path_and_query.as_str(), ""));
    let rest = path.strip_prefix(&format!("/repos/{repo}/"))?;
    let accept = spec.accept.as_str();
    let media = |what: &str| {
        accept.starts_with(&format!("application/vnd.github.{what}"))
            || accept.starts_with(&format!("application/vnd.github.v3.{what}"))
    };
    let (web, raw) = web_bases(settings, &tenant.upstream);
    let segs: Vec<&str> = rest.split('/').collect();
    match segs.as_slice() {
        ["contents", file @ ..] if !file.is_empty() && media("raw") => {
            let reference = query
                .strip_prefix("ref=")
                .filter(|r| !r.is_empty() && !r.contains('&'))?;
            Some((
                format!("{raw}/{repo}/{reference}/{}", file.join("/")),
                "application/vnd.github.raw; charset=utf-8",
            ))
        }
        ["pulls", n] if query.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            if media("diff") {
                Some((
                    format!("{web}/{repo}/pull/{n}.diff"),
                    "application/vnd.github.diff; charset=utf-8",
                ))
            } else if media("patch") {
                Some((
                    format!("{web}/{repo}/pull/{n}.patch"),
                    "application/vnd.github.patch; charset=utf-8",
                ))
            } else {
                None
            }
        }
        ["commits", sha] if query.is_empty() && is_sha(sha) => {
            if media("diff") {
                Some((
                    format!("{web}/{repo}/commit/{sha}.diff"),
                    "application/vnd.github.diff; charset=utf-8",
                ))
            } else if media("patch") {
                Some((
                    format!("{web}/{repo}/commit/{sha}.patch"),
                    "application/vnd.github.patch; charset=utf-8",
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Serves `spec` token-free when the tenant allows it and the content is public; `None` means
/// "use the pooled path" (not eligible, private, or the web host failed).
pub async fn lookup(f: &Arc<Fetcher>, tenant: &Tenant, spec: &FetchSpec, want: Want) -> Option<Served> {
    if !tenant.policy.token_free_reads {
        return None;
    }
    let (url, content_type) = web_url(&f.settings, tenant, spec)?;
    let now = f.clock.now_ms();
    if want == Want::Cached
        && let Some(e) = f.cache.get(&spec.key).await
        && e.is_fresh(now)
    {
        return Some(Served {
            entry: e,
            status: CacheStatus::Hit,
        });
    }
    let freshness = spec.info.freshness;
    let ttl_ms = f.ttl_ms(tenant, freshness.as_str(), freshness.default_ttl_secs());
    let f2 = f.clone();
    let spec2 = spec.clone();
    let (res, leader) = f
        .flights
        .run(
            flight_key(&spec.key, want),
            move || async move { fetch(f2, spec2, url, content_type, ttl_ms).await },
            Err(Error::Internal),
        )
        .await;
    if !leader {
        f.stats.coalesced();
    }
    res.ok()
}

async fn fetch(
    f: Arc<Fetcher>,
    spec: FetchSpec,
    url: String,
    content_type: &'static str,
    ttl_ms: u64,
) -> Result<Served, Error> {
    let now = f.clock.now_ms();
    let resp = f
        .upstream
        .client()
        .get(&url)
        .send()
        .await
        .map_err(|_| Error::Upstream("the web host could not be reached".into()))?;
    if resp.status().as_u16() != 200 {
        tracing::debug!(
            status = resp.status().as_u16(),
            "token-free read not available; using the pool"
        );
        return Err(Error::NotFound);
    }
    let body = resp
        .bytes()
        .await
        .map_err(|_| Error::Upstream("the web host's answer was cut".into()))?;
    let freshness = spec.info.freshness;
    let entry = Arc::new(
        Entry {
            status: 200,
            relay_etag: relay_etag(200, &spec.accept, &body),
            headers: vec![(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
            validated_ms: now,
            ttl_ms,
            freshness: if freshness == Freshness::NotFound {
                Freshness::Fast
            } else {
                freshness
            },
            last_modified: None,
            etags: Vec::new(),
            prebuilt: Default::default(),
            rebase: Default::default(),
            per_caller: Default::default(),
        }
        .prebuild(),
    );
    let status = if f.cache.insert(spec.key.clone(), entry.clone()).await {
        CacheStatus::Miss
    } else {
        CacheStatus::Bypass
    };
    Ok(Served { entry, status })
}
