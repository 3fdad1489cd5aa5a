//! The subset of GitHub's GraphQL schema that `gh` 2.23 uses for the everyday reads (issue 14's
//! list, recorded in `tests/gh-2.23-requests.json`), with GitHub's type, field and enum names and
//! types (checked against GitHub's published schema). Areas with their own file: `commits` (commits,
//! checks and statuses), `labels`.

use std::sync::Arc;

use async_graphql::{Context, Enum, ErrorExtensions, InputObject, Interface, Object, SimpleObject, Union};
use base64::Engine;

mod commits;
mod labels;

pub use commits::*;
pub use labels::*;

use crate::derived;
use crate::render::{self, Urls};
use crate::state::{Caller, Shared};
use crate::world::{Item, ItemKind, Repo, World};

/// Per-request data the resolvers read.
pub struct GqlCtx {
    /// Shared state.
    pub sh: Arc<Shared>,
    /// Who asks.
    pub caller: Caller,
    /// URL roots for `url` fields.
    pub urls: Urls,
    /// The rateLimit answer (computed before execution).
    pub rate: RateLimit,
}

fn gctx<'a>(ctx: &Context<'a>) -> &'a GqlCtx {
    ctx.data_unchecked::<GqlCtx>()
}

macro_rules! gh_scalar {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
        #[allow(clippy::upper_case_acronyms)] // GitHub's scalar is named URI.
        pub struct $name(pub String);
        async_graphql::scalar!($name);

        impl From<&$name> for $name {
            fn from(v: &$name) -> $name {
                v.clone()
            }
        }
    };
}

gh_scalar!(DateTime, "An ISO-8601 encoded UTC date string.");
gh_scalar!(
    URI,
    "An RFC 3986, RFC 3987, and RFC 6570 (level 4) compliant URI string."
);
gh_scalar!(GitObjectID, "A Git object ID.");
gh_scalar!(
    GitTimestamp,
    "An ISO-8601 encoded date string. Unlike the DateTime type, GitTimestamp is not converted in UTC."
);

fn dt(t: time::OffsetDateTime) -> DateTime {
    DateTime(render::ts(t))
}

fn gid(kind: &str, id: u64) -> async_graphql::ID {
    async_graphql::ID(render::node_id(kind, id))
}

/// `rateLimit`.
#[derive(Debug, Clone, SimpleObject)]
pub struct RateLimit {
    /// Points this query cost.
    pub cost: i32,
    /// Points per hour.
    pub limit: i32,
    /// Points left.
    pub remaining: i32,
    /// Points used.
    pub used: i32,
    /// When the window resets.
    pub reset_at: DateTime,
    /// Nodes the query may return.
    pub node_count: i32,
}

/// Page info of a connection.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// More after this page.
    pub has_next_page: bool,
    /// More before this page.
    pub has_previous_page: bool,
    /// Cursor of the last node.
    pub end_cursor: Option<String>,
    /// Cursor of the first node.
    pub start_cursor: Option<String>,
}

fn cursor(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{offset}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("cursor:v2:")?.parse().ok()
}

/// Slices a list with first/after/last/before, as connections do.
fn slice<T>(
    all: Vec<T>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> (Vec<T>, PageInfo, i32) {
    let total = all.len();
    let mut start = after.as_deref().and_then(decode_cursor).map_or(0, |o| o + 1).min(total);
    let mut end = before
        .as_deref()
        .and_then(decode_cursor)
        .unwrap_or(total)
        .min(total)
        .max(start);
    if let Some(f) = first {
        end = end.min(start + f.clamp(0, 100) as usize);
    }
    if let Some(l) = last {
        start = start.max(end.saturating_sub(l.clamp(0, 100) as usize));
    }
    let info = PageInfo {
        has_next_page: end < total,
        has_previous_page: start > 0,
        end_cursor: (end > start).then(|| cursor(end - 1)),
        start_cursor: (end > start).then(|| cursor(start)),
    };
    let nodes = all.into_iter().skip(start).take(end - start).collect();
    (nodes, info, total as i32)
}

macro_rules! connection {
    ($name:ident, $node:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(SimpleObject)]
        pub struct $name {
            /// Total items.
            pub total_count: i32,
            /// This page.
            pub nodes: Option<Vec<Option<$node>>>,
            /// Paging.
            pub page_info: PageInfo,
        }

        impl $name {
            fn of(
                all: Vec<$node>,
                first: Option<i32>,
                after: Option<String>,
                last: Option<i32>,
                before: Option<String>,
            ) -> Self {
                let (nodes, page_info, total_count) = slice(all, first, after, last, before);
                $name {
                    total_count,
                    nodes: Some(nodes.into_iter().map(Some).collect()),
                    page_info,
                }
            }
        }
    };
}

/// A connection whose page is also given as `edges` (each node with its cursor).
macro_rules! connection_with_edges {
    ($name:ident, $node:ty, $edge:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(SimpleObject)]
        pub struct $name {
            /// Total items.
            pub total_count: i32,
            /// This page.
            pub nodes: Option<Vec<Option<$node>>>,
            /// This page, with cursors.
            pub edges: Option<Vec<Option<$edge>>>,
            /// Paging.
            pub page_info: PageInfo,
        }

        /// A node and its cursor.
        #[derive(SimpleObject)]
        pub struct $edge {
            /// The node.
            pub node: Option<$node>,
            /// Its cursor.
            pub cursor: String,
        }

        impl $name {
            fn of(
                all: Vec<$node>,
                first: Option<i32>,
                after: Option<String>,
                last: Option<i32>,
                before: Option<String>,
            ) -> Self {
                let (nodes, page_info, total_count) = slice(all, first, after, last, before);
                let start = page_info
                    .start_cursor
                    .as_deref()
                    .and_then(decode_cursor)
                    .unwrap_or(0);
                let edges = nodes
                    .iter()
                    .enumerate()
                    .map(|(k, node)| {
                        Some($edge {
                            node: Some(node.clone()),
                            cursor: cursor(start + k),
                        })
                    })
                    .collect();
                $name {
                    total_count,
                    nodes: Some(nodes.into_iter().map(Some).collect()),
                    edges: Some(edges),
                    page_info,
                }
            }
        }
    };
}

connection_with_edges!(PullRequestConnection, PullRequest, PullRequestEdge, "Pull requests.");
connection!(IssueConnection, Issue, "Issues.");
connection!(LabelConnection, Label, "Labels.");
connection!(UserConnection, User, "Users.");
connection!(IssueCommentConnection, IssueComment, "Comments.");
connection!(PullRequestReviewConnection, PullRequestReview, "Reviews.");
connection!(ReviewRequestConnection, ReviewRequest, "Review requests.");
connection!(ProjectCardConnection, ProjectCard, "Project cards.");
connection!(
    PullRequestCommitConnection,
    PullRequestCommit,
    "Commits of a pull request."
);
connection!(
    StatusCheckRollupContextConnection,
    StatusCheckRollupContext,
    "Checks and statuses."
);
connection!(ReleaseConnection, Release, "Releases.");
connection!(ReleaseAssetConnection, ReleaseAsset, "Release assets.");
connection!(ProjectV2ItemConnection, ProjectV2Item, "Project items.");
connection!(
    PullRequestChangedFileConnection,
    PullRequestChangedFile,
    "Changed files."
);

