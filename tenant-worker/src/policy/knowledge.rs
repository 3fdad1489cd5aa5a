//! What the relay learns about repositories from GitHub's answers and the tenant rules read:
//! which repository a `/repositories/{id}` path names, and whether a repository is public (for
//! the public-only guard and for negative answers that hold for every identity).

use std::collections::HashMap;
use std::sync::Mutex;

/// How long a repo's learned visibility is trusted.
pub const VISIBILITY_TTL_MS: u64 = 10 * 60 * 1000;

/// Repository ids and visibility learned from answers.
#[derive(Default)]
pub struct Knowledge {
    /// `/repositories/{id}` → `owner/repo`.
    repo_ids: Mutex<HashMap<u64, String>>,
    /// `owner/repo` → (public, learned at ms).
    visibility: Mutex<HashMap<String, (bool, u64)>>,
}

impl Knowledge {
    /// The `owner/repo` a repository id was learned for.
    pub fn repo_of(&self, id: u64) -> Option<String> {
        self.repo_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Records that each of `ids` names `repo`.
    pub fn learn_repo_ids(&self, ids: impl IntoIterator<Item = u64>, repo: &str) {
        let mut m = self.repo_ids.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            m.insert(id, repo.to_string());
        }
    }

    /// Records whether `repo` is public, as learned at `now_ms`.
    pub fn learn_visibility(&self, repo: &str, public: bool, now_ms: u64) {
        self.visibility
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(repo.to_string(), (public, now_ms));
    }

    /// Whether `repo` is public, when learned within [`VISIBILITY_TTL_MS`] of `now_ms`.
    pub fn visibility(&self, repo: &str, now_ms: u64) -> Option<bool> {
        let m = self.visibility.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(repo) {
            Some((public, at)) if now_ms < at + VISIBILITY_TTL_MS => Some(*public),
            _ => None,
        }
    }

    /// Whether `repo` is known to be public at `now_ms`.
    pub fn known_public(&self, repo: Option<&str>, now_ms: u64) -> bool {
        repo.is_some_and(|r| self.visibility(r, now_ms) == Some(true))
    }
}
