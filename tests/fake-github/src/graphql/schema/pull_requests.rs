//! Pull requests: their fields as `pr view`, `pr list`, `pr status` and `pr checks` read them,
//! their reviews and changed files.

use super::*;

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
/// A pull request.
#[derive(Clone)]
pub struct PullRequest {
    pub(super) repo: usize,
    pub(super) number: u64,
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
    pub(super) async fn id(&self, ctx: &Context<'_>) -> async_graphql::ID {
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