/// States of a pull request.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PullRequestState {
    /// Open.
    Open,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
}

/// States of an issue.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum IssueState {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// Why an issue was closed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum IssueStateReason {
    /// Reopened.
    Reopened,
    /// Not planned.
    NotPlanned,
    /// Completed.
    Completed,
}

/// Mergeability.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MergeableState {
    /// Can merge.
    Mergeable,
    /// Conflicts.
    Conflicting,
    /// Not computed.
    Unknown,
}

/// Review states.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PullRequestReviewState {
    /// Pending.
    Pending,
    /// Commented.
    Commented,
    /// Approved.
    Approved,
    /// Changes requested.
    ChangesRequested,
    /// Dismissed.
    Dismissed,
}

/// Review decision.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PullRequestReviewDecision {
    /// Changes requested.
    ChangesRequested,
    /// Approved.
    Approved,
    /// Review required.
    ReviewRequired,
}

/// Author association.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CommentAuthorAssociation {
    /// Member of the org.
    Member,
    /// Owner.
    Owner,
    /// Mannequin.
    Mannequin,
    /// Collaborator.
    Collaborator,
    /// Contributor.
    Contributor,
    /// First-time contributor.
    FirstTimeContributor,
    /// First timer.
    FirstTimer,
    /// None.
    None,
}

/// Reaction emoji.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReactionContent {
    /// 👍
    ThumbsUp,
    /// 👎
    ThumbsDown,
    /// 😄
    Laugh,
    /// 🎉
    Hooray,
    /// 😕
    Confused,
    /// ❤️
    Heart,
    /// 🚀
    Rocket,
    /// 👀
    Eyes,
}

/// Check run status.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CheckStatusState {
    /// Requested.
    Requested,
    /// Queued.
    Queued,
    /// In progress.
    InProgress,
    /// Completed.
    Completed,
    /// Waiting.
    Waiting,
    /// Pending.
    Pending,
}

/// Check run conclusion.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CheckConclusionState {
    /// Action required.
    ActionRequired,
    /// Timed out.
    TimedOut,
    /// Cancelled.
    Cancelled,
    /// Failure.
    Failure,
    /// Success.
    Success,
    /// Neutral.
    Neutral,
    /// Skipped.
    Skipped,
    /// Startup failure.
    StartupFailure,
    /// Stale.
    Stale,
}

/// Commit status state.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum StatusState {
    /// Expected.
    Expected,
    /// Error.
    Error,
    /// Failure.
    Failure,
    /// Pending.
    Pending,
    /// Success.
    Success,
}

/// Ordering direction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderDirection {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// Fields issues and pulls can be ordered by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum IssueOrderField {
    /// Creation.
    CreatedAt,
    /// Last update.
    UpdatedAt,
    /// Comment count.
    Comments,
}

/// Ordering of issues and pulls.
#[derive(InputObject, Debug, Clone)]
pub struct IssueOrder {
    /// Field.
    pub field: IssueOrderField,
    /// Direction.
    pub direction: OrderDirection,
}

/// Fields releases can be ordered by.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ReleaseOrderField {
    /// Creation.
    CreatedAt,
    /// Name.
    Name,
}

/// Ordering of releases.
#[derive(InputObject, Debug, Clone)]
pub struct ReleaseOrder {
    /// Field.
    pub field: ReleaseOrderField,
    /// Direction.
    pub direction: OrderDirection,
}

/// Issue filters.
#[derive(InputObject, Debug, Clone, Default)]
pub struct IssueFilters {
    /// Assignee login.
    pub assignee: Option<String>,
    /// Author login.
    pub created_by: Option<String>,
    /// Label names.
    pub labels: Option<Vec<String>>,
    /// Mentioned login.
    pub mentioned: Option<String>,
    /// Milestone.
    pub milestone: Option<String>,
    /// Milestone number.
    pub milestone_number: Option<String>,
    /// Updated since.
    pub since: Option<DateTime>,
    /// States.
    pub states: Option<Vec<IssueState>>,
    /// Only with an assignee.
    pub viewer_subscribed: Option<bool>,
}

/// Permission on a repository.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RepositoryPermission {
    /// Admin.
    Admin,
    /// Maintain.
    Maintain,
    /// Write.
    Write,
    /// Triage.
    Triage,
    /// Read.
    Read,
}

/// A user.
#[derive(Debug, Clone)]
pub struct User {
    login: String,
    id: u64,
}

impl User {
    fn of(w: &World, login: &str) -> User {
        User {
            login: login.to_string(),
            id: w.user(login).map_or(0, |u| u.id),
        }
    }
}

#[Object]
impl User {
    async fn id(&self) -> async_graphql::ID {
        gid("User", self.id)
    }
    async fn database_id(&self) -> Option<i64> {
        Some(self.id as i64)
    }
    async fn login(&self) -> String {
        self.login.clone()
    }
    async fn name(&self, ctx: &Context<'_>) -> Option<String> {
        gctx(ctx).sh.world().user(&self.login).map(|u| u.name.clone())
    }
    async fn url(&self, ctx: &Context<'_>) -> URI {
        URI(format!("{}/{}", gctx(ctx).urls.web, self.login))
    }
    async fn avatar_url(&self, ctx: &Context<'_>, _size: Option<i32>) -> URI {
        URI(format!("{}/avatars/u/{}?v=4", gctx(ctx).urls.web, self.id))
    }
    async fn email(&self) -> String {
        String::new()
    }
    async fn company(&self) -> Option<String> {
        None
    }
    async fn bio(&self) -> Option<String> {
        None
    }
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> OrganizationConnection {
        let w = gctx(ctx).sh.world();
        let me = self.login.to_ascii_lowercase();
        let mut orgs: Vec<Organization> = w
            .orgs
            .values()
            .filter(|o| o.members.contains_key(&me))
            .map(|o| Organization {
                login: o.login.clone(),
                id: o.id,
            })
            .collect();
        orgs.sort_by(|a, b| a.login.cmp(&b.login));
        let (nodes, page_info, total_count) = slice(orgs, first, after, None, None);
        OrganizationConnection {
            total_count,
            nodes: Some(nodes.into_iter().map(Some).collect()),
            page_info,
        }
    }
}

/// Organizations.
#[derive(SimpleObject)]
pub struct OrganizationConnection {
    /// Total.
    pub total_count: i32,
    /// Page.
    pub nodes: Option<Vec<Option<Organization>>>,
    /// Paging.
    pub page_info: PageInfo,
}

/// An organisation.
#[derive(Debug, Clone)]
pub struct Organization {
    login: String,
    id: u64,
}

