//! What the relay learns about repositories from GitHub's answers and the tenant rules read:
//! which repository a `/repositories/{id}` path or a GraphQL node id names, and whether a
//! repository is public (for the public-only guard and for negative answers that hold for every
//! identity).

use base64::Engine;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How long a repo's learned visibility is trusted.
pub const VISIBILITY_TTL_MS: u64 = 10 * 60 * 1000;
/// Most node ids remembered; the oldest learned is forgotten first.
pub const MAX_NODE_IDS: usize = 50_000;
/// Longest node id remembered (GitHub's are well under 100 characters).
const MAX_NODE_ID_LEN: usize = 128;

/// Fields of an answer that lead to objects of another repository or to no repository (users,
/// forks, cross-references): node ids under them are not learned as the enclosing repo's.
const FOREIGN_FIELDS: &[&str] = &[
    "actor",
    "app",
    "assignee",
    "assignees",
    "author",
    "authors",
    "closingIssuesReferences",
    "committer",
    "creator",
    "editor",
    "head",
    "headRef",
    "headRepository",
    "headRepositoryOwner",
    "mergedBy",
    "merged_by",
    "organization",
    "owner",
    "parent",
    "participants",
    "performed_via_github_app",
    "repository",
    "requested_reviewers",
    "requested_teams",
    "reviewRequests",
    "sender",
    "source",
    "template_repository",
    "timelineItems",
    "triggering_actor",
    "user",
];

/// Repository ids, node ids and visibility learned from answers.
#[derive(Default)]
pub struct Knowledge {
    /// `/repositories/{id}` → `owner/repo`.
    repo_ids: Mutex<HashMap<u64, String>>,
    /// GraphQL node id → the `owner/repo` it was seen under.
    node_ids: Mutex<NodeIds>,
    /// `owner/repo` → (public, learned at ms).
    visibility: Mutex<HashMap<String, (bool, u64)>>,
}

/// Node ids in learning order, bounded by [`MAX_NODE_IDS`].
#[derive(Default)]
struct NodeIds {
    repo_of: HashMap<Box<str>, Arc<str>>,
    order: VecDeque<Box<str>>,
}

impl NodeIds {
    fn insert(&mut self, id: &str, repo: &Arc<str>) {
        if id.is_empty() || id.len() > MAX_NODE_ID_LEN {
            return;
        }
        if let Some(known) = self.repo_of.get_mut(id) {
            *known = repo.clone();
            return;
        }
        if self.order.len() >= MAX_NODE_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.repo_of.remove(&oldest);
        }
        self.repo_of.insert(id.into(), repo.clone());
        self.order.push_back(id.into());
    }
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

    /// The `owner/repo` a GraphQL node id belongs to: the repository it was seen under, else the
    /// one whose database id a new-format id carries, when that repository's id is known.
    pub fn repo_of_node(&self, id: &str) -> Option<String> {
        let seen = self
            .node_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .repo_of
            .get(id)
            .map(|r| r.to_string());
        seen.or_else(|| self.repo_of(repository_database_id(id)?))
    }

    /// Records the node ids (`id`, `node_id`) in `answer` as `repo`'s, but not those under
    /// [`FOREIGN_FIELDS`].
    pub fn learn_node_ids(&self, answer: &Value, repo: &str) {
        let mut found = Vec::new();
        collect_node_ids(answer, &mut found, 0);
        if found.is_empty() {
            return;
        }
        let repo: Arc<str> = repo.into();
        let mut m = self.node_ids.lock().unwrap_or_else(|p| p.into_inner());
        for id in found {
            m.insert(id, &repo);
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

/// Deepest nesting walked when collecting node ids (answers are bounded by the query's depth).
const MAX_WALK_DEPTH: usize = 64;

fn collect_node_ids<'v>(v: &'v Value, out: &mut Vec<&'v str>, depth: usize) {
    if depth > MAX_WALK_DEPTH {
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("id" | "node_id", Value::String(id)) => out.push(id),
                    (k, _) if FOREIGN_FIELDS.contains(&k) => {}
                    _ => collect_node_ids(x, out, depth + 1),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_node_ids(x, out, depth + 1)),
        _ => {}
    }
}

