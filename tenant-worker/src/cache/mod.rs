//! The response cache: representations keyed by normalised path/query + `Accept` + API version,
//! bounded by bytes (moka with a weigher). Each entry keeps the upstream validators per identity
//! (GitHub's ETags differ per token) and `Last-Modified`, plus the relay's own ETag for clients
//! ([`entry`]). With a directory, entries are also kept on disk ([`disk`]) and loaded back at start.
//! Webhook events make entries stale through an index from repository to keys ([`invalidate`]).

pub mod disk;
pub mod entry;
pub mod invalidate;
pub mod per_caller;
pub mod rebase;
pub mod singleflight;

pub use entry::{Entry, relay_etag};
use invalidate::Index;
use shoal_common::protocol::WebhookEvent;
use std::path::Path;
use std::sync::Arc;

/// Hashed with foldhash, seeded per process: SipHash was a visible share of a cache hit.
type Store = moka::future::Cache<Arc<str>, Arc<Entry>, foldhash::fast::RandomState>;

/// How long after an invalidation GitHub may still confirm the old representation (a 304 to the
/// old ETag, the old body), by default.
pub const DEFAULT_INVALIDATION_WINDOW_MS: u64 = 5_000;

/// The byte-bounded store.
#[derive(Clone)]
pub struct Cache {
    store: Store,
    max_entry_bytes: u64,
    disk: Option<disk::Disk>,
    index: Arc<Index>,
    window_ms: u64,
}

impl Cache {
    /// A cache holding at most `max_bytes`, refusing entries above `max_entry_bytes`.
    pub fn new(max_bytes: u64, max_entry_bytes: u64) -> Self {
        let index = Arc::new(Index::default());
        Self {
            store: Self::store(max_bytes, index.clone(), None),
            max_entry_bytes,
            disk: None,
            index,
            window_ms: DEFAULT_INVALIDATION_WINDOW_MS,
        }
    }

    /// Sets how long after an invalidation an answer confirming an entry still leaves it stale.
    pub fn with_invalidation_window(mut self, window_ms: u64) -> Self {
        self.window_ms = window_ms;
        self
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
        let index = Arc::new(Index::default());
        let store = Self::store(max_bytes, index.clone(), Some(d.clone()));
        let count = loaded.len();
        for (key, entry) in loaded {
            let entry = Arc::new(entry);
            store.insert(key.clone(), entry.clone()).await;
            index.add(&key, &entry);
        }
        store.run_pending_tasks().await;
        tracing::info!(entries = count, "cache loaded from disk");
        Ok(Self {
            store,
            max_entry_bytes,
            disk: Some(d),
            index,
            window_ms: DEFAULT_INVALIDATION_WINDOW_MS,
        })
    }

    fn store(max_bytes: u64, index: Arc<Index>, disk: Option<disk::Disk>) -> Store {
        moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Arc<str>, v: &Arc<Entry>| v.weight().saturating_add(k.len() as u32))
            .eviction_listener(move |key, entry, cause| {
                // A replacement is indexed and written to the same file by `insert`.
                if cause != moka::notification::RemovalCause::Replaced {
                    index.remove(&key, &entry);
                    if let Some(d) = &disk {
                        d.remove((*key).clone());
                    }
                }
            })
            .build_with_hasher(Default::default())
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
    ///
    /// Right after an event GitHub may still confirm the old representation, so an answer obtained
    /// before or within the invalidation window of its key's last invalidation is stored stale:
    /// each read revalidates until the window has passed.
    pub async fn insert(&self, key: Arc<str>, entry: Arc<Entry>) -> bool {
        if entry.body.len() as u64 > self.max_entry_bytes {
            return false;
        }
        let entry = match self.index.invalidated_at(&key) {
            Some(at) if entry.ttl_ms > 0 && entry.validated_ms < at.saturating_add(self.window_ms) => Arc::new(Entry {
                ttl_ms: 0,
                ..(*entry).clone()
            }),
            _ => entry,
        };
        self.put(key, entry).await;
        true
    }

    async fn put(&self, key: Arc<str>, entry: Arc<Entry>) {
        if let Some(d) = &self.disk {
            d.write(key.clone(), entry.clone());
        }
        self.store.insert(key.clone(), entry.clone()).await;
        self.index.add(&key, &entry);
    }

    /// Makes stale the entries `e` touches (see [`invalidate::makes_stale`]), so their next read
    /// revalidates; returns how many keys it touched.
    pub async fn invalidate(&self, e: &WebhookEvent, now_ms: u64) -> usize {
        let keys = self.index.invalidate(e, now_ms);
        for key in &keys {
            if let Some(old) = self.store.get(key).await
                && old.is_fresh(now_ms)
            {
                let stale = Entry {
                    ttl_ms: now_ms.saturating_sub(old.validated_ms),
                    ..(*old).clone()
                };
                self.put(key.clone(), Arc::new(stale)).await;
            }
        }
        keys.len()
    }

    /// Entry count and weighted size (approximate until pending tasks run).
    pub fn size(&self) -> (u64, u64) {
        (self.store.entry_count(), self.store.weighted_size())
    }
}

#[cfg(test)]
mod tests {
    use super::rebase::Rebase;
    use super::*;
    use crate::route::Freshness;
    use bytes::Bytes;

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
                prebuilt: Default::default(),
                rebase: Rebase::default(),
                per_caller: Default::default(),
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