#[Object]
impl Organization {
    async fn id(&self) -> async_graphql::ID {
        gid("Organization", self.id)
    }
    async fn database_id(&self) -> Option<i64> {
        Some(self.id as i64)
    }
    async fn login(&self) -> String {
        self.login.clone()
    }
    async fn name(&self) -> Option<String> {
        Some(self.login.clone())
    }
    async fn url(&self, ctx: &Context<'_>) -> URI {
        URI(format!("{}/{}", gctx(ctx).urls.web, self.login))
    }
    async fn avatar_url(&self, ctx: &Context<'_>, _size: Option<i32>) -> URI {
        URI(format!("{}/avatars/u/{}?v=4", gctx(ctx).urls.web, self.id))
    }
}

/// A bot.
#[derive(SimpleObject, Debug, Clone)]
pub struct Bot {
    /// Id.
    pub id: async_graphql::ID,
    /// Login.
    pub login: String,
    /// Profile URL.
    pub url: URI,
    /// Avatar URL.
    pub avatar_url: URI,
}

/// A team.
#[derive(SimpleObject, Debug, Clone)]
pub struct Team {
    /// Id.
    pub id: async_graphql::ID,
    /// Name.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Owning org.
    pub organization: Organization,
}

/// Something that can own a repository.
#[derive(Interface)]
#[graphql(
    field(name = "id", ty = "async_graphql::ID"),
    field(name = "login", ty = "String"),
    field(name = "url", ty = "URI")
)]
pub enum RepositoryOwner {
    /// A user.
    User(User),
    /// An organisation.
    Organization(Organization),
}

/// Something that can act (author of an issue, comment or review).
#[derive(Interface)]
#[graphql(field(name = "login", ty = "String"), field(name = "url", ty = "URI"))]
pub enum Actor {
    /// A user.
    User(User),
    /// An organisation.
    Organization(Organization),
    /// A bot.
    Bot(Bot),
}

fn owner_of(w: &World, login: &str) -> RepositoryOwner {
    match w.org(login) {
        Some(o) => RepositoryOwner::Organization(Organization {
            login: o.login.clone(),
            id: o.id,
        }),
        None => RepositoryOwner::User(User::of(w, login)),
    }
}

/// A reviewer that was requested.
#[derive(Union)]
pub enum RequestedReviewer {
    /// A user.
    User(User),
    /// A team.
    Team(Team),
    /// A bot.
    Bot(Bot),
}

/// A review request.
#[derive(SimpleObject)]
pub struct ReviewRequest {
    /// Who.
    pub requested_reviewer: Option<RequestedReviewer>,
}

/// A reaction summary.
#[derive(SimpleObject, Clone)]
pub struct ReactionGroup {
    /// Emoji.
    pub content: ReactionContent,
    /// Who reacted.
    pub users: ReactingUserConnection,
}

/// Users that reacted.
#[derive(SimpleObject, Clone)]
pub struct ReactingUserConnection {
    /// Count.
    pub total_count: i32,
}

/// A project (classic).
#[derive(SimpleObject)]
pub struct Project {
    /// Name.
    pub name: String,
}

/// A project column.
#[derive(SimpleObject)]
pub struct ProjectColumn {
    /// Name.
    pub name: String,
}

/// A project card.
#[derive(SimpleObject)]
pub struct ProjectCard {
    /// Project.
    pub project: Project,
    /// Column.
    pub column: Option<ProjectColumn>,
}

/// A project (v2).
#[derive(SimpleObject)]
pub struct ProjectV2 {
    /// Title.
    pub title: String,
}

/// A project v2 item.
#[derive(SimpleObject)]
pub struct ProjectV2Item {
    /// Project.
    pub project: ProjectV2,
}

/// A milestone.
#[derive(SimpleObject)]
pub struct Milestone {
    /// Number.
    pub number: i32,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Due date.
    pub due_on: Option<DateTime>,
}

/// A label.
#[derive(SimpleObject, Clone)]
pub struct Label {
    /// Id.
    pub id: async_graphql::ID,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Hex color.
    pub color: String,
}

fn labels_of(w: &World, i: &Item) -> Vec<Label> {
    i.labels.iter().map(|name| label_node(w.seed, name)).collect()
}

/// The label called `name`.
fn label_node(seed: u64, name: &str) -> Label {
    let l = derived::label(seed, name);
    Label {
        id: gid("Label", l.id),
        name: l.name,
        description: Some(l.description),
        color: l.color,
    }
}

fn association(s: &str) -> CommentAuthorAssociation {
    match s {
        "OWNER" => CommentAuthorAssociation::Owner,
        "MEMBER" => CommentAuthorAssociation::Member,
        "COLLABORATOR" => CommentAuthorAssociation::Collaborator,
        "CONTRIBUTOR" => CommentAuthorAssociation::Contributor,
        _ => CommentAuthorAssociation::None,
    }
}

/// An issue or pull request comment.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct IssueComment {
    /// Id.
    pub id: async_graphql::ID,
    /// Database id.
    pub database_id: Option<i64>,
    /// Author.
    #[graphql(skip)]
    pub author_login: String,
    /// Association.
    pub author_association: CommentAuthorAssociation,
    /// Markdown body.
    pub body: String,
    /// Created.
    pub created_at: DateTime,
    /// Edited at creation.
    pub includes_created_edit: bool,
    /// Hidden.
    pub is_minimized: bool,
    /// Why hidden.
    pub minimized_reason: Option<String>,
    /// Reactions.
    pub reaction_groups: Option<Vec<ReactionGroup>>,
    /// URL.
    pub url: URI,
    /// Whether the viewer wrote it.
    pub viewer_did_author: bool,
}

#[async_graphql::ComplexObject]
impl IssueComment {
    async fn author(&self, ctx: &Context<'_>) -> Option<Actor> {
        let w = gctx(ctx).sh.world();
        Some(Actor::User(User::of(&w, &self.author_login)))
    }
}

/// A pull request review.
#[derive(Clone)]
pub struct PullRequestReview {
    review: derived::Review,
    association: CommentAuthorAssociation,
}

#[Object]
impl PullRequestReview {
    async fn id(&self) -> async_graphql::ID {
        gid("PullRequestReview", self.review.id)
    }
    async fn database_id(&self) -> Option<i64> {
        Some(self.review.id as i64)
    }
    async fn author(&self, ctx: &Context<'_>) -> Option<Actor> {
        let w = gctx(ctx).sh.world();
        Some(Actor::User(User::of(&w, self.review.reviewer)))
    }
    async fn author_association(&self) -> CommentAuthorAssociation {
        self.association
    }
    async fn submitted_at(&self) -> Option<DateTime> {
        Some(dt(self.review.submitted_at))
    }
    async fn body(&self) -> String {
        self.review.body.clone()
    }
    async fn state(&self) -> PullRequestReviewState {
        match self.review.state {
            "APPROVED" => PullRequestReviewState::Approved,
            "CHANGES_REQUESTED" => PullRequestReviewState::ChangesRequested,
            _ => PullRequestReviewState::Commented,
        }
    }
    async fn commit(&self) -> Option<Commit> {
        Some(Commit::bare(&self.review.commit_id))
    }
    async fn reaction_groups(&self) -> Option<Vec<ReactionGroup>> {
        Some(Vec::new())
    }
}

