//! The subset of GitHub's GraphQL schema that `gh` 2.23 uses for the everyday reads (issue 14's
//! list, recorded in `tests/gh-2.23-requests.json`), with GitHub's type, field and enum names and
//! types (checked against GitHub's published schema). This file holds the shared pieces (scalars,
//! connections, enums, users and organisations) and the root `Query`; each area has its own file:
//! `repository`, `pull_requests`, `issues`, `commits` (commits, checks and statuses), `labels`,
//! `releases`, `search`.

use std::sync::Arc;

use async_graphql::{Context, Enum, ErrorExtensions, InputObject, Interface, Object, SimpleObject, Union};
use base64::Engine;

mod commits;
mod issues;
mod labels;
mod pull_requests;
mod releases;
mod repository;
mod search;

pub use commits::*;
pub use issues::*;
pub use labels::*;
pub use pull_requests::*;
pub use releases::*;
pub use repository::*;
pub use search::*;

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

/// The `edges` of a page: each node with its cursor.
fn edges<N: Clone, E>(nodes: &[N], page: &PageInfo, edge: impl Fn(Option<N>, String) -> E) -> Option<Vec<Option<E>>> {
    let start = page.start_cursor.as_deref().and_then(decode_cursor).unwrap_or(0);
    Some(
        nodes
            .iter()
            .enumerate()
            .map(|(k, n)| Some(edge(Some(n.clone()), cursor(start + k))))
            .collect(),
    )
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
                $name {
                    total_count,
                    edges: edges(&nodes, &page_info, |node, cursor| $edge { node, cursor }),
                    nodes: Some(nodes.into_iter().map(Some).collect()),
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
        SearchResultItemConnection {
            issue_count: total,
            edges: edges(&nodes, &page_info, |node, cursor| SearchResultItemEdge { node, cursor }),
            nodes: Some(nodes.into_iter().map(Some).collect()),
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
