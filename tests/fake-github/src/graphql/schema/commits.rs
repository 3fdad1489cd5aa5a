//! Commits and their checks: `Commit` (authors, message, `statusCheckRollup`), check runs and
//! commit statuses as `pr view`, `pr checks` and `pr status` read them.

use async_graphql::{Context, Enum, Object, SimpleObject, Union};

use super::{
    CheckConclusionState, CheckStatusState, DateTime, GitObjectID, GitTimestamp, PageInfo,
    StatusCheckRollupContextConnection, StatusState, URI, User, dt, gctx, slice,
};
use crate::derived;
use crate::render;

/// A commit (only what gh reads).
#[derive(Clone)]
pub struct Commit {
    oid: String,
    repo: Option<usize>,
    message: String,
    author: Option<String>,
    date: Option<time::OffsetDateTime>,
}

impl Commit {
    /// A commit known only by its id (a review's).
    pub(super) fn bare(oid: &str) -> Commit {
        Commit {
            oid: oid.to_string(),
            repo: None,
            message: String::new(),
            author: None,
            date: None,
        }
    }

    /// A commit of a pull request in repo `repo`.
    pub(super) fn of_pull(repo: usize, c: crate::world::Commit) -> Commit {
        Commit {
            oid: c.sha,
            repo: Some(repo),
            message: c.message,
            author: Some(c.author),
            date: Some(c.date),
        }
    }
}

#[Object]
impl Commit {
    async fn oid(&self) -> GitObjectID {
        GitObjectID(self.oid.clone())
    }
    async fn abbreviated_oid(&self) -> String {
        self.oid.chars().take(7).collect()
    }
    async fn message(&self) -> String {
        self.message.clone()
    }
    async fn message_headline(&self) -> String {
        self.message.lines().next().unwrap_or_default().to_string()
    }
    /// The message after its headline and the blank line that follows it.
    async fn message_body(&self) -> String {
        self.message
            .split_once('\n')
            .map(|(_, body)| body.trim_start_matches('\n').to_string())
            .unwrap_or_default()
    }
    async fn authors(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> GitActorConnection {
        let w = gctx(ctx).sh.world();
        let all = self
            .author
            .iter()
            .map(|login| GitActor {
                name: Some(w.user(login).map_or_else(|| login.clone(), |u| u.name.clone())),
                email: Some(format!("{login}@users.noreply.github.com")),
                date: self.date.map(|t| GitTimestamp(dt(t).0)),
                user: w.user(login).map(|_| User::of(&w, login)),
            })
            .collect();
        let (nodes, page_info, total_count) = slice(all, first, after, None, None);
        GitActorConnection {
            total_count,
            nodes: Some(nodes.into_iter().map(Some).collect()),
            page_info,
        }
    }
    async fn committed_date(&self) -> DateTime {
        self.date.map(dt).unwrap_or_default()
    }
    async fn authored_date(&self) -> DateTime {
        self.date.map(dt).unwrap_or_default()
    }
    async fn status_check_rollup(&self, ctx: &Context<'_>) -> Option<StatusCheckRollup> {
        let g = gctx(ctx);
        let w = g.sh.world();
        let repo = &w.repos[self.repo?];
        let runs = derived::check_runs(&w, &self.oid);
        let statuses = derived::statuses(w.seed, &self.oid);
        let failing =
            runs.iter().any(|r| r.conclusion == Some("failure")) || statuses.iter().any(|s| s.state == "failure");
        let pending = runs.iter().any(|r| r.conclusion.is_none());
        let mut contexts: Vec<StatusCheckRollupContext> = runs
            .into_iter()
            .map(|run| {
                StatusCheckRollupContext::CheckRun(CheckRun {
                    details_url: render::check_run_html_url(&g.urls, repo, run.id),
                    run,
                })
            })
            .collect();
        contexts.extend(statuses.into_iter().map(|s| {
            StatusCheckRollupContext::StatusContext(StatusContext {
                context: s.context.to_string(),
                state: if s.state == "failure" {
                    StatusState::Failure
                } else {
                    StatusState::Success
                },
                target_url: Some(URI(format!(
                    "{}/{}/coverage/{}",
                    g.urls.web,
                    repo.full_name(),
                    self.oid
                ))),
                created_at: dt(s.created_at),
                description: Some(s.description.to_string()),
            })
        }));
        Some(StatusCheckRollup {
            state: if failing {
                StatusState::Failure
            } else if pending {
                StatusState::Pending
            } else {
                StatusState::Success
            },
            runs: contexts,
        })
    }
}

/// Combined checks of a commit.
pub struct StatusCheckRollup {
    state: StatusState,
    runs: Vec<StatusCheckRollupContext>,
}

#[Object]
impl StatusCheckRollup {
    async fn state(&self) -> StatusState {
        self.state
    }
    async fn contexts(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
    ) -> StatusCheckRollupContextConnection {
        StatusCheckRollupContextConnection::of(self.runs.clone(), first, after, last, None)
    }
}

/// A check run or a commit status.
#[derive(Union, Clone)]
pub enum StatusCheckRollupContext {
    /// A check run.
    CheckRun(CheckRun),
    /// A legacy status.
    StatusContext(StatusContext),
}

/// A commit status (the legacy statuses API), beside check runs in a rollup.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct StatusContext {
    /// Context name.
    pub context: String,
    /// State.
    pub state: StatusState,
    /// Target URL.
    pub target_url: Option<URI>,
    /// Created.
    pub created_at: DateTime,
    /// Description.
    pub description: Option<String>,
}

