//! "Not found" answers that may only mean "this identity cannot see it". GitHub answers 404 (REST)
//! or a `NOT_FOUND` error (GraphQL), never 403, to a token that lacks access to a private repo, so
//! a cached negative answer must not hide a resource from the identities that can see it.
//!
//! The rule, kept simple: a negative answer under a repo known to be public is the same for every
//! identity and is served to everyone for its short TTL. Any other cached negative answer
//! remembers which identities got it (its witnesses) and is served only once every eligible
//! identity is among them; until then a request goes upstream on an identity that is not (and
//! serves the cached answer when none of those has budget).

use crate::cache::Entry;
use shoal_common::IdentityId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most keys whose witnesses are remembered; beyond it the expired ones are dropped.
const MAX_KEYS: usize = 4096;

struct Witnessed {
    /// `validated_ms` of the cached entry the witnesses are for.
    validated_ms: u64,
    /// When the entry stops being fresh.
    expires_ms: u64,
    ids: Vec<IdentityId>,
}

/// Which identities got each cached negative answer.
#[derive(Default)]
pub struct Witnesses(Mutex<HashMap<Arc<str>, Witnessed>>);

impl Witnesses {
    /// The identities that got `e`, cached under `key`; `None` when `e` is not a recorded
    /// negative answer.
    pub fn of(&self, key: &str, e: &Entry) -> Option<Vec<IdentityId>> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(key)
            .filter(|w| w.validated_ms == e.validated_ms)
            .map(|w| w.ids.clone())
    }

    /// Records that `ids` got the negative answer now cached under `key` as `e`.
    pub fn record(&self, key: &Arc<str>, e: &Entry, ids: Vec<IdentityId>, now_ms: u64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_KEYS {
            m.retain(|_, w| w.expires_ms > now_ms);
            if m.len() >= MAX_KEYS {
                m.clear();
            }
        }
        let w = Witnessed {
            validated_ms: e.validated_ms,
            expires_ms: e.validated_ms.saturating_add(e.ttl_ms),
            ids,
        };
        m.insert(key.clone(), w);
    }

    /// Forgets `key` (a positive answer replaced the negative one).
    pub fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}
