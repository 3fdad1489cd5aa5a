//! Invalidation by GitHub's webhook events: what each cache key covers ([`Cover`], read from the
//! key itself), an [`Index`] from repository to the keys stored under it (kept as entries are
//! stored and evicted, so an event costs a look at one repository's keys, never a cache scan),
//! and which covers an event makes stale ([`makes_stale`]).

use super::Entry;
use crate::classify::is_sha;
use crate::route::Freshness;
use shoal_common::protocol::WebhookEvent;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Prefix of GraphQL cache keys; the line after it names the one repository the query reads
/// (empty when it reads none or several).
pub const GRAPHQL_KEY: &str = "POST /graphql\n";

/// What one cache key of a repository shows, as far as events can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cover {
    /// The repository object (`/repos/{o}/{r}`).
    Repo,
    /// One pull request or issue and what hangs under it (`pulls/7/files`, `issues/7/comments`).
    Number(u64),
    /// State attached to one commit: its statuses and checks (`commits/{sha}/check-runs`).
    Commit(Box<str>),
    /// Addressed by a branch, tag or the default branch: `branches/..`, `git/refs/..`,
    /// `commits/{ref}/..`, `contents` without a SHA ref, `compare`.
    Ref,
    CheckRun(u64),
    CheckSuite(u64),
    /// A workflow run or job and what hangs under it.
    Run,
    /// A collection the selected events change: pulls, issues, commits, branches, tags, releases,
    /// check runs and suites, workflow runs, comments.
    List,
    /// A GraphQL query reading this repository.
    Graphql,
    /// Anything else under the repository (labels, milestones, contributors, deployments...):
    /// only a repository-wide event touches it, and no event is sure to follow its changes.
    Other,
}

impl Cover {
    /// Whether every change of what it shows comes with one of the selected events, so a long
    /// TTL is safe while the tenant's webhook is live.
    pub fn is_covered(&self) -> bool {
        !matches!(self, Cover::Repo | Cover::Other)
    }
}

/// The repository (`owner/name`, lower-cased) and cover of a cache key; `None` for keys outside
/// one repository (search, meta, `/repositories/{id}`, GraphQL over several repositories).
pub fn cover_of(key: &str) -> Option<(&str, Cover)> {
    if let Some(rest) = key.strip_prefix(GRAPHQL_KEY) {
        let repo = rest.split('\n').next().filter(|r| !r.is_empty())?;
        return Some((repo, Cover::Graphql));
    }
    let path = key.split(['\n', '?']).next()?;
    let rest = path.strip_prefix("/repos/")?;
    let mut segs = rest.split('/');
    let (owner, name) = (segs.next()?, segs.next()?);
    let repo = &rest[..owner.len() + 1 + name.len()];
    let segs: Vec<&str> = segs.collect();
    let number = |s: &str| s.parse::<u64>().ok();
    let cover = match segs.as_slice() {
        [] => Cover::Repo,
        ["pulls" | "issues", n, ..] if number(n).is_some() => Cover::Number(number(n)?),
        ["commits" | "statuses", sha, ..] if is_sha(sha) => Cover::Commit(sha.to_ascii_lowercase().into()),
        ["commits" | "statuses", _, ..] => Cover::Ref,
        ["check-runs", id, ..] if number(id).is_some() => Cover::CheckRun(number(id)?),
        ["check-suites", id, ..] if number(id).is_some() => Cover::CheckSuite(number(id)?),
        ["actions", "runs" | "jobs", _, ..] => Cover::Run,
        ["branches" | "contents" | "readme" | "compare", ..] | ["git", "ref" | "refs", ..] => Cover::Ref,
        [
            "pulls" | "issues" | "commits" | "tags" | "releases" | "check-runs" | "check-suites",
            ..,
        ]
        | ["actions", "runs" | "jobs"] => Cover::List,
        _ => Cover::Other,
    };
    Some((repo, cover))
}

