//! What the world does not store but derives from the seed and an item, the same on every call:
//! a pull's changed files and commits, a commit's files, reviews, comments, check runs and
//! labels. `render` turns these into REST JSON; the GraphQL resolvers read them directly.

use time::{Duration, OffsetDateTime};

use crate::world::{Commit, FILES, Item, ItemKind, Repo, Run, World, epoch, hash_str, sha_of};

/// One changed file of a pull or commit.
#[derive(Debug, Clone)]
pub struct FileChange {
    /// Path.
    pub filename: String,
    /// Added lines.
    pub additions: u64,
    /// Removed lines.
    pub deletions: u64,
    /// Unified diff hunk.
    pub patch: String,
}

/// The changed files of a pull (they change with each touch of the pull).
pub fn pull_files(seed: u64, r: &Repo, i: &Item) -> Vec<FileChange> {
    changes(seed, &format!("{}#pull{}#r{}", r.full_name(), i.number, i.revision))
}

/// The changed files of a commit.
pub fn commit_files(seed: u64, sha: &str) -> Vec<FileChange> {
    changes(seed, sha)
}

fn changes(seed: u64, label: &str) -> Vec<FileChange> {
    let h = hash_str(seed, label);
    let n = 1 + (h % 4) as usize;
    (0..n)
        .map(|k| {
            let (path, _) = FILES[(h as usize / 7 + k) % FILES.len()];
            let additions = 1 + (h >> (k * 4)) % 5;
            let deletions = (h >> (k * 4 + 2)) % 3;
            let mut patch = format!("@@ -1,{deletions} +1,{additions} @@\n");
            for d in 0..deletions {
                patch.push_str(&format!("-old line {d}\n"));
            }
            for a in 0..additions {
                patch.push_str(&format!("+new line {a} of {label}\n"));
            }
            FileChange {
                filename: path.to_string(),
                additions,
                deletions,
                patch: patch.trim_end().to_string(),
            }
        })
        .collect()
}

/// The commits of a pull: two ending at its head (none for an issue).
pub fn pull_commits(seed: u64, r: &Repo, i: &Item) -> Vec<Commit> {
    let ItemKind::Pull { head_sha, base_sha, .. } = &i.kind else {
        return vec![];
    };
    let first = sha_of(seed, &format!("{}#pull{}#1", r.full_name(), i.number));
    vec![
        Commit {
            sha: first.clone(),
            message: format!("Start {}", i.title),
            author: i.author.clone(),
            date: i.created_at,
            parent: Some(base_sha.clone()),
        },
        Commit {
            sha: head_sha.clone(),
            message: format!("Finish {}", i.title),
            author: i.author.clone(),
            date: i.created_at + Duration::minutes(20),
            parent: Some(first),
        },
    ]
}

/// A commit by ref: on the default branch or in a pull.
pub fn find_commit(w: &World, r: &Repo, reference: &str) -> Option<Commit> {
    let sha = r.resolve_ref(reference)?;
    if let Some(c) = r.commits.iter().find(|c| c.sha == sha) {
        return Some(c.clone());
    }
    r.items
        .iter()
        .flat_map(|i| pull_commits(w.seed, r, i))
        .find(|c| c.sha == sha)
}

/// A review of a pull.
#[derive(Debug, Clone)]
pub struct Review {
    /// Global id.
    pub id: u64,
    /// Reviewer login.
    pub reviewer: &'static str,
    /// `APPROVED`, `COMMENTED` or `CHANGES_REQUESTED`.
    pub state: &'static str,
    /// Markdown body.
    pub body: String,
    /// Submission time.
    pub submitted_at: OffsetDateTime,
    /// The commit reviewed (the pull's head).
    pub commit_id: String,
}

/// The reviews of a pull: up to two.
pub fn reviews(seed: u64, r: &Repo, i: &Item) -> Vec<Review> {
    let h = hash_str(seed, &format!("{}#reviews{}", r.full_name(), i.number));
    let head = match &i.kind {
        ItemKind::Pull { head_sha, .. } => head_sha.clone(),
        ItemKind::Issue => String::new(),
    };
    (0..(h % 3))
        .map(|k| Review {
            id: 80_000_000 + i.id * 4 + k,
            reviewer: ["monalisa", "hubot", "octocat"][k as usize % 3],
            state: ["APPROVED", "COMMENTED", "CHANGES_REQUESTED"][((h >> (k * 3)) % 3) as usize],
            body: format!("Review {k} of #{}", i.number),
            submitted_at: i.created_at + Duration::hours(1 + k as i64),
            commit_id: head.clone(),
        })
        .collect()
}

