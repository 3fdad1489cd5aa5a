//! Issues and comments: `issue view`, `issue list` and the comments of both issues and pulls.

use super::*;

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

pub(super) fn comments_of(g: &GqlCtx, w: &World, r: &Repo, i: &Item) -> Vec<IssueComment> {
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
    pub(super) repo: usize,
    pub(super) number: u64,
}

impl Issue {
    fn with<T: Default>(&self, ctx: &Context<'_>, f: impl FnOnce(&GqlCtx, &World, &Repo, &Item) -> T) -> T {
        with_item(ctx, self.repo, self.number, f).unwrap_or_default()
    }
}

#[Object]
impl Issue {
    pub(super) async fn id(&self, ctx: &Context<'_>) -> async_graphql::ID {
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
