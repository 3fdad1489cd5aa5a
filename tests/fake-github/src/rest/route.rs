//! The REST path parser: a path (no `/api/v3` prefix, no query) becomes a [`Route`], which also
//! names its template in the stats and the rate-limit resource it spends.

use crate::state::Resource;

/// A repository as addressed in the path.
#[derive(Debug, Clone, Copy)]
pub enum RepoRef<'a> {
    /// `/repos/{owner}/{repo}`.
    Name(&'a str, &'a str),
    /// `/repositories/{id}`.
    Id(u64),
}

/// Routes under a repository.
#[derive(Debug, Clone)]
pub enum RepoRoute<'a> {
    Repo,
    Pulls,
    Pull(u64),
    PullFiles(u64),
    PullCommits(u64),
    PullReviews(u64),
    Issues,
    Issue(u64),
    IssueComments(u64),
    Commits,
    Commit(&'a str),
    CheckRuns(&'a str),
    Runs,
    Run(u64),
    RunJobs(u64),
    RunArtifacts(u64),
    RunLogs(u64),
    Annotations,
    Workflows,
    Workflow(&'a str),
    Releases,
    ReleaseLatest,
    ReleaseTag(&'a str),
    Release(u64),
    Contents(String),
    Readme,
    Branches,
    Tags,
    Labels,
    Archive(&'a str, Option<&'a str>),
    Compare(&'a str),
    Unknown,
}

/// A parsed GET route.
#[derive(Debug, Clone)]
pub enum Route<'a> {
    Root,
    RateLimit,
    User,
    UserOrgs,
    UserRepos,
    UserEmails,
    UserMembership(&'a str),
    Org(&'a str),
    OrgMember(&'a str, &'a str),
    OrgMembers(&'a str),
    OrgMembership(&'a str, &'a str),
    OrgRepos(&'a str),
    Users(&'a str),
    Meta,
    InstallationRepos,
    SearchIssues,
    SearchCode,
    Repo(RepoRef<'a>, RepoRoute<'a>),
    Unknown,
}

fn num(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// Parses a path (no `/api/v3` prefix, no query) into a route.
pub fn parse(path: &str) -> Route<'_> {
    let segs: Vec<&str> = path.trim_start_matches('/').trim_end_matches('/').split('/').collect();
    match segs.as_slice() {
        [""] => Route::Root,
        ["rate_limit"] => Route::RateLimit,
        ["user"] => Route::User,
        ["user", "orgs"] => Route::UserOrgs,
        ["user", "repos"] => Route::UserRepos,
        ["user", "emails"] => Route::UserEmails,
        ["user", "memberships", "orgs", org] => Route::UserMembership(org),
        ["orgs", org] => Route::Org(org),
        ["orgs", org, "members", user] => Route::OrgMember(org, user),
        ["orgs", org, "members"] => Route::OrgMembers(org),
        ["orgs", org, "memberships", user] => Route::OrgMembership(org, user),
        ["orgs", org, "repos"] => Route::OrgRepos(org),
        ["users", login] => Route::Users(login),
        ["meta"] => Route::Meta,
        ["installation", "repositories"] => Route::InstallationRepos,
        ["search", "issues"] => Route::SearchIssues,
        ["search", "code"] => Route::SearchCode,
        ["repos", owner, name, rest @ ..] => Route::Repo(RepoRef::Name(owner, name), repo_route(rest)),
        ["repositories", id, rest @ ..] => match num(id) {
            Some(id) => Route::Repo(RepoRef::Id(id), repo_route(rest)),
            None => Route::Unknown,
        },
        _ => Route::Unknown,
    }
}

fn repo_route<'a>(rest: &[&'a str]) -> RepoRoute<'a> {
    let n = |s: &str| num(s);
    match rest {
        [] => RepoRoute::Repo,
        ["pulls"] => RepoRoute::Pulls,
        ["pulls", x] => n(x).map_or(RepoRoute::Unknown, RepoRoute::Pull),
        ["pulls", x, "files"] => n(x).map_or(RepoRoute::Unknown, RepoRoute::PullFiles),
        ["pulls", x, "commits"] => n(x).map_or(RepoRoute::Unknown, RepoRoute::PullCommits),
        ["pulls", x, "reviews"] => n(x).map_or(RepoRoute::Unknown, RepoRoute::PullReviews),
        ["issues"] => RepoRoute::Issues,
        ["issues", x] => n(x).map_or(RepoRoute::Unknown, RepoRoute::Issue),
        ["issues", x, "comments"] => n(x).map_or(RepoRoute::Unknown, RepoRoute::IssueComments),
        ["commits"] => RepoRoute::Commits,
        ["commits", r] => RepoRoute::Commit(r),
        ["commits", r, "check-runs"] => RepoRoute::CheckRuns(r),
        ["actions", "runs"] => RepoRoute::Runs,
        ["actions", "runs", x] => n(x).map_or(RepoRoute::Unknown, RepoRoute::Run),
        ["actions", "runs", x, "jobs"] => n(x).map_or(RepoRoute::Unknown, RepoRoute::RunJobs),
        ["actions", "runs", x, "artifacts"] => n(x).map_or(RepoRoute::Unknown, RepoRoute::RunArtifacts),
        ["actions", "runs", x, "logs"] => n(x).map_or(RepoRoute::Unknown, RepoRoute::RunLogs),
        ["check-runs", x, "annotations"] => n(x).map_or(RepoRoute::Unknown, |_| RepoRoute::Annotations),
        ["actions", "workflows"] => RepoRoute::Workflows,
        ["actions", "workflows", x] => RepoRoute::Workflow(x),
        ["releases"] => RepoRoute::Releases,
        ["releases", "latest"] => RepoRoute::ReleaseLatest,
        ["releases", "tags", t] => RepoRoute::ReleaseTag(t),
        ["releases", x] => n(x).map_or(RepoRoute::Unknown, RepoRoute::Release),
        ["contents"] => RepoRoute::Contents(String::new()),
        ["contents", p @ ..] => RepoRoute::Contents(p.join("/")),
        ["readme"] => RepoRoute::Readme,
        ["branches"] => RepoRoute::Branches,
        ["tags"] => RepoRoute::Tags,
        ["labels"] => RepoRoute::Labels,
        [f @ ("tarball" | "zipball")] => RepoRoute::Archive(f, None),
        [f @ ("tarball" | "zipball"), r] => RepoRoute::Archive(f, Some(r)),
        ["compare", spec] => RepoRoute::Compare(spec),
        _ => RepoRoute::Unknown,
    }
}

impl Route<'_> {
    /// The route template used in stats, e.g. `/repos/{owner}/{repo}/pulls/{pull_number}`.
    pub fn template(&self) -> String {
        match self {
            Route::Root => "/".into(),
            Route::RateLimit => "/rate_limit".into(),
            Route::User => "/user".into(),
            Route::UserOrgs => "/user/orgs".into(),
            Route::UserRepos => "/user/repos".into(),
            Route::UserEmails => "/user/emails".into(),
            Route::UserMembership(_) => "/user/memberships/orgs/{org}".into(),
            Route::Org(_) => "/orgs/{org}".into(),
            Route::OrgMember(..) => "/orgs/{org}/members/{username}".into(),
            Route::OrgMembers(_) => "/orgs/{org}/members".into(),
            Route::OrgMembership(..) => "/orgs/{org}/memberships/{username}".into(),
            Route::OrgRepos(_) => "/orgs/{org}/repos".into(),
            Route::Users(_) => "/users/{username}".into(),
            Route::Meta => "/meta".into(),
            Route::InstallationRepos => "/installation/repositories".into(),
            Route::SearchIssues => "/search/issues".into(),
            Route::SearchCode => "/search/code".into(),
            Route::Repo(r, rr) => {
                let head = match r {
                    RepoRef::Name(..) => "/repos/{owner}/{repo}",
                    RepoRef::Id(_) => "/repositories/{repository_id}",
                };
                let tail = match rr {
                    RepoRoute::Repo => "",
                    RepoRoute::Pulls => "/pulls",
                    RepoRoute::Pull(_) => "/pulls/{pull_number}",
                    RepoRoute::PullFiles(_) => "/pulls/{pull_number}/files",
                    RepoRoute::PullCommits(_) => "/pulls/{pull_number}/commits",
                    RepoRoute::PullReviews(_) => "/pulls/{pull_number}/reviews",
                    RepoRoute::Issues => "/issues",
                    RepoRoute::Issue(_) => "/issues/{issue_number}",
                    RepoRoute::IssueComments(_) => "/issues/{issue_number}/comments",
                    RepoRoute::Commits => "/commits",
                    RepoRoute::Commit(_) => "/commits/{ref}",
                    RepoRoute::CheckRuns(_) => "/commits/{ref}/check-runs",
                    RepoRoute::Runs => "/actions/runs",
                    RepoRoute::Run(_) => "/actions/runs/{run_id}",
                    RepoRoute::RunJobs(_) => "/actions/runs/{run_id}/jobs",
                    RepoRoute::RunArtifacts(_) => "/actions/runs/{run_id}/artifacts",
                    RepoRoute::RunLogs(_) => "/actions/runs/{run_id}/logs",
                    RepoRoute::Annotations => "/check-runs/{check_run_id}/annotations",
                    RepoRoute::Workflows => "/actions/workflows",
                    RepoRoute::Workflow(_) => "/actions/workflows/{workflow_id}",
                    RepoRoute::Releases => "/releases",
                    RepoRoute::ReleaseLatest => "/releases/latest",
                    RepoRoute::ReleaseTag(_) => "/releases/tags/{tag}",
                    RepoRoute::Release(_) => "/releases/{release_id}",
                    RepoRoute::Contents(_) => "/contents/{path}",
                    RepoRoute::Readme => "/readme",
                    RepoRoute::Branches => "/branches",
                    RepoRoute::Tags => "/tags",
                    RepoRoute::Labels => "/labels",
                    RepoRoute::Archive("tarball", _) => "/tarball/{ref}",
                    RepoRoute::Archive(..) => "/zipball/{ref}",
                    RepoRoute::Compare(_) => "/compare/{basehead}",
                    RepoRoute::Unknown => "/{unknown}",
                };
                format!("{head}{tail}")
            }
            Route::Unknown => "/{unknown}".into(),
        }
    }

    /// The rate-limit resource the route spends.
    pub fn resource(&self) -> Resource {
        match self {
            Route::SearchIssues => Resource::Search,
            Route::SearchCode => Resource::CodeSearch,
            _ => Resource::Core,
        }
    }

    /// Whether the route is free (GitHub does not charge `/rate_limit`).
    pub fn is_free(&self) -> bool {
        matches!(self, Route::RateLimit)
    }
}
