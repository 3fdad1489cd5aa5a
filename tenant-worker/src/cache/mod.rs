//! The response cache: representations keyed by normalised path/query + `Accept` + API version,
//! bounded by bytes (moka with a weigher). Each entry keeps the upstream validators per identity
//! (GitHub's ETags differ per token) and `Last-Modified`, plus the relay's own ETag for clients.
//! With a directory, entries are also kept on disk ([`disk`]) and loaded back at start.

pub mod disk;
pub mod rebase;
pub mod singleflight;

use crate::relay::classify::Freshness;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use bytes::Bytes;
use rebase::Rebase;
use sha2::{Digest, Sha256};
use shoal_common::IdentityId;
use std::path::Path;
use std::sync::Arc;

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
    /// `headers` without `Link`/`Location`, plus the relay ETag: cloned as is into each answer.
    pub prebuilt: HeaderMap,
    /// Upstream API URLs in `body`, re-rooted per caller.
    pub rebase: Rebase,
}

impl Entry {
    /// Fills [`Entry::prebuilt`] from `headers` and `relay_etag`.
    pub fn prebuild(mut self) -> Self {
        let mut h = HeaderMap::with_capacity(self.headers.len() + 8);
        for (k, v) in &self.headers {
            if k != header::LINK && k != header::LOCATION {
                h.append(k.clone(), v.clone());
            }
        }
        h.insert(header::ETAG, self.relay_etag.clone());
        self.prebuilt = h;
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
        // Headers are held twice: as a list and prebuilt.
        (self.body.len() + 2 * h + e + 256).min(u32::MAX as usize) as u32
    }
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

type Store = moka::future::Cache<Arc<str>, Arc<Entry>>;

/// The byte-bounded store.
#[derive(Clone)]
pub struct Cache {
    store: Store,
    max_entry_bytes: u64,
    disk: Option<disk::Disk>,
}

impl Cache {
    /// A cache holding at most `max_bytes`, refusing entries above `max_entry_bytes`.
    pub fn new(max_bytes: u64, max_entry_bytes: u64) -> Self {
        Self {
            store: Self::builder(max_bytes).build(),
            max_entry_bytes,
            disk: None,
        }
    }

    /// A cache that also keeps its entries under `dir` (see [`disk`]), starting with the entries
    /// found there for `upstream`, newest first, as many as `max_bytes` holds.
    pub async fn with_disk(
        max_bytes: u64,
        max_entry_bytes: u64,
        dir: &Path,
        upstream: &str,
    ) -> Result<Self, crate::error::Error> {
        let d = disk::Disk::open(dir, upstream)
            .map_err(|e| crate::error::Error::Config(format!("cache dir {}: {e}", dir.display())))?;
        let (dir, up) = (dir.to_path_buf(), upstream.to_string());
        let loaded = tokio::task::spawn_blocking(move || disk::load(&dir, &up, max_bytes, max_entry_bytes))
            .await
            .unwrap_or_default();
        let evicted = d.clone();
        let store = Self::builder(max_bytes)
            .eviction_listener(move |key, _, cause| {
                // A replacement was written to the same file.
                if cause != moka::notification::RemovalCause::Replaced {
                    evicted.remove((*key).clone());
                }
            })
            .build();
        let count = loaded.len();
        for (key, entry) in loaded {
            store.insert(key, Arc::new(entry)).await;
        }
        store.run_pending_tasks().await;
        tracing::info!(entries = count, "cache loaded from disk");
        Ok(Self {
            store,
            max_entry_bytes,
            disk: Some(d),
        })
    }

    fn builder(max_bytes: u64) -> moka::future::CacheBuilder<Arc<str>, Arc<Entry>, Store> {
        moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Arc<str>, v: &Arc<Entry>| v.weight().saturating_add(k.len() as u32))
    }

    /// Waits until every entry stored so far is on disk (at once without a disk tier).
    pub async fn flush(&self) {
        if let Some(d) = &self.disk {
            d.flush().await;
        }
    }

    /// The entry under `key`, fresh or not.
    pub async fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.store.get(key).await
    }

    /// Stores an entry; returns false (and stores nothing) when it is above the size cap.
    pub async fn insert(&self, key: Arc<str>, entry: Arc<Entry>) -> bool {
        if entry.body.len() as u64 > self.max_entry_bytes {
            return false;
        }
        if let Some(d) = &self.disk {
            d.write(key.clone(), entry.clone());
        }
        self.store.insert(key, entry).await;
        true
    }

    /// Entry count and weighted size (approximate until pending tasks run).
    pub fn size(&self) -> (u64, u64) {
        (self.store.entry_count(), self.store.weighted_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &[u8]) -> Arc<Entry> {
        Arc::new(
            Entry {
                status: 200,
                headers: vec![],
                body: Bytes::copy_from_slice(body),
                validated_ms: 1_000,
                ttl_ms: 500,
                freshness: Freshness::Fast,
                last_modified: None,
                etags: vec![],
                relay_etag: relay_etag(200, "a", body),
                prebuilt: HeaderMap::new(),
                rebase: Rebase::default(),
            }
            .prebuild(),
        )
    }

    #[test]
    fn freshness_and_stale_bound() {
        let e = entry(b"x");
        assert!(e.is_fresh(1_499));
        assert!(!e.is_fresh(1_500));
        assert!(e.within_stale_bound(1_600, 200));
        assert!(!e.within_stale_bound(1_700, 200));
    }

    #[test]
    fn relay_etag_depends_on_body_and_accept() {
        assert_eq!(relay_etag(200, "a", b"x"), relay_etag(200, "a", b"x"));
        assert_ne!(relay_etag(200, "a", b"x"), relay_etag(200, "b", b"x"));
        assert_ne!(relay_etag(200, "a", b"x"), relay_etag(200, "a", b"y"));
    }

    #[tokio::test]
    async fn entries_above_the_cap_are_not_stored() {
        let c = Cache::new(1 << 20, 4);
        assert!(!c.insert("big".into(), entry(b"12345")).await);
        assert!(c.get("big").await.is_none());
        assert!(c.insert("small".into(), entry(b"1234")).await);
        assert!(c.get("small").await.is_some());
    }

    #[tokio::test]
    async fn the_byte_bound_evicts() {
        let c = Cache::new(64 * 1024, 1 << 20);
        for i in 0..64 {
            c.insert(format!("k{i}").into(), entry(&[0u8; 8 * 1024])).await;
        }
        c.store.run_pending_tasks().await;
        assert!(c.store.weighted_size() <= 64 * 1024, "{}", c.store.weighted_size());
        assert!(c.store.entry_count() < 64);
    }

    #[tokio::test]
    async fn evicted_entries_leave_the_disk_and_replaced_ones_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let files = || std::fs::read_dir(tmp.path()).unwrap().count() as u64;
        let c = Cache::with_disk(64 * 1024, 1 << 20, tmp.path(), "https://api.example")
            .await
            .unwrap();
        c.insert("k".into(), entry(b"old")).await;
        c.insert("k".into(), entry(b"new")).await;
        c.store.run_pending_tasks().await;
        c.flush().await;
        assert_eq!(files(), 1);
        for i in 0..64 {
            c.insert(format!("k{i}").into(), entry(&[0u8; 8 * 1024])).await;
        }
        c.store.run_pending_tasks().await;
        c.flush().await;
        assert!(c.store.entry_count() < 64);
        assert_eq!(files(), c.store.entry_count());
        drop(c);
        let again = Cache::with_disk(64 * 1024, 1 << 20, tmp.path(), "https://api.example")
            .await
            .unwrap();
        assert_eq!(again.store.entry_count(), files());
    }
}