/// Whether `e` (about the repository of `cover`) makes an entry of `cover` stale. Narrow where
/// the event says what changed; the whole repository when it does not or may have.
pub fn makes_stale(e: &WebhookEvent, cover: &Cover) -> bool {
    use Cover::*;
    let same = |a: Option<u64>, b: u64| a.is_none_or(|a| a == b);
    match e.event.as_str() {
        "pull_request"
        | "pull_request_review"
        | "pull_request_review_comment"
        | "pull_request_review_thread"
        | "issues"
        | "issue_comment" => match (e.number, cover) {
            (None, _) => true,
            (Some(n), Number(m)) => n == *m,
            // Lists, GraphQL and the repository's open issue count show it too.
            (Some(_), List | Graphql | Repo) => true,
            (Some(_), _) => false,
        },
        "check_run" | "check_suite" | "status" | "workflow_run" | "workflow_job" => match cover {
            Commit(sha) => e.head_sha.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(sha)),
            CheckRun(id) => same(e.check_run_id, *id) || e.event != "check_run",
            CheckSuite(id) => same(e.check_suite_id, *id),
            // Branch-addressed checks, pull requests' mergeable state, rollups.
            Run | Ref | List | Graphql | Number(_) => true,
            Repo | Other => false,
        },
        // push, create, delete, release, repository, and anything unknown.
        _ => true,
    }
}

/// One indexed key.
struct Indexed {
    cover: Cover,
    /// The stored entry's address: an eviction removes the key only if it evicts this entry.
    entry: usize,
    /// When an event last made it stale (Unix ms).
    invalidated_ms: Option<u64>,
}

/// One repository's indexed keys.
type Keys = HashMap<Arc<str>, Indexed>;

/// Repository (lower-cased `owner/name`) to the cache keys stored under it. Holds only keys in
/// the cache: evictions remove them, so it is bounded by the cache.
#[derive(Default)]
pub struct Index {
    repos: Mutex<HashMap<Box<str>, Keys>>,
}

fn address(e: &Arc<Entry>) -> usize {
    Arc::as_ptr(e) as usize
}

impl Index {
    /// Records that `entry` is now stored under `key`. Entries addressed by a commit SHA never
    /// change and are left out.
    pub fn add(&self, key: &Arc<str>, entry: &Arc<Entry>) {
        let Some((repo, cover)) = cover_of(key) else { return };
        if entry.freshness == Freshness::Immutable {
            return;
        }
        let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        let keys = repos.entry(repo.into()).or_default();
        let slot = keys.entry(key.clone()).or_insert(Indexed {
            cover,
            entry: 0,
            invalidated_ms: None,
        });
        slot.entry = address(entry);
    }

    /// Forgets `key` when `entry` is what it holds (an eviction of a replaced entry forgets nothing).
    pub fn remove(&self, key: &str, entry: &Arc<Entry>) {
        let Some((repo, _)) = cover_of(key) else { return };
        let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        let Some(keys) = repos.get_mut(repo) else { return };
        if keys.get(key).is_some_and(|i| i.entry == address(entry)) {
            keys.remove(key);
            if keys.is_empty() {
                repos.remove(repo);
            }
        }
    }

    /// The keys `e` makes stale, each marked as invalidated at `now_ms`.
    pub fn invalidate(&self, e: &WebhookEvent, now_ms: u64) -> Vec<Arc<str>> {
        let Some(repo) = e.repository.as_deref() else {
            return Vec::new();
        };
        let repo = repo.to_ascii_lowercase();
        let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        let Some(keys) = repos.get_mut(repo.as_str()) else {
            return Vec::new();
        };
        keys.iter_mut()
            .filter(|(_, i)| makes_stale(e, &i.cover))
            .map(|(k, i)| {
                i.invalidated_ms = Some(now_ms);
                k.clone()
            })
            .collect()
    }

    /// When an event last made `key` stale.
    pub fn invalidated_at(&self, key: &str) -> Option<u64> {
        let (repo, _) = cover_of(key)?;
        let repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        repos.get(repo)?.get(key)?.invalidated_ms
    }

