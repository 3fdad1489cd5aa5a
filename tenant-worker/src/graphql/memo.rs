//! A bounded memo of work done on exact request bytes: a repeated GraphQL body (gh sends the
//! same document and variables for every `gh pr view 12`) is parsed, validated and re-printed
//! once, and later requests reuse the answer; the REST hit path does the same for request heads
//! (`relay::rest_memo`). A key is the exact bytes that decided the answer (each field
//! length-prefixed and marked present or absent, see [`with_key`]), kept whole and compared in
//! full on every lookup, so two inputs share an entry only if they are the same bytes; the table
//! hashes keys with foldhash, seeded per process. Values are only ever what the full path
//! computed for those bytes. Bounded by entries and by bytes (keys included), the oldest entry
//! leaving first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A bounded map from exact byte keys to shared values.
pub struct Memo<V> {
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    map: HashMap<Arc<[u8]>, (Arc<V>, usize), foldhash::fast::RandomState>,
    /// Keys in insertion order: the front is evicted first.
    order: VecDeque<Arc<[u8]>>,
    bytes: usize,
}

/// Calls `f` with the key of `fields`: each tagged present or absent and length-prefixed (so
/// no two lists of fields share a key), built on the stack when it fits.
pub fn with_key<R>(fields: &[Option<&[u8]>], f: impl FnOnce(&[u8]) -> R) -> R {
    let len: usize = fields.iter().map(|b| 1 + b.map_or(0, |b| 4 + b.len())).sum();
    let mut stack = [0u8; 512];
    let mut heap;
    let buf: &mut [u8] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap = vec![0u8; len];
        &mut heap
    };
    let mut at = 0;
    for b in fields {
        let Some(b) = b else {
            at += 1;
            continue;
        };
        buf[at] = 1;
        buf[at + 1..at + 5].copy_from_slice(&(b.len() as u32).to_le_bytes());
        buf[at + 5..at + 5 + b.len()].copy_from_slice(b);
        at += 5 + b.len();
    }
    f(buf)
}

impl<V> Memo<V> {
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

    /// The value under the key of `fields`, else `compute()`'s, remembered when it is `Ok` and
    /// weighs (by `weight`, plus its key) no more than the whole memo may. Errors are never
    /// remembered.
    pub fn get_or_try_insert<E>(
        &self,
        fields: &[Option<&[u8]>],
        weight: impl FnOnce(&V) -> usize,
        compute: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        with_key(fields, |key| {
            if let Some(v) = self.get(key) {
                return Ok(v);
            }
            let v = Arc::new(compute()?);
            self.insert(key, v.clone(), weight(&v) + 2 * key.len());
            Ok(v)
        })
    }

    fn get(&self, key: &[u8]) -> Option<Arc<V>> {
        self.lock().map.get(key).map(|(v, _)| v.clone())
    }

    /// Remembers `v` under `key` unless it weighs more than the whole memo may; the oldest
    /// values leave to make room.
    fn insert(&self, key: &[u8], v: Arc<V>, weight: usize) {
        if weight > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        if inner.map.contains_key(key) {
            return;
        }
        while inner.map.len() >= self.max_entries || inner.bytes + weight > self.max_bytes {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some((_, w)) = inner.map.remove(&old) {
                inner.bytes -= w;
            }
        }
        let key: Arc<[u8]> = key.into();
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fields: &[Option<&[u8]>]) -> Vec<u8> {
        with_key(fields, <[u8]>::to_vec)
    }

    #[test]
    fn keys_separate_fields_and_absence() {
        assert_eq!(key(&[Some(b"ab"), Some(b"c")]), key(&[Some(b"ab"), Some(b"c")]));
        assert_ne!(key(&[Some(b"ab"), Some(b"c")]), key(&[Some(b"a"), Some(b"bc")]));
        assert_ne!(key(&[None, Some(b"x")]), key(&[Some(b""), Some(b"x")]));
        let long = vec![b'a'; 600];
        assert_eq!(key(&[Some(&long)]).len(), 605);
    }

    #[test]
    fn the_oldest_leaves_first_within_both_bounds() {
        let m: Memo<u32> = Memo::new(3, 200);
        let get = |i: u32, weight: usize| -> Result<Arc<u32>, ()> {
            m.get_or_try_insert(&[Some(&i.to_le_bytes())], |_| weight, || Ok(i))
        };
        for i in 0..5 {
            assert_eq!(*get(i, 10).unwrap(), i);
        }
        assert_eq!(m.len(), 3);
        let remembered = |i: u32| m.get(&key(&[Some(&i.to_le_bytes())])).is_some();
        assert!(!remembered(1) && remembered(2));
        // A heavy value pushes out as many as it needs (keys weigh 2 x 9 bytes each).
        get(9, 150).unwrap();
        assert_eq!(m.len(), 2, "{}", m.len());
        // One heavier than the whole memo is computed but not kept.
        assert_eq!(*get(10, 201).unwrap(), 10);
        assert!(!remembered(10));
    }

    #[test]
    fn errors_are_not_remembered() {
        let m: Memo<u32> = Memo::new(3, 100);
        let fields: &[Option<&[u8]>] = &[Some(b"x")];
        assert_eq!(m.get_or_try_insert(fields, |_| 1, || Err::<u32, _>("no")), Err("no"));
        assert!(m.is_empty());
        assert_eq!(*m.get_or_try_insert::<()>(fields, |_| 1, || Ok(7)).unwrap(), 7);
    }
}