/// A file changed by a pull request.
#[derive(SimpleObject, Clone)]
pub struct PullRequestChangedFile {
    /// Path.
    pub path: String,
    /// Added lines.
    pub additions: i32,
    /// Removed lines.
    pub deletions: i32,
}

/// A release asset (never produced; present for the schema).
#[derive(SimpleObject, Clone)]
pub struct ReleaseAsset {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: i32,
    /// Download URL.
    pub url: URI,
}

/// Runs `f` on issue or pull `number` of repo `repo` (`None` if it does not exist; nodes are
/// only made for items that do).
fn with_item<T>(
    ctx: &Context<'_>,
    repo: usize,
    number: u64,
    f: impl FnOnce(&GqlCtx, &World, &Repo, &Item) -> T,
) -> Option<T> {
    let g = gctx(ctx);
    let w = g.sh.world();
    let r = &w.repos[repo];
    r.item(number).map(|i| f(g, &w, r, i))
}

/// What a pull's kind says about it, `None` for an issue.
fn pull_parts(i: &Item) -> Option<(&str, &str, &str, bool, bool)> {
    match &i.kind {
        ItemKind::Pull {
            head_sha,
            base_sha,
            head_ref,
            merged,
            draft,
        } => Some((head_sha, base_sha, head_ref, *merged, *draft)),
        ItemKind::Issue => None,
    }
}

fn item_author(w: &World, i: &Item) -> Option<Actor> {
    Some(Actor::User(User::of(w, &i.author)))
}

fn item_association(w: &World, r: &Repo, i: &Item) -> CommentAuthorAssociation {
    association(w.author_association(r, &i.author))
}

fn item_url(g: &GqlCtx, r: &Repo, i: &Item) -> URI {
    URI(render::item_html_url(&g.urls, r, i))
}

/// A pull request.
#[derive(Clone)]
pub struct PullRequest {
    repo: usize,
    number: u64,
}

impl PullRequest {
    fn with<T: Default>(&self, ctx: &Context<'_>, f: impl FnOnce(&GqlCtx, &World, &Repo, &Item) -> T) -> T {
        with_item(ctx, self.repo, self.number, f).unwrap_or_default()
    }

    /// Runs `f` on the pull's head sha, base sha, head ref, merged and draft flags.
    fn parts<T: Default>(&self, ctx: &Context<'_>, f: impl FnOnce(&str, &str, &str, bool, bool) -> T) -> T {
        self.with(ctx, |_, _, _, i| {
            pull_parts(i)
                .map(|(h, b, r, m, d)| f(h, b, r, m, d))
                .unwrap_or_default()
        })
    }

    fn changed_files_of(&self, ctx: &Context<'_>) -> Vec<derived::FileChange> {
        self.with(ctx, |_, w, r, i| derived::pull_files(w.seed, r, i))
    }
}

