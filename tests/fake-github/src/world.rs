//! The deterministic seeded world: users, orgs, repos and everything inside a repo.
//!
//! Stored items carry only what can change (state, `updated_at`, a revision); derived lists
//! (a pull's files and commits, reviews, comments, check runs) are computed by `derived` from a
//! hash of the seed and the item, so a large world stays small in memory and identical for a
//! given seed.

use std::collections::{BTreeMap, HashMap};

use time::{Duration, OffsetDateTime};

/// How big a world to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// A handful of repos with a couple of dozen items each (tests).
    #[default]
    Small,
    /// Tens of repos with tens of items each.
    Medium,
    /// Hundreds of repos with hundreds of items each (benchmarks).
    Large,
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "small" => Ok(Size::Small),
            "medium" => Ok(Size::Medium),
            "large" => Ok(Size::Large),
            other => Err(format!("unknown size {other:?}: use small, medium or large")),
        }
    }
}

struct Dims {
    extra_repos: usize,
    items: usize,
    commits: usize,
    runs: usize,
}

impl Size {
    fn dims(self) -> Dims {
        match self {
            Size::Small => Dims {
                extra_repos: 4,
                items: 8,
                commits: 12,
                runs: 3,
            },
            Size::Medium => Dims {
                extra_repos: 40,
                items: 60,
                commits: 60,
                runs: 20,
            },
            Size::Large => Dims {
                extra_repos: 200,
                items: 300,
                commits: 200,
                runs: 60,
            },
        }
    }
}

/// A role in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Organisation owner.
    Admin,
    /// Plain member.
    Member,
}

impl Role {
    /// GitHub's spelling of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// A user account.
#[derive(Debug, Clone)]
pub struct User {
    /// Numeric id (the one in "API rate limit exceeded for user ID N.").
    pub id: u64,
    /// Login name.
    pub login: String,
    /// Display name.
    pub name: String,
}

/// An organisation.
#[derive(Debug, Clone)]
pub struct Org {
    /// Numeric id.
    pub id: u64,
    /// Login name.
    pub login: String,
    /// Members by login.
    pub members: BTreeMap<String, Role>,
}

/// A commit on a repo's default branch.
#[derive(Debug, Clone)]
pub struct Commit {
    /// 40 hex digits.
    pub sha: String,
    /// First line is the title.
    pub message: String,
    /// Author login.
    pub author: String,
    /// Author and committer date.
    pub date: OffsetDateTime,
    /// The previous commit, if any.
    pub parent: Option<String>,
}

/// Whether an item is a pull request or an issue (they share numbers, as on GitHub).
#[derive(Debug, Clone)]
pub enum ItemKind {
    /// An issue.
    Issue,
    /// A pull request.
    Pull {
        /// Head commit sha.
        head_sha: String,
        /// Base commit sha.
        base_sha: String,
        /// Head branch name.
        head_ref: String,
        /// Whether it was merged (only when closed).
        merged: bool,
        /// Draft flag.
        draft: bool,
    },
}

/// An issue or a pull request.
#[derive(Debug, Clone)]
pub struct Item {
    /// Global id.
    pub id: u64,
    /// Number within the repo.
    pub number: u64,
    /// Issue or pull.
    pub kind: ItemKind,
    /// Title.
    pub title: String,
    /// Body (includes the revision, so a touch changes it).
    pub body: String,
    /// open or closed.
    pub open: bool,
    /// Author login.
    pub author: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Number of comments.
    pub comments: u64,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change (Last-Modified).
    pub updated_at: OffsetDateTime,
    /// Closing time.
    pub closed_at: Option<OffsetDateTime>,
    /// Bumped by each touch.
    pub revision: u64,
}

impl Item {
    /// True for a pull request.
    pub fn is_pull(&self) -> bool {
        matches!(self.kind, ItemKind::Pull { .. })
    }
}

/// A workflow run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Global id.
    pub id: u64,
    /// Workflow name.
    pub name: String,
    /// Workflow id.
    pub workflow_id: u64,
    /// Commit it ran on.
    pub head_sha: String,
    /// Branch it ran on.
    pub head_branch: String,
    /// Event that triggered it.
    pub event: String,
    /// queued, in_progress or completed.
    pub status: String,
    /// success, failure or none while running.
    pub conclusion: Option<String>,
    /// Run number within the workflow.
    pub run_number: u64,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A release.
#[derive(Debug, Clone)]
pub struct Release {
    /// Global id.
    pub id: u64,
    /// Tag name, e.g. `v1.0.0`.
    pub tag: String,
    /// Title.
    pub name: String,
    /// Markdown body.
    pub body: String,
    /// Pre-release flag.
    pub prerelease: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Publication time.
    pub published_at: OffsetDateTime,
    /// Author login.
    pub author: String,
}

/// A repository.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Numeric id (used by `/repositories/{id}/...`).
    pub id: u64,
    /// Owner login.
    pub owner: String,
    /// Repo name.
    pub name: String,
    /// Private repos are visible only to members of the owning org (or the owning user).
    pub private: bool,
    /// Description.
    pub description: String,
    /// Default branch name.
    pub default_branch: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change of the repo resource itself.
    pub updated_at: OffsetDateTime,
    /// Last push.
    pub pushed_at: OffsetDateTime,
    /// Repo-level revision, bumped by a touch of the repo.
    pub revision: u64,
    /// Default-branch history, newest first.
    pub commits: Vec<Commit>,
    /// Issues and pulls; index = number - 1.
    pub items: Vec<Item>,
    /// Workflow runs, newest first.
    pub runs: Vec<Run>,
    /// Releases, newest first.
    pub releases: Vec<Release>,
}

