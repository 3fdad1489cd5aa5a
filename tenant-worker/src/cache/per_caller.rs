//! Answers made one caller's own from a cached body (GraphQL's `viewer` and `viewerDidAuthor`,
//! set for the caller after the cache), remembered beside the entry: gh asks `viewerDidAuthor` in
//! every `gh pr view`, and re-parsing and re-printing the pooled answer on each hit would cost
//! more than the rest of the hit. Built from the entry's body only, so an entry with another body
//! starts with an empty one; a few callers per entry, the oldest replaced first.

use axum::http::HeaderValue;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Callers' answers remembered per entry.
pub const MAX_CALLERS: usize = 8;

/// What an answer for one caller depends on besides the entry's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForWhom {
    /// The caller's login.
    pub login: Box<str>,
    /// Which parts of the answer are the caller's (a bit set chosen by the user of the memo).
    pub parts: u8,
}

/// The answers built so far for callers of one entry (body and the relay ETag over it).
#[derive(Debug, Clone, Default)]
pub struct PerCaller(Arc<Mutex<VecDeque<(ForWhom, Bytes, HeaderValue)>>>);

impl PerCaller {
    /// The answer for `login` and `parts`, built by `build` the first time.
    pub fn get_or_build(
        &self,
        login: &str,
        parts: u8,
        build: impl FnOnce() -> (Bytes, HeaderValue),
    ) -> (Bytes, HeaderValue) {
        {
            let built = self.lock();
            if let Some((_, b, e)) = built.iter().find(|(w, _, _)| w.parts == parts && *w.login == *login) {
                return (b.clone(), e.clone());
            }
        }
        let (body, etag) = build();
        let mut built = self.lock();
        if !built.iter().any(|(w, _, _)| w.parts == parts && *w.login == *login) {
            if built.len() >= MAX_CALLERS {
                built.pop_front();
            }
            let whom = ForWhom {
                login: login.into(),
                parts,
            };
            built.push_back((whom, body.clone(), etag.clone()));
        }
        (body, etag)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(ForWhom, Bytes, HeaderValue)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_once_per_caller_and_parts_and_bounded() {
        let memo = PerCaller::default();
        let builds = std::cell::Cell::new(0);
        let get = |login: &str, parts: u8| {
            memo.get_or_build(login, parts, || {
                builds.set(builds.get() + 1);
                (
                    Bytes::from(format!("{login}{parts}")),
                    HeaderValue::from_static("\"e\""),
                )
            })
            .0
        };
        assert_eq!(get("alice", 1), "alice1");
        assert_eq!(get("alice", 1), "alice1");
        assert_eq!(get("alice", 2), "alice2");
        assert_eq!(get("bob", 1), "bob1");
        for i in 0..MAX_CALLERS {
            get(&format!("u{i}"), 1);
        }
        assert_eq!(get("alice", 1), "alice1");
        assert_eq!(builds.get(), 3 + MAX_CALLERS + 1);
        assert_eq!(memo.lock().len(), MAX_CALLERS);
    }
}