/// Type prefixes of new-format node ids whose payload is `[0, repository database id, ...]`.
const REPO_SCOPED_PREFIXES: &[&str] = &[
    "R", "PR", "I", "IC", "PRR", "PRRC", "PRRT", "CR", "CS", "RE", "LA", "MI",
];

/// The repository database id a new-format node id carries (`PR_kwDO...`: a type prefix, `_`,
/// then base64url of a MessagePack array `[0, repository id, ...]`).
pub fn repository_database_id(id: &str) -> Option<u64> {
    let (prefix, payload) = id.split_once('_')?;
    if !REPO_SCOPED_PREFIXES.contains(&prefix) || payload.len() > MAX_NODE_ID_LEN {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let (&header, rest) = bytes.split_first()?;
    // A fixarray of at least two elements, the first the format version 0.
    if !(0x92..=0x9f).contains(&header) {
        return None;
    }
    let (version, rest) = msgpack_uint(rest)?;
    if version != 0 {
        return None;
    }
    msgpack_uint(rest).map(|(repo, _)| repo).filter(|&r| r > 0)
}

/// A MessagePack unsigned integer at the start of `b`, and what follows it.
fn msgpack_uint(b: &[u8]) -> Option<(u64, &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let width = match tag {
        0x00..=0x7f => return Some((u64::from(tag), rest)),
        0xcc => 1,
        0xcd => 2,
        0xce => 4,
        0xcf => 8,
        _ => return None,
    };
    let (n, rest) = (rest.get(..width)?, &rest[width..]);
    Some((n.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A new-format id as GitHub builds it: prefix, `_`, base64url(msgpack([0, repo, object])).
    fn new_format(prefix: &str, repo: u32, object: u64) -> String {
        let mut b = vec![0x93, 0x00, 0xce];
        b.extend_from_slice(&repo.to_be_bytes());
        b.push(0xcf);
        b.extend_from_slice(&object.to_be_bytes());
        format!(
            "{prefix}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
        )
    }

    #[test]
    fn a_new_format_id_carries_its_repositorys_database_id() {
        let id = new_format("PR", 8_189_241, 1_234_567_890);
        assert!(id.starts_with("PR_kwDOAHz1Oc8"), "{id}");
        assert_eq!(repository_database_id(&id), Some(8_189_241));
        // A repository's own id is `[0, id]`.
        assert_eq!(repository_database_id("R_kgDOAHz1OQ"), Some(8_189_241));
        // Users and organizations carry no repository; legacy ids carry no msgpack.
        assert_eq!(repository_database_id(&new_format("U", 8_189_241, 1)), None);
        assert_eq!(repository_database_id("MDExOlB1bGxSZXF1ZXN0MQ=="), None);
        assert_eq!(repository_database_id("PR_!!!"), None);

        let k = Knowledge::default();
        assert_eq!(k.repo_of_node(&id), None, "the repository's id is not known yet");
        k.learn_repo_ids([8_189_241], "octo-org/hello-world");
        assert_eq!(k.repo_of_node(&id).as_deref(), Some("octo-org/hello-world"));
    }

    #[test]
    fn node_ids_are_learned_under_their_repository_but_not_under_foreign_fields() {
        let k = Knowledge::default();
        let answer = json!({"pullRequest": {"id": "PR1", "comments": {"nodes": [{"id": "C1", "author": {"id": "U1"}}]},
            "headRepository": {"id": "FORK"}}, "labels": [{"node_id": "L1"}]});
        k.learn_node_ids(&answer, "octo-org/hello-world");
        for id in ["PR1", "C1", "L1"] {
            assert_eq!(k.repo_of_node(id).as_deref(), Some("octo-org/hello-world"), "{id}");
        }
        for id in ["U1", "FORK", "unknown"] {
            assert_eq!(k.repo_of_node(id), None, "{id}");
        }
    }

    #[test]
    fn node_ids_are_bounded_and_the_oldest_is_forgotten() {
        let k = Knowledge::default();
        let ids: Vec<Value> = (0..=MAX_NODE_IDS).map(|i| json!({"id": format!("N{i}")})).collect();
        k.learn_node_ids(&Value::Array(ids), "o/r");
        assert_eq!(k.repo_of_node("N0"), None);
        assert_eq!(k.repo_of_node("N1").as_deref(), Some("o/r"));
        assert_eq!(k.repo_of_node(&format!("N{MAX_NODE_IDS}")).as_deref(), Some("o/r"));
    }
}