#[Object]
impl PullRequest {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::ID {
        self.with(ctx, |_, _, _, i| gid("PullRequest", i.id))
    }
    async fn database_id(&self, ctx: &Context<'_>) -> Option<i64> {
        self.with(ctx, |_, _, _, i| Some(i.id as i64))
    }
    async fn number(&self) -> i32 {
        self.number as i32
    }
    async fn title(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, _, _, i| i.title.clone())
    }
    async fn body(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, _, _, i| i.body.clone())
    }
    async fn state(&self, ctx: &Context<'_>) -> PullRequestState {
        let (open, merged) = self.with(ctx, |_, _, _, i| (i.open, pull_parts(i).is_some_and(|p| p.3)));
        match (open, merged) {
            (true, _) => PullRequestState::Open,
            (false, true) => PullRequestState::Merged,
            _ => PullRequestState::Closed,
        }
    }
    async fn closed(&self, ctx: &Context<'_>) -> bool {
        self.with(ctx, |_, _, _, i| !i.open)
    }
    async fn merged(&self, ctx: &Context<'_>) -> bool {
        self.parts(ctx, |_, _, _, merged, _| merged)
    }
    async fn url(&self, ctx: &Context<'_>) -> URI {
        self.with(ctx, |g, _, r, i| item_url(g, r, i))
    }
    async fn head_ref_name(&self, ctx: &Context<'_>) -> String {
        self.parts(ctx, |_, _, head_ref, _, _| head_ref.to_string())
    }
    async fn head_ref_oid(&self, ctx: &Context<'_>) -> GitObjectID {
        self.parts(ctx, |head_sha, _, _, _, _| GitObjectID(head_sha.to_string()))
    }
    async fn base_ref_name(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, _, r, _| r.default_branch.clone())
    }
    async fn base_ref_oid(&self, ctx: &Context<'_>) -> GitObjectID {
        self.parts(ctx, |_, base_sha, _, _, _| GitObjectID(base_sha.to_string()))
    }
    async fn head_repository_owner(&self, ctx: &Context<'_>) -> Option<RepositoryOwner> {
        let w = gctx(ctx).sh.world();
        Some(owner_of(&w, &w.repos[self.repo].owner))
    }
    async fn head_repository(&self) -> Option<Repository> {
        Some(Repository { idx: self.repo })
    }
    async fn base_repository(&self) -> Option<Repository> {
        Some(Repository { idx: self.repo })
    }
    async fn repository(&self) -> Repository {
        Repository { idx: self.repo }
    }
    async fn is_cross_repository(&self) -> bool {
        false
    }
    async fn is_draft(&self, ctx: &Context<'_>) -> bool {
        self.parts(ctx, |_, _, _, _, draft| draft)
    }
    async fn created_at(&self, ctx: &Context<'_>) -> DateTime {
        self.with(ctx, |_, _, _, i| dt(i.created_at))
    }
    async fn updated_at(&self, ctx: &Context<'_>) -> DateTime {
        self.with(ctx, |_, _, _, i| dt(i.updated_at))
    }
    async fn closed_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        self.with(ctx, |_, _, _, i| i.closed_at.map(dt))
    }
    async fn merged_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        self.with(ctx, |_, _, _, i| {
            pull_parts(i)
                .is_some_and(|p| p.3)
                .then_some(i.closed_at)
                .flatten()
                .map(dt)
        })
    }
    async fn author(&self, ctx: &Context<'_>) -> Option<Actor> {
        self.with(ctx, |_, w, _, i| item_author(w, i))
    }
    async fn author_association(&self, ctx: &Context<'_>) -> CommentAuthorAssociation {
        with_item(ctx, self.repo, self.number, |_, w, r, i| item_association(w, r, i))
            .unwrap_or(CommentAuthorAssociation::None)
    }
    async fn maintainer_can_modify(&self) -> bool {
        false
    }
    async fn merge_state_status(&self, ctx: &Context<'_>) -> MergeStateStatus {
        with_item(ctx, self.repo, self.number, |_, _, _, i| match pull_parts(i) {
            Some((.., true)) => MergeStateStatus::Draft,
            Some(_) if i.open => MergeStateStatus::Clean,
            _ => MergeStateStatus::Unknown,
        })
        .unwrap_or(MergeStateStatus::Unknown)
    }
    async fn base_ref(&self, ctx: &Context<'_>) -> Option<Ref> {
        Some(Ref {
            name: gctx(ctx).sh.world().repos[self.repo].default_branch.clone(),
            prefix: "refs/heads/".into(),
            branch_protection_rule: None,
        })
    }
    async fn mergeable(&self, ctx: &Context<'_>) -> MergeableState {
        if self.with(ctx, |_, _, _, i| i.open) {
            MergeableState::Mergeable
        } else {
            MergeableState::Unknown
        }
    }
    async fn additions(&self, ctx: &Context<'_>) -> i32 {
        self.changed_files_of(ctx).iter().map(|f| f.additions).sum::<u64>() as i32
    }
    async fn deletions(&self, ctx: &Context<'_>) -> i32 {
        self.changed_files_of(ctx).iter().map(|f| f.deletions).sum::<u64>() as i32
    }
    async fn changed_files(&self, ctx: &Context<'_>) -> i32 {
        self.changed_files_of(ctx).len() as i32
    }
    async fn review_decision(&self) -> Option<PullRequestReviewDecision> {
        None
    }
    async fn commits(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> PullRequestCommitConnection {
        let all = self
            .with(ctx, |_, w, r, i| derived::pull_commits(w.seed, r, i))
            .into_iter()
            .map(|c| PullRequestCommit {
                commit: Commit::of_pull(self.repo, c),
            })
            .collect();
        PullRequestCommitConnection::of(all, first, after, last, before)
    }
    async fn files(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Option<PullRequestChangedFileConnection> {
        Some({
            let all = self
                .changed_files_of(ctx)
                .into_iter()
                .map(|f| PullRequestChangedFile {
                    path: f.filename,
                    additions: f.additions as i32,
                    deletions: f.deletions as i32,
                })
                .collect();
            PullRequestChangedFileConnection::of(all, first, after, None, None)
        })
    }
    async fn review_requests(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
    ) -> Option<ReviewRequestConnection> {
        Some(ReviewRequestConnection::of(Vec::new(), first, after, last, None))
    }
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Option<PullRequestReviewConnection> {
        Some(PullRequestReviewConnection::of(
            self.with(ctx, reviews_of),
            first,
            after,
            last,
            before,
        ))
    }
    async fn latest_reviews(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Option<PullRequestReviewConnection> {
        Some(PullRequestReviewConnection::of(
            self.with(ctx, reviews_of),
            first,
            after,
            None,
            None,
        ))
    }
    async fn assignees(&self, first: Option<i32>, after: Option<String>) -> UserConnection {
        UserConnection::of(Vec::new(), first, after, None, None)
    }
    async fn labels(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Option<LabelConnection> {
        Some(LabelConnection::of(
            self.with(ctx, |_, w, _, i| labels_of(w, i)),
            first,
            after,
            None,
            None,
        ))
    }
    async fn project_cards(&self, first: Option<i32>, after: Option<String>) -> ProjectCardConnection {
        ProjectCardConnection::of(Vec::new(), first, after, None, None)
    }
    async fn project_items(&self, first: Option<i32>, after: Option<String>) -> ProjectV2ItemConnection {
        ProjectV2ItemConnection::of(Vec::new(), first, after, None, None)
    }
    async fn milestone(&self) -> Option<Milestone> {
        None
    }
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> IssueCommentConnection {
        IssueCommentConnection::of(self.with(ctx, comments_of), first, after, last, before)
    }
    async fn reaction_groups(&self) -> Option<Vec<ReactionGroup>> {
        Some(Vec::new())
    }
}

fn reviews_of(_: &GqlCtx, w: &World, r: &Repo, i: &Item) -> Vec<PullRequestReview> {
    derived::reviews(w.seed, r, i)
        .into_iter()
        .map(|review| PullRequestReview {
            association: association(w.author_association(r, review.reviewer)),
            review,
        })
        .collect()
}

fn comments_of(g: &GqlCtx, w: &World, r: &Repo, i: &Item) -> Vec<IssueComment> {
    let me = g.caller.token.as_ref().map(|t| t.login.to_ascii_lowercase());
    derived::comments(i)
        .into_iter()
        .map(|c| IssueComment {
            id: gid("IssueComment", c.id),
            database_id: Some(c.id as i64),
            viewer_did_author: me.as_deref() == Some(c.author.to_ascii_lowercase().as_str()),
            author_login: c.author.to_string(),
            author_association: association(w.author_association(r, c.author)),
            body: c.body,
            created_at: dt(c.created_at),
            includes_created_edit: false,
            is_minimized: false,
            minimized_reason: None,
            reaction_groups: Some(Vec::new()),
            url: URI(render::comment_html_url(&g.urls, r, i, c.id)),
        })
        .collect()
}

/// An issue.
#[derive(Clone)]
pub struct Issue {
    repo: usize,
    number: u64,
}

impl Issue {
    fn with<T: Default>(&self, ctx: &Context<'_>, f: impl FnOnce(&GqlCtx, &World, &Repo, &Item) -> T) -> T {
        with_item(ctx, self.repo, self.number, f).unwrap_or_default()
    }
}

#[Object]
impl Issue {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::ID {
        self.with(ctx, |_, _, _, i| gid("Issue", i.id))
    }
    async fn database_id(&self, ctx: &Context<'_>) -> Option<i64> {
        self.with(ctx, |_, _, _, i| Some(i.id as i64))
    }
    async fn number(&self) -> i32 {
        self.number as i32
    }
    async fn title(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, _, _, i| i.title.clone())
    }
    async fn body(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, _, _, i| i.body.clone())
    }
    async fn state(&self, ctx: &Context<'_>) -> IssueState {
        if self.with(ctx, |_, _, _, i| i.open) {
            IssueState::Open
        } else {
            IssueState::Closed
        }
    }
    async fn state_reason(&self, ctx: &Context<'_>) -> Option<IssueStateReason> {
        self.with(ctx, |_, _, _, i| (!i.open).then_some(IssueStateReason::Completed))
    }
    async fn closed(&self, ctx: &Context<'_>) -> bool {
        self.with(ctx, |_, _, _, i| !i.open)
    }
    async fn url(&self, ctx: &Context<'_>) -> URI {
        self.with(ctx, |g, _, r, i| item_url(g, r, i))
    }
    async fn created_at(&self, ctx: &Context<'_>) -> DateTime {
        self.with(ctx, |_, _, _, i| dt(i.created_at))
    }
    async fn updated_at(&self, ctx: &Context<'_>) -> DateTime {
        self.with(ctx, |_, _, _, i| dt(i.updated_at))
    }
    async fn closed_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        self.with(ctx, |_, _, _, i| i.closed_at.map(dt))
    }
    async fn author(&self, ctx: &Context<'_>) -> Option<Actor> {
        self.with(ctx, |_, w, _, i| item_author(w, i))
    }
    async fn author_association(&self, ctx: &Context<'_>) -> CommentAuthorAssociation {
        with_item(ctx, self.repo, self.number, |_, w, r, i| item_association(w, r, i))
            .unwrap_or(CommentAuthorAssociation::None)
    }
    async fn is_pinned(&self) -> Option<bool> {
        Some(false)
    }
    async fn assignees(&self, first: Option<i32>, after: Option<String>) -> UserConnection {
        UserConnection::of(Vec::new(), first, after, None, None)
    }
    async fn labels(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Option<LabelConnection> {
        Some(LabelConnection::of(
            self.with(ctx, |_, w, _, i| labels_of(w, i)),
            first,
            after,
            None,
            None,
        ))
    }
    async fn project_cards(&self, first: Option<i32>, after: Option<String>) -> ProjectCardConnection {
        ProjectCardConnection::of(Vec::new(), first, after, None, None)
    }
    async fn project_items(&self, first: Option<i32>, after: Option<String>) -> ProjectV2ItemConnection {
        ProjectV2ItemConnection::of(Vec::new(), first, after, None, None)
    }
    async fn milestone(&self) -> Option<Milestone> {
        None
    }
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> IssueCommentConnection {
        IssueCommentConnection::of(self.with(ctx, comments_of), first, after, last, before)
    }
    async fn reaction_groups(&self) -> Option<Vec<ReactionGroup>> {
        Some(Vec::new())
    }
    async fn repository(&self) -> Repository {
        Repository { idx: self.repo }
    }
}

/// Issue or pull request by number.
#[derive(Union)]
pub enum IssueOrPullRequest {
    /// An issue.
    Issue(Issue),
    /// A pull request.
    PullRequest(PullRequest),
}

/// A release.
#[derive(Clone)]
pub struct Release {
    repo: usize,
    id: u64,
}

impl Release {
    fn with<T: Default>(
        &self,
        ctx: &Context<'_>,
        f: impl FnOnce(&GqlCtx, &World, &Repo, &crate::world::Release) -> T,
    ) -> T {
        let g = gctx(ctx);
        let w = g.sh.world();
        let r = &w.repos[self.repo];
        r.releases
            .iter()
            .find(|x| x.id == self.id)
            .map(|x| f(g, &w, r, x))
            .unwrap_or_default()
    }
}

#[Object]
impl Release {
    async fn id(&self) -> async_graphql::ID {
        gid("Release", self.id)
    }
    async fn database_id(&self) -> Option<i64> {
        Some(self.id as i64)
    }
    async fn name(&self, ctx: &Context<'_>) -> Option<String> {
        Some(self.with(ctx, |_, _, _, x| x.name.clone()))
    }
    async fn tag_name(&self, ctx: &Context<'_>) -> String {
        self.with(ctx, |_, _, _, x| x.tag.clone())
    }
    async fn description(&self, ctx: &Context<'_>) -> Option<String> {
        Some(self.with(ctx, |_, _, _, x| x.body.clone()))
    }
    async fn is_draft(&self) -> bool {
        false
    }
    async fn is_prerelease(&self, ctx: &Context<'_>) -> bool {
        self.with(ctx, |_, _, _, x| x.prerelease)
    }
    async fn is_latest(&self, ctx: &Context<'_>) -> bool {
        let w = gctx(ctx).sh.world();
        w.repos[self.repo].releases.first().is_some_and(|x| x.id == self.id)
    }
    async fn created_at(&self, ctx: &Context<'_>) -> DateTime {
        self.with(ctx, |_, _, _, x| dt(x.created_at))
    }
    async fn published_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        Some(self.with(ctx, |_, _, _, x| dt(x.published_at)))
    }
    async fn url(&self, ctx: &Context<'_>) -> URI {
        self.with(ctx, |g, _, r, x| URI(render::release_html_url(&g.urls, r, x)))
    }
    async fn author(&self, ctx: &Context<'_>) -> Option<User> {
        self.with(ctx, |_, w, _, x| Some(User::of(w, &x.author)))
    }
    async fn release_assets(&self, first: Option<i32>, after: Option<String>) -> ReleaseAssetConnection {
        ReleaseAssetConnection::of(Vec::new(), first, after, None, None)
    }
}