/// A comment on an issue or pull.
#[derive(Debug, Clone)]
pub struct Comment {
    /// Global id.
    pub id: u64,
    /// Author login.
    pub author: &'static str,
    /// Markdown body.
    pub body: String,
    /// Creation (and last update) time.
    pub created_at: OffsetDateTime,
}

/// The comments of an issue or pull: as many as its `comments` count, 15 minutes apart.
pub fn comments(i: &Item) -> Vec<Comment> {
    (0..i.comments)
        .map(|k| Comment {
            id: 60_000_000 + i.id * 4 + k,
            author: ["hubot", "monalisa", "octocat", "defunkt"][k as usize % 4],
            body: format!("Comment {k} on #{}", i.number),
            created_at: i.created_at + Duration::minutes(15 * (k as i64 + 1)),
        })
        .collect()
}

/// A check run on a commit.
#[derive(Debug, Clone)]
pub struct CheckRun {
    /// Global id.
    pub id: u64,
    /// `build`, `test` or `lint`.
    pub name: &'static str,
    /// `success` or `failure`; `None` while in progress.
    pub conclusion: Option<&'static str>,
    /// Start time.
    pub started_at: OffsetDateTime,
    /// Completion time (90 seconds later); `None` while in progress.
    pub completed_at: Option<OffsetDateTime>,
    /// The check suite it belongs to.
    pub check_suite_id: u64,
}

impl CheckRun {
    /// `completed` or `in_progress`.
    pub fn status(&self) -> &'static str {
        if self.conclusion.is_some() {
            "completed"
        } else {
            "in_progress"
        }
    }
}

/// The check runs of a commit: two or three, completed unless the control API set their state
/// ([`World::check_run_states`]).
pub fn check_runs(w: &World, sha: &str) -> Vec<CheckRun> {
    let h = hash_str(w.seed, sha);
    let started_at = epoch() + Duration::seconds((h % 10_000_000) as i64);
    (0..(2 + h % 2))
        .map(|k| {
            let id = 30_000_000 + (h % 1_000_000) * 4 + k;
            let derived = if (h >> k).is_multiple_of(7) {
                "failure"
            } else {
                "success"
            };
            let conclusion = w.check_run_states.get(&id).copied().unwrap_or(Some(derived));
            CheckRun {
                id,
                name: ["build", "test", "lint"][k as usize % 3],
                conclusion,
                started_at,
                completed_at: conclusion.map(|_| started_at + Duration::seconds(90)),
                check_suite_id: 20_000_000 + h % 1_000_000,
            }
        })
        .collect()
}

/// A commit status (the legacy statuses API) on a commit.
#[derive(Debug, Clone)]
pub struct Status {
    /// Context name.
    pub context: &'static str,
    /// `success` or `failure`.
    pub state: &'static str,
    /// Description.
    pub description: &'static str,
    /// When it was set.
    pub created_at: OffsetDateTime,
}

/// The commit statuses of a commit: a coverage report on about half of them.
pub fn statuses(seed: u64, sha: &str) -> Vec<Status> {
    let h = hash_str(seed, &format!("{sha}#status"));
    if h.is_multiple_of(2) {
        return Vec::new();
    }
    let failing = h.is_multiple_of(5);
    vec![Status {
        context: "ci/coverage",
        state: if failing { "failure" } else { "success" },
        description: if failing { "Coverage dropped" } else { "Coverage kept" },
        created_at: epoch() + Duration::seconds((h % 10_000_000) as i64 + 120),
    }]
}

/// A job of a workflow run.
#[derive(Debug, Clone)]
pub struct Job {
    /// Global id.
    pub id: u64,
    /// `build` or `test`.
    pub name: &'static str,
    /// Start time.
    pub started_at: OffsetDateTime,
    /// Completion time, `None` while the run is in progress.
    pub completed_at: Option<OffsetDateTime>,
}

/// The jobs of a workflow run: `build` then `test`, three minutes each.
pub fn jobs(x: &Run) -> Vec<Job> {
    let done = x.status == "completed";
    ["build", "test"]
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let started_at = x.created_at + Duration::minutes(k as i64 * 3);
            Job {
                id: x.id * 10 + k as u64,
                name,
                started_at,
                completed_at: done.then(|| started_at + Duration::minutes(3)),
            }
        })
        .collect()
}

/// A label.
#[derive(Debug, Clone)]
pub struct Label {
    /// Id, derived from the name.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Six hex digits.
    pub color: String,
    /// Description.
    pub description: String,
}

/// A label by name.
pub fn label(seed: u64, name: &str) -> Label {
    let id = hash_str(seed, name) % 1_000_000_000;
    Label {
        id,
        name: name.to_string(),
        color: format!("{:06x}", id % 0xFFFFFF),
        description: format!("{name} label"),
    }
}
