//! A bounded memo of work done on exact request bytes: a repeated GraphQL body (gh sends the
//! same document and variables for every `gh pr view 12`) is parsed, validated and re-printed
//! once, and later requests reuse the answer. Keys are SHA-256 digests of the exact bytes that
//! decided the answer, so two inputs share an entry only if they are the same bytes; values are
//! only ever what the full path computed for those bytes. Bounded by entries and by bytes, the
//! oldest entry leaving first. The REST hit path keys the same kind of memo by the exact request
//! head fields instead (`relay::rest_memo`).

use sha2::{Digest, Sha256};
use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// A memo key: the SHA-256 digest of a domain and length-prefixed parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoKey([u8; 32]);

impl MemoKey {
    /// The key of `parts` under `domain`. Each part is length-prefixed, so moving bytes from one
    /// part to the next gives another key.
    pub fn of(domain: &str, parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        h.update((domain.len() as u64).to_le_bytes());
        h.update(domain.as_bytes());
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        Self(h.finalize().into())
    }
}

/// A bounded map from keys (by default [`MemoKey`]) to shared values.
pub struct Memo<V, K = MemoKey> {
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Inner<V, K>>,
}

struct Inner<V, K> {
    map: HashMap<K, (Arc<V>, usize), foldhash::fast::RandomState>,
    /// Keys in insertion order: the front is evicted first.
    order: VecDeque<K>,
    bytes: usize,
}

impl<V, K: Hash + Eq + Clone> Memo<V, K> {
    /// A memo of at most `max_entries` values weighing at most `max_bytes` together.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_bytes,
            inner: Mutex::new(Inner {
                map: HashMap::default(),
                order: VecDeque::new(),
                bytes: 0,
            }),
        }
    }

    /// The value under `key`, if remembered.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
    {
        self.lock().map.get(key).map(|(v, _)| v.clone())
    }

    /// The value under `key`, else `compute()`'s, remembered when it is `Ok` and weighs (by
    /// `weight`) no more than the whole memo may. Errors are never remembered.
    pub fn get_or_try_insert<E>(
        &self,
        key: K,
        weight: impl FnOnce(&V) -> usize,
        compute: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(v) = self.get(&key) {
            return Ok(v);
        }
        let v = Arc::new(compute()?);
        self.insert(key, v.clone(), weight(&v));
        Ok(v)
    }

    /// Remembers `v` under `key` unless it weighs more than the whole memo may; the oldest
    /// values leave to make room.
    pub fn insert(&self, key: K, v: Arc<V>, weight: usize) {
        if weight > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        if inner.map.contains_key(&key) {
            return;
        }
        while inner.map.len() >= self.max_entries || inner.bytes + weight > self.max_bytes {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some((_, w)) = inner.map.remove(&old) {
                inner.bytes -= w;
            }
        }
        inner.map.insert(key.clone(), (v, weight));
        inner.order.push_back(key);
        inner.bytes += weight;
    }

    /// How many values are remembered.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V, K>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_parts_and_domains() {
        assert_eq!(MemoKey::of("d", &[b"ab", b"c"]), MemoKey::of("d", &[b"ab", b"c"]));
        assert_ne!(MemoKey::of("d", &[b"ab", b"c"]), MemoKey::of("d", &[b"a", b"bc"]));
        assert_ne!(MemoKey::of("d", &[b"x"]), MemoKey::of("e", &[b"x"]));
    }

    #[test]
    fn the_oldest_leaves_first_within_both_bounds() {
        let m: Memo<u32> = Memo::new(3, 100);
        let k = |i: u32| MemoKey::of("t", &[&i.to_le_bytes()]);
        for i in 0..5 {
            let got: Result<_, ()> = m.get_or_try_insert(k(i), |_| 10, || Ok(i));
            assert_eq!(*got.unwrap(), i);
        }
        assert_eq!(m.len(), 3);
        assert!(m.get(&k(1)).is_none() && m.get(&k(2)).is_some());
        // A heavy value pushes out as many as it needs.
        let _: Result<_, ()> = m.get_or_try_insert(k(9), |_| 85, || Ok(9));
        assert_eq!(m.len(), 2, "{}", m.len());
        // One heavier than the whole memo is computed but not kept.
        let got: Result<_, ()> = m.get_or_try_insert(k(10), |_| 101, || Ok(10));
        assert_eq!(*got.unwrap(), 10);
        assert!(m.get(&k(10)).is_none());
    }

    #[test]
    fn errors_are_not_remembered() {
        let m: Memo<u32> = Memo::new(3, 100);
        let k = MemoKey::of("t", &[b"x"]);
        assert_eq!(m.get_or_try_insert(k, |_| 1, || Err::<u32, _>("no")), Err("no"));
        assert!(m.is_empty());
        assert_eq!(*m.get_or_try_insert::<()>(k, |_| 1, || Ok(7)).unwrap(), 7);
    }
}