/// A git ref.
#[derive(SimpleObject)]
pub struct Ref {
    /// Name.
    pub name: String,
    /// Prefix, e.g. `refs/heads/`.
    pub prefix: String,
    /// The rule protecting it (none in the fake).
    pub branch_protection_rule: Option<BranchProtectionRule>,
}

/// A repository.
#[derive(Clone)]
pub struct Repository {
    idx: usize,
}

fn filter_items(r: &Repo, pulls: bool, open_states: Option<&[bool]>, merged_only: Option<bool>) -> Vec<u64> {
    r.items
        .iter()
        .filter(|i| i.is_pull() == pulls)
        .filter(|i| {
            let merged = matches!(i.kind, ItemKind::Pull { merged: true, .. });
            match (open_states, merged_only) {
                (None, _) => true,
                (Some(states), m) => states
                    .iter()
                    .any(|&open| open == i.open && (open || m.is_none_or(|mm| mm == merged))),
            }
        })
        .map(|i| i.number)
        .collect()
}

fn order(r: &Repo, numbers: &mut [u64], ord: Option<&IssueOrder>) {
    let field = ord.map_or(IssueOrderField::CreatedAt, |o| o.field);
    let desc = ord.is_none_or(|o| o.direction == OrderDirection::Desc);
    numbers.sort_by_key(|n| {
        let i = r.item(*n);
        match field {
            IssueOrderField::CreatedAt => i.map(|i| i.created_at.unix_timestamp()).unwrap_or(0),
            IssueOrderField::UpdatedAt => i.map(|i| i.updated_at.unix_timestamp()).unwrap_or(0),
            IssueOrderField::Comments => i.map(|i| i.comments as i64).unwrap_or(0),
        }
    });
    if desc {
        numbers.reverse();
    }
}

