//! A repository and what hangs off it: pulls and issues (filtered and ordered), releases, labels.

use super::*;

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
    pub(super) idx: usize,
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
    pub(super) async fn id(&self, ctx: &Context<'_>) -> async_graphql::ID {
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