impl Repo {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The item with this number.
    pub fn item(&self, number: u64) -> Option<&Item> {
        number.checked_sub(1).and_then(|i| self.items.get(i as usize))
    }

    /// Resolves a ref (sha, short sha, branch or tag) to a sha.
    pub fn resolve_ref(&self, r: &str) -> Option<String> {
        if r == self.default_branch || r == "HEAD" {
            return self.commits.first().map(|c| c.sha.clone());
        }
        if r.len() >= 7 && r.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Some(c) = self.commits.iter().find(|c| c.sha.starts_with(r)) {
                return Some(c.sha.clone());
            }
            for item in &self.items {
                if let ItemKind::Pull { head_sha, .. } = &item.kind
                    && head_sha.starts_with(r)
                {
                    return Some(head_sha.clone());
                }
            }
            if r.len() == 40 {
                return None;
            }
        }
        if let Some(rel) = self.releases.iter().find(|rel| rel.tag == r) {
            let idx = (rel.id as usize) % self.commits.len().max(1);
            return self.commits.get(idx).map(|c| c.sha.clone());
        }
        for item in &self.items {
            if let ItemKind::Pull { head_ref, head_sha, .. } = &item.kind
                && head_ref == r
            {
                return Some(head_sha.clone());
            }
        }
        None
    }

    /// The repo's file tree: (path, content template with `{repo}` for the repo name).
    pub fn files(&self) -> &'static [(&'static str, &'static str)] {
        FILES
    }
}