#[Object]
impl Repository {
    async fn id(&self, ctx: &Context<'_>) -> async_graphql::ID {
        gid("Repository", gctx(ctx).sh.world().repos[self.idx].id)
    }
    async fn database_id(&self, ctx: &Context<'_>) -> Option<i64> {
        Some(gctx(ctx).sh.world().repos[self.idx].id as i64)
    }
    async fn name(&self, ctx: &Context<'_>) -> String {
        gctx(ctx).sh.world().repos[self.idx].name.clone()
    }
    async fn name_with_owner(&self, ctx: &Context<'_>) -> String {
        gctx(ctx).sh.world().repos[self.idx].full_name()
    }
    async fn owner(&self, ctx: &Context<'_>) -> RepositoryOwner {
        let w = gctx(ctx).sh.world();
        owner_of(&w, &w.repos[self.idx].owner)
    }
    async fn is_private(&self, ctx: &Context<'_>) -> bool {
        gctx(ctx).sh.world().repos[self.idx].private
    }
    async fn is_archived(&self) -> bool {
        false
    }
    async fn is_fork(&self) -> bool {
        false
    }
    async fn has_issues_enabled(&self) -> bool {
        true
    }
    async fn has_wiki_enabled(&self) -> bool {
        false
    }
    async fn description(&self, ctx: &Context<'_>) -> Option<String> {
        Some(gctx(ctx).sh.world().repos[self.idx].description.clone())
    }
    async fn url(&self, ctx: &Context<'_>) -> URI {
        let g = gctx(ctx);
        URI(format!("{}/{}", g.urls.web, g.sh.world().repos[self.idx].full_name()))
    }
    async fn created_at(&self, ctx: &Context<'_>) -> DateTime {
        dt(gctx(ctx).sh.world().repos[self.idx].created_at)
    }
    async fn updated_at(&self, ctx: &Context<'_>) -> DateTime {
        dt(gctx(ctx).sh.world().repos[self.idx].updated_at)
    }
    async fn pushed_at(&self, ctx: &Context<'_>) -> Option<DateTime> {
        Some(dt(gctx(ctx).sh.world().repos[self.idx].pushed_at))
    }
    async fn stargazer_count(&self) -> i32 {
        0
    }
    async fn fork_count(&self) -> i32 {
        0
    }
    async fn viewer_permission(&self, ctx: &Context<'_>) -> Option<RepositoryPermission> {
        let g = gctx(ctx);
        let w = g.sh.world();
        let r = &w.repos[self.idx];
        let login = g.caller.token.as_ref().map(|t| t.login.to_ascii_lowercase())?;
        let role = w.org(&r.owner).and_then(|o| o.members.get(&login).copied());
        Some(match role {
            Some(crate::world::Role::Admin) => RepositoryPermission::Admin,
            Some(crate::world::Role::Member) => RepositoryPermission::Write,
            None if r.owner.eq_ignore_ascii_case(&login) => RepositoryPermission::Admin,
            None => RepositoryPermission::Read,
        })
    }
    async fn default_branch_ref(&self, ctx: &Context<'_>) -> Option<Ref> {
        Some(Ref {
            name: gctx(ctx).sh.world().repos[self.idx].default_branch.clone(),
            prefix: "refs/heads/".into(),
            branch_protection_rule: None,
        })
    }
    #[allow(clippy::too_many_arguments)]
    async fn pull_requests(
        &self,
        ctx: &Context<'_>,
        states: Option<Vec<PullRequestState>>,
        labels: Option<Vec<String>>,
        head_ref_name: Option<String>,
        base_ref_name: Option<String>,
        order_by: Option<IssueOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> PullRequestConnection {
        let w = gctx(ctx).sh.world();
        let r = &w.repos[self.idx];
        let open_states: Option<Vec<bool>> = states
            .as_ref()
            .map(|s| s.iter().map(|x| *x == PullRequestState::Open).collect());
        let merged_only = states.as_ref().and_then(|s| {
            let m = s.contains(&PullRequestState::Merged);
            let c = s.contains(&PullRequestState::Closed);
            match (m, c) {
                (true, false) => Some(true),
                (false, true) => Some(false),
                _ => None,
            }
        });
        let mut nums = filter_items(r, true, open_states.as_deref(), merged_only);
        nums.retain(|n| {
            let Some(i) = r.item(*n) else { return false };
            let ItemKind::Pull { head_ref, .. } = &i.kind else {
                return false;
            };
            head_ref_name.as_ref().is_none_or(|h| h == head_ref)
                && base_ref_name.as_ref().is_none_or(|b| *b == r.default_branch)
                && labels.as_ref().is_none_or(|ls| ls.iter().all(|l| i.labels.contains(l)))
        });
        order(r, &mut nums, order_by.as_ref());
        let all = nums
            .into_iter()
            .map(|number| PullRequest { repo: self.idx, number })
            .collect();
        PullRequestConnection::of(all, first, after, last, before)
    }
    async fn pull_request(&self, ctx: &Context<'_>, number: i32) -> async_graphql::Result<Option<PullRequest>> {
        let w = gctx(ctx).sh.world();
        let r = &w.repos[self.idx];
        match r.item(number as u64) {
            Some(i) if i.is_pull() => Ok(Some(PullRequest {
                repo: self.idx,
                number: number as u64,
            })),
            _ => Err(not_found(format!(
                "Could not resolve to a PullRequest with the number of {number}."
            ))),
        }
    }
    #[allow(clippy::too_many_arguments)]
    async fn issues(
        &self,
        ctx: &Context<'_>,
        states: Option<Vec<IssueState>>,
        labels: Option<Vec<String>>,
        filter_by: Option<IssueFilters>,
        order_by: Option<IssueOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> IssueConnection {
        let w = gctx(ctx).sh.world();
        let r = &w.repos[self.idx];
        let states = states.or_else(|| filter_by.as_ref().and_then(|f| f.states.clone()));
        let open_states: Option<Vec<bool>> = states.map(|s| s.iter().map(|x| *x == IssueState::Open).collect());
        let mut nums = filter_items(r, false, open_states.as_deref(), None);
        let labels = labels.or_else(|| filter_by.as_ref().and_then(|f| f.labels.clone()));
        let author = filter_by.as_ref().and_then(|f| f.created_by.clone());
        nums.retain(|n| {
            let Some(i) = r.item(*n) else { return false };
            labels.as_ref().is_none_or(|ls| ls.iter().all(|l| i.labels.contains(l)))
                && author.as_ref().is_none_or(|a| a.eq_ignore_ascii_case(&i.author))
        });
        order(r, &mut nums, order_by.as_ref());
        let all = nums
            .into_iter()
            .map(|number| Issue { repo: self.idx, number })
            .collect();
        IssueConnection::of(all, first, after, last, before)
    }
    async fn issue(&self, ctx: &Context<'_>, number: i32) -> async_graphql::Result<Option<Issue>> {
        let w = gctx(ctx).sh.world();
        match w.repos[self.idx].item(number as u64) {
            Some(i) if !i.is_pull() => Ok(Some(Issue {
                repo: self.idx,
                number: number as u64,
            })),
            _ => Err(not_found(format!(
                "Could not resolve to an Issue with the number of {number}."
            ))),
        }
    }
    async fn issue_or_pull_request(
        &self,
        ctx: &Context<'_>,
        number: i32,
    ) -> async_graphql::Result<Option<IssueOrPullRequest>> {
        let w = gctx(ctx).sh.world();
        match w.repos[self.idx].item(number as u64) {
            Some(i) if i.is_pull() => Ok(Some(IssueOrPullRequest::PullRequest(PullRequest {
                repo: self.idx,
                number: number as u64,
            }))),
            Some(_) => Ok(Some(IssueOrPullRequest::Issue(Issue {
                repo: self.idx,
                number: number as u64,
            }))),
            None => Err(not_found(format!(
                "Could not resolve to an issue or pull request with the number of {number}."
            ))),
        }
    }
    #[allow(clippy::too_many_arguments)]
    async fn labels(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        order_by: Option<LabelOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Option<LabelConnection> {
        Some({
            let w = gctx(ctx).sh.world();
            let all = repo_labels(&w, &w.repos[self.idx], query.as_deref(), order_by.as_ref());
            LabelConnection::of(all, first, after, last, before)
        })
    }
    async fn release(&self, ctx: &Context<'_>, tag_name: String) -> Option<Release> {
        let w = gctx(ctx).sh.world();
        w.repos[self.idx]
            .releases
            .iter()
            .find(|x| x.tag == tag_name)
            .map(|x| Release {
                repo: self.idx,
                id: x.id,
            })
    }
    async fn latest_release(&self, ctx: &Context<'_>) -> Option<Release> {
        let w = gctx(ctx).sh.world();
        w.repos[self.idx].releases.first().map(|x| Release {
            repo: self.idx,
            id: x.id,
        })
    }
    async fn releases(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        _order_by: Option<ReleaseOrder>,
    ) -> ReleaseConnection {
        let w = gctx(ctx).sh.world();
        let all = w.repos[self.idx]
            .releases
            .iter()
            .map(|x| Release {
                repo: self.idx,
                id: x.id,
            })
            .collect();
        ReleaseConnection::of(all, first, after, last, before)
    }
}

/// A GraphQL error with GitHub's `type` (moved to the top level of the error by the server).
pub fn not_found(message: String) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("type", "NOT_FOUND"))
}

/// The root query.
pub struct Query;

#[Object]
impl Query {
    /// A repository the caller can see.
    async fn repository(
        &self,
        ctx: &Context<'_>,
        owner: String,
        name: String,
        _follow_renames: Option<bool>,
    ) -> async_graphql::Result<Option<Repository>> {
        let g = gctx(ctx);
        let w = g.sh.world();
        let idx = w.repo_index(&owner, &name).or_else(|| w.renamed_index(&owner, &name));
        match idx {
            Some(i) if g.caller.can_read_repo(&w, &w.repos[i]) => Ok(Some(Repository { idx: i })),
            _ => Err(not_found(format!(
                "Could not resolve to a Repository with the name '{owner}/{name}'."
            ))),
        }
    }
    /// The authenticated user.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let g = gctx(ctx);
        match &g.caller.token {
            Some(t) if t.kind != crate::state::TokenKind::Installation => Ok(User {
                login: t.login.clone(),
                id: t.account_id,
            }),
            _ => Err(async_graphql::Error::new("Resource not accessible by integration")
                .extend_with(|_, e| e.set("type", "FORBIDDEN"))),
        }
    }
    /// A user by login.
    async fn user(&self, ctx: &Context<'_>, login: String) -> async_graphql::Result<Option<User>> {
        let w = gctx(ctx).sh.world();
        match w.user(&login) {
            Some(u) => Ok(Some(User {
                login: u.login.clone(),
                id: u.id,
            })),
            None => Err(not_found(format!(
                "Could not resolve to a User with the login of '{login}'."
            ))),
        }
    }
    /// An organisation by login.
    async fn organization(&self, ctx: &Context<'_>, login: String) -> async_graphql::Result<Option<Organization>> {
        let w = gctx(ctx).sh.world();
        match w.org(&login) {
            Some(o) => Ok(Some(Organization {
                login: o.login.clone(),
                id: o.id,
            })),
            None => Err(not_found(format!(
                "Could not resolve to an Organization with the login of '{login}'."
            ))),
        }
    }
    /// Search issues and pull requests (only `type: ISSUE` is implemented).
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(name = "type")] kind: SearchType,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> SearchResultItemConnection {
        let g = gctx(ctx);
        let w = g.sh.world();
        let found = if kind == SearchType::Issue {
            crate::rest::search_items(&w, &g.caller, &query)
        } else {
            Vec::new()
        };
        let all: Vec<SearchResultItem> = found
            .into_iter()
            .filter_map(|(repo, number)| {
                let item = w.repos[repo].item(number)?;
                Some(if item.is_pull() {
                    SearchResultItem::PullRequest(PullRequest { repo, number })
                } else {
                    SearchResultItem::Issue(Issue { repo, number })
                })
            })
            .collect();
        let (nodes, page_info, total) = slice(all, first, after, last, before);
        let start = page_info.start_cursor.as_deref().and_then(decode_cursor).unwrap_or(0);
        let edges = nodes
            .iter()
            .enumerate()
            .map(|(k, node)| {
                Some(SearchResultItemEdge {
                    node: Some(node.clone()),
                    cursor: cursor(start + k),
                })
            })
            .collect();
        SearchResultItemConnection {
            issue_count: total,
            nodes: Some(nodes.into_iter().map(Some).collect()),
            edges: Some(edges),
            page_info,
        }
    }
    /// An object by its global node id.
    async fn node(&self, ctx: &Context<'_>, id: async_graphql::ID) -> Option<Node> {
        let g = gctx(ctx);
        let raw = base64::engine::general_purpose::STANDARD.decode(id.as_str()).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (_, rest) = raw.split_once(':')?;
        let split = rest.find(|c: char| c.is_ascii_digit())?;
        let (kind, num) = rest.split_at(split);
        let num: u64 = num.parse().ok()?;
        let w = g.sh.world();
        match kind {
            "PullRequest" | "Issue" => w.repos.iter().enumerate().find_map(|(ri, r)| {
                let item = r.items.iter().find(|i| i.id == num)?;
                if !g.caller.can_read_repo(&w, r) {
                    return None;
                }
                Some(if item.is_pull() {
                    Node::PullRequest(PullRequest {
                        repo: ri,
                        number: item.number,
                    })
                } else {
                    Node::Issue(Issue {
                        repo: ri,
                        number: item.number,
                    })
                })
            }),
            "Repository" => {
                let ri = w.repo_index_by_id(num)?;
                g.caller
                    .can_read_repo(&w, &w.repos[ri])
                    .then_some(Node::Repository(Repository { idx: ri }))
            }
            _ => None,
        }
    }
    /// Objects by their global node ids, in order (null for an id the caller cannot see).
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<async_graphql::ID>) -> async_graphql::Result<Vec<Option<Node>>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.node(ctx, id).await?);
        }
        Ok(out)
    }
    /// The caller's GraphQL rate limit, including this query's cost.
    async fn rate_limit(&self, ctx: &Context<'_>, _dry_run: Option<bool>) -> Option<RateLimit> {
        Some(gctx(ctx).rate.clone())
    }
}