#[async_graphql::ComplexObject]
impl StatusContext {
    async fn is_required(
        &self,
        _pull_request_id: Option<async_graphql::ID>,
        _pull_request_number: Option<i32>,
    ) -> bool {
        false
    }
}

/// A check run.
#[derive(Clone)]
pub struct CheckRun {
    run: derived::CheckRun,
    details_url: String,
}

#[Object]
impl CheckRun {
    async fn name(&self) -> String {
        self.run.name.to_string()
    }
    async fn status(&self) -> CheckStatusState {
        if self.run.conclusion.is_some() {
            CheckStatusState::Completed
        } else {
            CheckStatusState::InProgress
        }
    }
    async fn conclusion(&self) -> Option<CheckConclusionState> {
        self.run.conclusion.map(|c| {
            if c == "failure" {
                CheckConclusionState::Failure
            } else {
                CheckConclusionState::Success
            }
        })
    }
    async fn started_at(&self) -> Option<DateTime> {
        Some(dt(self.run.started_at))
    }
    async fn completed_at(&self) -> Option<DateTime> {
        self.run.completed_at.map(dt)
    }
    async fn details_url(&self) -> Option<URI> {
        Some(URI(self.details_url.clone()))
    }
    async fn is_required(
        &self,
        _pull_request_id: Option<async_graphql::ID>,
        _pull_request_number: Option<i32>,
    ) -> bool {
        false
    }
    async fn check_suite(&self) -> CheckSuite {
        CheckSuite {
            workflow_run: Some(WorkflowRun {
                workflow: Workflow { name: "CI".into() },
            }),
        }
    }
}

/// A check suite.
#[derive(SimpleObject)]
pub struct CheckSuite {
    /// The workflow run behind it.
    pub workflow_run: Option<WorkflowRun>,
}

/// A workflow run.
#[derive(SimpleObject)]
pub struct WorkflowRun {
    /// Its workflow.
    pub workflow: Workflow,
}

/// A workflow.
#[derive(SimpleObject)]
pub struct Workflow {
    /// Name.
    pub name: String,
}

/// A commit in a pull request.
#[derive(SimpleObject, Clone)]
pub struct PullRequestCommit {
    /// The commit.
    pub commit: Commit,
}

/// Someone who wrote or committed a commit.
#[derive(SimpleObject, Clone)]
pub struct GitActor {
    /// Name in the commit.
    pub name: Option<String>,
    /// Email in the commit.
    pub email: Option<String>,
    /// Date in the commit.
    pub date: Option<GitTimestamp>,
    /// The GitHub user of that email, if any.
    pub user: Option<User>,
}

/// Authors of a commit.
#[derive(SimpleObject)]
pub struct GitActorConnection {
    /// Total.
    pub total_count: i32,
    /// Page.
    pub nodes: Option<Vec<Option<GitActor>>>,
    /// Paging.
    pub page_info: PageInfo,
}

/// Whether a pull request can be merged, as the merge box shows it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MergeStateStatus {
    /// Behind its base.
    Behind,
    /// Blocked by protection.
    Blocked,
    /// Mergeable, checks passing.
    Clean,
    /// Conflicts.
    Dirty,
    /// A draft.
    Draft,
    /// Mergeable with passing checks and hooks.
    HasHooks,
    /// Not known yet.
    Unknown,
    /// Mergeable with failing checks.
    Unstable,
}

/// A branch protection rule (the fake protects no branch).
#[derive(SimpleObject)]
pub struct BranchProtectionRule {
    /// Whether branches must be up to date before merging.
    pub requires_strict_status_checks: bool,
}