    /// Keys indexed, over all repositories.
    pub fn len(&self) -> usize {
        let repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        repos.values().map(HashMap::len).sum()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::relay_etag;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn key(path: &str) -> Arc<str> {
        format!("{path}\napplication/vnd.github+json\n").into()
    }

    fn event(event: &str) -> WebhookEvent {
        WebhookEvent {
            event: event.into(),
            repository: Some("Octo-Org/App".into()),
            ..WebhookEvent::default()
        }
    }

    fn entry(freshness: Freshness) -> Arc<Entry> {
        Arc::new(Entry {
            status: 200,
            headers: vec![],
            body: bytes::Bytes::new(),
            validated_ms: 0,
            ttl_ms: 1,
            freshness,
            last_modified: None,
            etags: vec![],
            relay_etag: relay_etag(200, "", b""),
            prebuilt: Default::default(),
            rebase: Default::default(),
            per_caller: Default::default(),
        })
    }

    #[test]
    fn keys_say_what_they_cover() {
        let c = |p: &str| cover_of(&key(p)).map(|(r, c)| (r.to_string(), c));
        let app = |cover| Some(("octo-org/app".to_string(), cover));
        assert_eq!(c("/repos/octo-org/app"), app(Cover::Repo));
        assert_eq!(c("/repos/octo-org/app/pulls/7"), app(Cover::Number(7)));
        assert_eq!(c("/repos/octo-org/app/issues/7/comments"), app(Cover::Number(7)));
        assert_eq!(c("/repos/octo-org/app/pulls?state=open"), app(Cover::List));
        assert_eq!(c("/repos/octo-org/app/issues/comments"), app(Cover::List));
        assert_eq!(
            c(&format!("/repos/octo-org/app/commits/{SHA}/check-runs")),
            app(Cover::Commit(SHA.into()))
        );
        assert_eq!(c("/repos/octo-org/app/commits/main/status"), app(Cover::Ref));
        assert_eq!(c("/repos/octo-org/app/check-runs/11"), app(Cover::CheckRun(11)));
        assert_eq!(
            c("/repos/octo-org/app/check-suites/22/check-runs"),
            app(Cover::CheckSuite(22))
        );
        assert_eq!(c("/repos/octo-org/app/actions/runs/5/jobs"), app(Cover::Run));
        assert_eq!(c("/repos/octo-org/app/actions/runs"), app(Cover::List));
        assert_eq!(c("/repos/octo-org/app/contents/README.md"), app(Cover::Ref));
        assert_eq!(c("/repos/octo-org/app/branches/main"), app(Cover::Ref));
        assert_eq!(c("/repos/octo-org/app/releases"), app(Cover::List));
        assert_eq!(c("/repos/octo-org/app/labels"), app(Cover::Other));
        assert_eq!(
            cover_of("POST /graphql\nocto-org/app\nabc"),
            Some(("octo-org/app", Cover::Graphql))
        );
        assert_eq!(cover_of("POST /graphql\n\nabc"), None);
        assert_eq!(cover_of(&key("/search/issues?q=repo:octo-org/app")), None);
        assert_eq!(cover_of(&key("/repositories/42/pulls/1")), None);
        assert!(Cover::Number(1).is_covered() && Cover::Graphql.is_covered());
        assert!(!Cover::Repo.is_covered() && !Cover::Other.is_covered());
    }

    #[test]
    fn pull_request_and_issue_events_touch_their_number_lists_and_graphql() {
        for name in ["pull_request", "pull_request_review", "issues", "issue_comment"] {
            let e = WebhookEvent {
                number: Some(7),
                ..event(name)
            };
            assert!(makes_stale(&e, &Cover::Number(7)), "{name}");
            assert!(!makes_stale(&e, &Cover::Number(8)), "{name}");
            assert!(
                makes_stale(&e, &Cover::List) && makes_stale(&e, &Cover::Graphql),
                "{name}"
            );
            assert!(!makes_stale(&e, &Cover::Commit(SHA.into())), "{name}");
            assert!(
                !makes_stale(&e, &Cover::CheckRun(1)) && !makes_stale(&e, &Cover::Other),
                "{name}"
            );
            // Without a number: the whole repository.
            assert!(makes_stale(&event(name), &Cover::Number(8)), "{name}");
        }
    }

    #[test]
    fn check_events_touch_their_commit_suite_and_run() {
        let e = WebhookEvent {
            head_sha: Some(SHA.to_uppercase()),
            check_run_id: Some(11),
            check_suite_id: Some(22),
            ..event("check_run")
        };
        assert!(makes_stale(&e, &Cover::Commit(SHA.into())));
        assert!(!makes_stale(&e, &Cover::Commit("f".repeat(40).into())));
        assert!(makes_stale(&e, &Cover::CheckRun(11)));
        assert!(!makes_stale(&e, &Cover::CheckRun(12)));
        assert!(makes_stale(&e, &Cover::CheckSuite(22)));
        assert!(!makes_stale(&e, &Cover::CheckSuite(23)));
        for c in [Cover::Ref, Cover::List, Cover::Graphql, Cover::Number(7), Cover::Run] {
            assert!(makes_stale(&e, &c), "{c:?}");
        }
        assert!(!makes_stale(&e, &Cover::Repo) && !makes_stale(&e, &Cover::Other));
        // A suite completing may change every run in it.
        let suite = WebhookEvent {
            check_suite_id: Some(22),
            ..event("check_suite")
        };
        assert!(makes_stale(&suite, &Cover::CheckRun(11)));
        for name in ["status", "workflow_run", "workflow_job"] {
            assert!(makes_stale(&event(name), &Cover::Commit(SHA.into())), "{name}");
            assert!(!makes_stale(&event(name), &Cover::Other), "{name}");
        }
    }

    #[test]
    fn repository_wide_events_touch_everything() {
        for name in ["push", "create", "delete", "release", "repository", "something_new"] {
            for c in [
                Cover::Repo,
                Cover::Number(1),
                Cover::Commit(SHA.into()),
                Cover::Ref,
                Cover::List,
                Cover::Graphql,
                Cover::Other,
            ] {
                assert!(makes_stale(&event(name), &c), "{name} {c:?}");
            }
        }
    }

    #[test]
    fn the_index_finds_only_the_repositorys_stale_keys_and_follows_evictions() {
        let idx = Index::default();
        let (pr7, pr8, other) = (
            key("/repos/octo-org/app/pulls/7"),
            key("/repos/octo-org/app/pulls/8"),
            key("/repos/octo-org/other/pulls/7"),
        );
        let gql: Arc<str> = "POST /graphql\nocto-org/app\nabc".into();
        let pinned = key(&format!("/repos/octo-org/app/commits/{SHA}"));
        let e = entry(Freshness::Fast);
        for k in [&pr7, &pr8, &other, &gql] {
            idx.add(k, &e);
        }
        idx.add(&pinned, &entry(Freshness::Immutable));
        idx.add(&key("/search/issues?q=x"), &e);
        assert_eq!(idx.len(), 4);
        let ev = WebhookEvent {
            number: Some(7),
            ..event("pull_request")
        };
        let mut stale = idx.invalidate(&ev, 1_000);
        stale.sort();
        assert_eq!(stale, vec![pr7.clone(), gql.clone()]);
        assert_eq!(idx.invalidated_at(&pr7), Some(1_000));
        assert_eq!(idx.invalidated_at(&pr8), None);
        assert_eq!(idx.invalidated_at(&other), None);
        // A push makes every indexed key of the repository stale (the pinned commit never is).
        assert_eq!(idx.invalidate(&event("push"), 2_000).len(), 3);
        // An eviction of an entry that was since replaced keeps the key; of the current one drops it.
        let replaced = entry(Freshness::Fast);
        idx.add(&pr7, &replaced);
        idx.remove(&pr7, &e);
        assert_eq!(idx.invalidated_at(&pr7), Some(2_000));
        idx.remove(&pr7, &replaced);
        assert_eq!(idx.invalidated_at(&pr7), None);
        for k in [&pr8, &other, &gql] {
            idx.remove(k, &e);
        }
        assert!(idx.is_empty());
        assert!(idx.repos.lock().unwrap().is_empty(), "no empty repository is kept");
    }
}