/// What `search` looks for.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SearchType {
    /// Issues and pull requests.
    Issue,
    /// Repositories (not implemented: no results).
    Repository,
    /// Users (not implemented: no results).
    User,
    /// Discussions (not implemented: no results).
    Discussion,
}

/// A search hit.
#[derive(Union, Clone)]
pub enum SearchResultItem {
    /// An issue.
    Issue(Issue),
    /// A pull request.
    PullRequest(PullRequest),
}

/// Search results.
#[derive(SimpleObject)]
pub struct SearchResultItemConnection {
    /// Issues and pulls found.
    pub issue_count: i32,
    /// This page.
    pub nodes: Option<Vec<Option<SearchResultItem>>>,
    /// This page, with cursors.
    pub edges: Option<Vec<Option<SearchResultItemEdge>>>,
    /// Paging.
    pub page_info: PageInfo,
}

/// A search hit and its cursor.
#[derive(SimpleObject)]
pub struct SearchResultItemEdge {
    /// The hit.
    pub node: Option<SearchResultItem>,
    /// Its cursor.
    pub cursor: String,
}

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "async_graphql::ID"))]
pub enum Node {
    /// A pull request.
    PullRequest(PullRequest),
    /// An issue.
    Issue(Issue),
    /// A repository.
    Repository(Repository),
}