/// The fixed tree every repo has: (path, content template; `{repo}` is replaced).
pub const FILES: &[(&str, &str)] = &[
    ("README.md", "# {repo}\n\nA repository of the fake GitHub.\n"),
    (
        "Cargo.toml",
        "[package]\nname = \"{repo}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    ),
    ("src/main.rs", "fn main() {\n    println!(\"hello from {repo}\");\n}\n"),
    ("src/lib.rs", "//! {repo}\npub fn answer() -> u32 {\n    42\n}\n"),
    ("docs/guide.md", "# Guide\n\nRead the README of {repo} first.\n"),
];

/// The workflows every repo has, (id, name); runs alternate between them.
pub const WORKFLOWS: &[(u64, &str)] = &[(100, "CI"), (101, "Release")];

/// The whole world.
#[derive(Debug)]
pub struct World {
    /// Seed it was generated from.
    pub seed: u64,
    /// Users by login (lowercase).
    pub users: HashMap<String, User>,
    /// Orgs by login (lowercase).
    pub orgs: HashMap<String, Org>,
    /// All repos.
    pub repos: Vec<Repo>,
    by_name: HashMap<String, usize>,
    by_id: HashMap<u64, usize>,
    /// Old names of renamed repos (lowercase `owner/name`) -> repo index.
    renamed: HashMap<String, usize>,
    next_user_id: u64,
    /// Check runs whose state the control API set (`/_fake/check-runs/..`): id to conclusion,
    /// `None` while in progress.
    pub check_run_states: HashMap<u64, Option<&'static str>>,
}

/// splitmix64: a tiny, good, deterministic generator.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a string and a seed, for derived data.
pub fn hash_str(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// A deterministic 40-hex sha from a seed and a label.
pub fn sha_of(seed: u64, label: &str) -> String {
    let a = hash_str(seed, label);
    let b = mix(a);
    let c = mix(b);
    format!("{a:016x}{b:016x}{:08x}", c >> 32)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The instant every seeded timestamp counts from (fixed, so bodies are reproducible).
pub fn epoch() -> OffsetDateTime {
    time::macros::datetime!(2024-01-01 00:00:00 UTC)
}

const WORDS: &[&str] = &[
    "fix",
    "add",
    "cache",
    "parser",
    "flaky",
    "test",
    "docs",
    "refactor",
    "bump",
    "deps",
    "crash",
    "on",
    "startup",
    "support",
    "retry",
    "timeout",
    "config",
    "logging",
    "speed",
    "up",
    "build",
    "remove",
    "dead",
    "code",
    "handle",
    "error",
    "in",
    "client",
    "server",
    "migration",
];

const SEEDED_USERS: &[&str] = &["octocat", "monalisa", "hubot", "defunkt", "mojombo", "pjhyett"];

impl World {
    /// Generates the world for a seed and size. Same inputs, same world.
    pub fn generate(seed: u64, size: Size) -> World {
        let dims = size.dims();
        let mut rng = Rng(seed ^ 0x5EED);
        let mut w = World {
            seed,
            users: HashMap::new(),
            orgs: HashMap::new(),
            repos: Vec::new(),
            by_name: HashMap::new(),
            by_id: HashMap::new(),
            renamed: HashMap::new(),
            next_user_id: 1,
            check_run_states: HashMap::new(),
        };
        for login in SEEDED_USERS {
            w.ensure_user(login);
        }
        let mut org_members = BTreeMap::new();
        org_members.insert("octocat".to_string(), Role::Admin);
        org_members.insert("monalisa".to_string(), Role::Member);
        org_members.insert("hubot".to_string(), Role::Member);
        w.orgs.insert(
            "octo-org".into(),
            Org {
                id: 9_000_001,
                login: "octo-org".into(),
                members: org_members,
            },
        );
        let mut acme = BTreeMap::new();
        acme.insert("defunkt".to_string(), Role::Admin);
        acme.insert("mojombo".to_string(), Role::Member);
        w.orgs.insert(
            "acme-corp".into(),
            Org {
                id: 9_000_002,
                login: "acme-corp".into(),
                members: acme,
            },
        );

        let mut ids = IdGen {
            item: 1_000_000,
            run: 5_000_000,
            release: 7_000_000,
        };
        let mut specs: Vec<(String, String, bool, usize, usize, usize)> = vec![
            (
                "octo-org".into(),
                "hello-world".into(),
                false,
                24.max(dims.items),
                30.max(dims.commits),
                5.max(dims.runs),
            ),
            (
                "octo-org".into(),
                "secret-sauce".into(),
                true,
                dims.items,
                dims.commits,
                dims.runs,
            ),
        ];
        let owners = ["octo-org", "acme-corp", "octocat", "monalisa"];
        for i in 0..dims.extra_repos {
            let owner = owners[i % owners.len()].to_string();
            specs.push((
                owner,
                format!("project-{i}"),
                i % 4 == 3,
                dims.items,
                dims.commits,
                dims.runs,
            ));
        }
        for (idx, (owner, name, private, items, commits, runs)) in specs.into_iter().enumerate() {
            let repo = w.gen_repo(&mut rng, &mut ids, idx, owner, name, private, items, commits, runs);
            w.by_name.insert(repo.full_name().to_ascii_lowercase(), idx);
            w.by_id.insert(repo.id, idx);
            w.repos.push(repo);
        }
        // A renamed repo: the old name answers 301 to the new one.
        if let Some(&idx) = w.by_name.get("octo-org/hello-world") {
            w.renamed.insert("octo-org/hello-old".into(), idx);
        }
        w
    }

    #[allow(clippy::too_many_arguments)]
    fn gen_repo(
        &self,
        rng: &mut Rng,
        ids: &mut IdGen,
        idx: usize,
        owner: String,
        name: String,
        private: bool,
        n_items: usize,
        n_commits: usize,
        n_runs: usize,
    ) -> Repo {
        let seed = self.seed;
        let full = format!("{owner}/{name}");
        let created = epoch() + Duration::days(rng.below(30) as i64);
        let logins: Vec<&str> = SEEDED_USERS.to_vec();
        let mut commits = Vec::with_capacity(n_commits);
        let mut t = created;
        let mut parent: Option<String> = None;
        for i in 0..n_commits {
            t += Duration::minutes(30 + rng.below(600) as i64);
            let sha = sha_of(seed, &format!("{full}#commit{i}"));
            commits.push(Commit {
                sha: sha.clone(),
                message: format!("{} {} {}", word(rng), word(rng), word(rng)),
                author: logins[rng.below(logins.len() as u64) as usize].to_string(),
                date: t,
                parent: parent.take(),
            });
            parent = Some(sha);
        }
        commits.reverse();
        let head_time = t;
        let mut items = Vec::with_capacity(n_items);
        for n in 1..=n_items as u64 {
            // #1 is an open pull, #2 an open issue; then they alternate.
            let is_pull = n % 2 == 1;
            let open = n <= 4 || rng.below(3) != 0;
            let c = created + Duration::hours(n as i64 * 5);
            let updated = c + Duration::minutes(rng.below(3000) as i64);
            let kind = if is_pull {
                ItemKind::Pull {
                    head_sha: sha_of(seed, &format!("{full}#pull{n}#2")),
                    base_sha: commits
                        .get(rng.below(commits.len() as u64) as usize)
                        .map(|c| c.sha.clone())
                        .unwrap_or_default(),
                    head_ref: format!("feature-{n}"),
                    merged: !open && rng.below(2) == 0,
                    draft: open && n > 4 && rng.below(5) == 0,
                }
            } else {
                ItemKind::Issue
            };
            let title = format!("{} {} {} {}", word(rng), word(rng), word(rng), word(rng));
            items.push(Item {
                id: ids.item(),
                number: n,
                kind,
                body: format!("Body of #{n}: {title}."),
                title,
                open,
                author: logins[rng.below(logins.len() as u64) as usize].to_string(),
                labels: match rng.below(3) {
                    0 => vec![],
                    1 => vec!["bug".into()],
                    _ => vec!["enhancement".into(), "good first issue".into()],
                },
                comments: rng.below(4),
                created_at: c,
                updated_at: updated,
                closed_at: if open { None } else { Some(updated) },
                revision: 0,
            });
        }
        let mut runs = Vec::with_capacity(n_runs);
        for i in 0..n_runs as u64 {
            let commit = &commits[(i as usize) % commits.len().max(1)];
            let c = commit.date + Duration::minutes(1);
            let done = i != 0;
            runs.push(Run {
                id: ids.run(),
                name: WORKFLOWS[(i % 2) as usize].1.into(),
                workflow_id: WORKFLOWS[(i % 2) as usize].0,
                head_sha: commit.sha.clone(),
                head_branch: "main".into(),
                event: "push".into(),
                status: if done { "completed".into() } else { "in_progress".into() },
                conclusion: if done {
                    Some(if i % 5 == 4 { "failure" } else { "success" }.into())
                } else {
                    None
                },
                run_number: n_runs as u64 - i,
                created_at: c,
                updated_at: c + Duration::minutes(7),
            });
        }
        let mut releases = Vec::new();
        for (i, tag) in ["v1.0.0", "v1.1.0", "v2.0.0"].iter().enumerate() {
            let c = created + Duration::days(2 + 3 * i as i64);
            releases.push(Release {
                id: ids.release(),
                tag: (*tag).into(),
                name: format!("Release {tag}"),
                body: format!("## What's changed\n\n* {} {}\n", word(rng), word(rng)),
                prerelease: false,
                created_at: c,
                published_at: c + Duration::minutes(5),
                author: owner.clone(),
            });
        }
        releases.reverse();
        let updated = items
            .iter()
            .map(|i| i.updated_at)
            .max()
            .unwrap_or(created)
            .max(head_time);
        Repo {
            id: 100_000 + idx as u64,
            owner,
            description: format!("The {name} repository"),
            name,
            private,
            default_branch: "main".into(),
            created_at: created,
            updated_at: updated,
            pushed_at: head_time,
            revision: 0,
            commits,
            items,
            runs,
            releases,
        }
    }

    /// The user with this login, created (with the next id) if new.
    pub fn ensure_user(&mut self, login: &str) -> User {
        let key = login.to_ascii_lowercase();
        if let Some(u) = self.users.get(&key) {
            return u.clone();
        }
        let id = self.next_user_id;
        self.next_user_id += 1;
        let u = User {
            id,
            login: login.to_string(),
            name: format!("{login} (fake)"),
        };
        self.users.insert(key, u.clone());
        u
    }

    /// The user with this login.
    pub fn user(&self, login: &str) -> Option<&User> {
        self.users.get(&login.to_ascii_lowercase())
    }

    /// The org with this login.
    pub fn org(&self, login: &str) -> Option<&Org> {
        self.orgs.get(&login.to_ascii_lowercase())
    }

    /// Adds (or changes the role of) an org member; creates the org and the user if new.
    pub fn add_org_member(&mut self, org: &str, login: &str, role: Role) {
        self.ensure_user(login);
        let next_id = 9_000_000 + self.orgs.len() as u64 + 1;
        let o = self.orgs.entry(org.to_ascii_lowercase()).or_insert_with(|| Org {
            id: next_id,
            login: org.to_string(),
            members: BTreeMap::new(),
        });
        o.members.insert(login.to_ascii_lowercase(), role);
    }

    /// Index of a repo by `owner/name` (case-insensitive).
    pub fn repo_index(&self, owner: &str, name: &str) -> Option<usize> {
        self.by_name
            .get(&format!("{owner}/{name}").to_ascii_lowercase())
            .copied()
    }

    /// Index of a repo by its old name, when it was renamed.
    pub fn renamed_index(&self, owner: &str, name: &str) -> Option<usize> {
        self.renamed
            .get(&format!("{owner}/{name}").to_ascii_lowercase())
            .copied()
    }

    /// Index of a repo by id.
    pub fn repo_index_by_id(&self, id: u64) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// Whether `login` (None = anonymous) may read the repo.
    pub fn can_read(&self, login: Option<&str>, repo: &Repo) -> bool {
        if !repo.private {
            return true;
        }
        let Some(login) = login else { return false };
        if login.eq_ignore_ascii_case(&repo.owner) {
            return true;
        }
        self.org(&repo.owner)
            .is_some_and(|o| o.members.contains_key(&login.to_ascii_lowercase()))
    }

    /// How many public repos an account owns.
    pub fn public_repo_count(&self, owner: &str) -> usize {
        self.repos
            .iter()
            .filter(|r| r.owner.eq_ignore_ascii_case(owner) && !r.private)
            .count()
    }

    /// How GitHub relates `login` to a repo in `author_association`: `OWNER`, `MEMBER` (of the
    /// owning org) or `CONTRIBUTOR`.
    pub fn author_association(&self, repo: &Repo, login: &str) -> &'static str {
        if login.eq_ignore_ascii_case(&repo.owner) {
            "OWNER"
        } else if self
            .org(&repo.owner)
            .is_some_and(|o| o.members.contains_key(&login.to_ascii_lowercase()))
        {
            "MEMBER"
        } else {
            "CONTRIBUTOR"
        }
    }

    /// Changes a resource so its body, ETag and Last-Modified change. `what` is relative to the
    /// repo: `pulls/N`, `issues/N`, or anything else (the repo itself). Returns false when the
    /// repo or item does not exist.
    pub fn touch(&mut self, full_name: &str, what: &str) -> bool {
        let Some((owner, name)) = full_name.split_once('/') else {
            return false;
        };
        let Some(idx) = self.repo_index(owner, name) else {
            return false;
        };
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        let repo = &mut self.repos[idx];
        let segs: Vec<&str> = what.trim_matches('/').split('/').collect();
        let number = match segs.as_slice() {
            ["pulls" | "issues", n, ..] => match n.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => return false,
            },
            _ => None,
        };
        let stamp = |prev: OffsetDateTime| now.max(prev + Duration::seconds(1));
        match number {
            Some(n) => {
                let Some(item) = n.checked_sub(1).and_then(|i| repo.items.get_mut(i as usize)) else {
                    return false;
                };
                item.revision += 1;
                item.updated_at = stamp(item.updated_at);
                item.body = format!("Body of #{}: {} (revision {}).", item.number, item.title, item.revision);
                repo.updated_at = repo.updated_at.max(item.updated_at);
            }
            None => {
                repo.revision += 1;
                repo.updated_at = stamp(repo.updated_at);
                repo.description = format!("The {} repository (revision {})", repo.name, repo.revision);
            }
        }
        true
    }
}

struct IdGen {
    item: u64,
    run: u64,
    release: u64,
}

impl IdGen {
    fn item(&mut self) -> u64 {
        self.item += 1;
        self.item
    }
    fn run(&mut self) -> u64 {
        self.run += 1;
        self.run
    }
    fn release(&mut self) -> u64 {
        self.release += 1;
        self.release
    }
}

fn word(rng: &mut Rng) -> &'static str {
    WORDS[rng.below(WORDS.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_world_and_contract_repos_exist() {
        let a = World::generate(7, Size::Small);
        let b = World::generate(7, Size::Small);
        assert_eq!(a.repos[0].commits[0].sha, b.repos[0].commits[0].sha);
        let idx = a.repo_index("octo-org", "hello-world").expect("hello-world");
        let hw = &a.repos[idx];
        assert!(!hw.private);
        assert!(hw.item(1).is_some_and(|i| i.is_pull() && i.open));
        assert!(hw.item(2).is_some_and(|i| !i.is_pull()));
        assert!(hw.releases.iter().any(|r| r.tag == "v1.0.0"));
        assert!(hw.runs.len() >= 3);
        let s = a.repo_index("octo-org", "secret-sauce").expect("secret-sauce");
        assert!(a.repos[s].private);
    }
}
