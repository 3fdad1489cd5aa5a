//! One cached (or about to be relayed) representation: status, filtered headers, body, its
//! freshness, the upstream validators per identity and the relay's own ETag for clients.

use super::per_caller::PerCaller;
use super::rebase::Rebase;
use crate::route::Freshness;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use shoal_common::IdentityId;

/// A cached (or about to be relayed) upstream representation.
#[derive(Debug, Clone)]
pub struct Entry {
    pub status: u16,
    /// Upstream headers that pass to clients, `Link`/`Location` made relative to the upstream.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Unix ms when GitHub last confirmed this representation.
    pub validated_ms: u64,
    pub ttl_ms: u64,
    pub freshness: Freshness,
    pub last_modified: Option<String>,
    /// Upstream ETags by the identity they were issued to.
    pub etags: Vec<(IdentityId, String)>,
    /// The ETag the relay gives clients for this representation.
    pub relay_etag: HeaderValue,
    /// `headers` without `Link`/`Location`, ready for each answer.
    pub prebuilt: Prebuilt,
    /// Upstream API URLs in `body`, re-rooted per caller.
    pub rebase: Rebase,
    /// Answers made a caller's own from `body` (GraphQL's `viewer`, `viewerDidAuthor`).
    pub per_caller: PerCaller,
}

impl Entry {
    /// Fills [`Entry::prebuilt`] from `headers` and `relay_etag`.
    pub fn prebuild(mut self) -> Self {
        let mut map = HeaderMap::with_capacity(self.headers.len() + 8);
        let mut lines = Vec::new();
        for (k, v) in &self.headers {
            if k != header::LINK && k != header::LOCATION {
                map.append(k.clone(), v.clone());
                header_line(&mut lines, k.as_str(), v.as_bytes());
            }
        }
        map.insert(header::ETAG, self.relay_etag.clone());
        self.prebuilt = Prebuilt {
            map,
            lines: lines.into(),
        };
        self
    }

    /// Marks the upstream API URLs in a JSON body so callers get them on their own base.
    pub fn rebase_links(mut self, upstream: &str) -> Self {
        let json = self
            .headers
            .iter()
            .any(|(k, v)| k == header::CONTENT_TYPE && v.to_str().is_ok_and(|t| t.contains("json")));
        if json {
            self.rebase = Rebase::find(&self.body, upstream);
        }
        self
    }

    /// The body as the caller at `caller_base` sees it.
    pub fn body_for(&self, caller_base: &str) -> Bytes {
        self.rebase.apply(&self.body, caller_base)
    }

    /// Whether it may be served without asking GitHub.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.validated_ms.saturating_add(self.ttl_ms)
    }

    /// Whether it may still be served `STALE` when GitHub cannot answer.
    pub fn within_stale_bound(&self, now_ms: u64, stale_max_ms: u64) -> bool {
        now_ms
            < self
                .validated_ms
                .saturating_add(self.ttl_ms)
                .saturating_add(stale_max_ms)
    }

    /// The upstream ETag issued to `identity`, if any.
    pub fn etag_for(&self, identity: IdentityId) -> Option<&str> {
        self.etags.iter().find(|(i, _)| *i == identity).map(|(_, e)| e.as_str())
    }

    /// Approximate memory use, for the byte bound.
    pub fn weight(&self) -> u32 {
        let h: usize = self.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum();
        let e: usize = self.etags.iter().map(|(_, e)| e.len() + 32).sum();
        // Headers are held three times: as a list, prebuilt and encoded.
        (self.body.len() + 3 * h + e + 256).min(u32::MAX as usize) as u32
    }
}

/// An entry's headers for its answers, made once when it is cached.
#[derive(Debug, Clone, Default)]
pub struct Prebuilt {
    /// The passed headers and the relay ETag: cloned as is into an answer through axum.
    pub map: HeaderMap,
    /// The passed headers encoded for HTTP/1.1 (`name: value\r\n` each; no ETag), copied as is
    /// into an answer the worker writes itself ([`crate::server::http1`]).
    pub lines: Bytes,
}

/// Appends `name: value\r\n`.
pub fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The relay's ETag for a representation: a strong validator over what the client receives.
pub fn relay_etag(status: u16, accept: &str, body: &[u8]) -> HeaderValue {
    let mut h = Sha256::new();
    h.update(status.to_be_bytes());
    h.update(accept.as_bytes());
    h.update([0]);
    h.update(body);
    let d = h.finalize();
    HeaderValue::from_str(&format!("\"s{}\"", hex::encode(&d[..16]))).expect("hex is a valid header value")
}
