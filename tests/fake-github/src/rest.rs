//! REST routes: parse a path into a [`Route`], then answer it from the world.

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::error::FakeError;
use crate::render::{self, Urls};
use crate::state::{Resource, Shared, TokenInfo, TokenKind};
use crate::world::{FILES, Repo, World};

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

/// What a handler answers; the pipeline adds validators, rate-limit headers and Link.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub body: Payload,
    /// `Last-Modified`, when the resource has one.
    pub last_modified: Option<OffsetDateTime>,
    /// Pagination, when the body is one page of a list.
    pub page: Option<PageInfo>,
    /// Extra response headers.
    pub headers: Vec<(&'static str, String)>,
    /// `X-GitHub-Media-Type` value.
    pub media: &'static str,
}

/// A response body.
#[derive(Debug)]
pub enum Payload {
    /// JSON.
    Json(Value),
    /// Raw bytes with a content type (diff, patch, raw file).
    Raw(Vec<u8>, &'static str),
    /// No body.
    Empty,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// Current page (1-based).
    pub page: usize,
    /// Last page (at least 1).
    pub last: usize,
    /// Path Link headers point to (GitHub uses `/repositories/{id}/...` for repo lists).
    pub link_path: String,
}

impl Reply {
    fn json(v: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Payload::Json(v),
            last_modified: None,
            page: None,
            headers: Vec::new(),
            media: "github.v3; format=json",
        }
    }

    fn modified(mut self, t: OffsetDateTime) -> Reply {
        self.last_modified = Some(t);
        self
    }

    fn status(mut self, s: StatusCode) -> Reply {
        self.status = s;
        self
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token, None when unauthenticated.
    pub token: Option<TokenInfo>,
}

impl Caller {
    /// Whether the caller may read the repo (private repos: org members, the owner, the installation).
    pub fn can_read_repo(&self, w: &World, r: &Repo) -> bool {
        match &self.token {
            None => !r.private,
            Some(t) if t.kind == TokenKind::Installation => {
                !r.private
                    || t.installation_owner
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(&r.owner))
            }
            Some(t) => w.can_read(Some(&t.login), r),
        }
    }
}

/// Per-request inputs of a handler.
pub struct Ctx<'a> {
    /// Parsed query string.
    pub query: &'a [(String, String)],
    /// `Accept` header.
    pub accept: &'a str,
    /// URLs for bodies.
    pub urls: &'a Urls,
    /// Who asks.
    pub caller: &'a Caller,
    /// Client address (the anonymous bucket is per IP).
    pub ip: std::net::IpAddr,
}

impl Ctx<'_> {
    fn q(&self, k: &str) -> Option<&str> {
        self.query.iter().find(|(a, _)| a == k).map(|(_, b)| b.as_str())
    }

    fn paging(&self) -> (usize, usize) {
        let per_page = self
            .q("per_page")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = self.q("page").and_then(|s| s.parse::<usize>().ok()).unwrap_or(1).max(1);
        (page, per_page)
    }
}

/// Slices one page out of a list and records the page info.
fn paginate<T>(ctx: &Ctx<'_>, items: &[T], link_path: String) -> (Vec<usize>, PageInfo) {
    let (page, per_page) = ctx.paging();
    let last = items.len().div_ceil(per_page).max(1);
    let start = (page - 1).saturating_mul(per_page);
    let idx: Vec<usize> = (start..items.len().min(start.saturating_add(per_page))).collect();
    (idx, PageInfo { page, last, link_path })
}

fn paged(v: Value, info: PageInfo) -> Reply {
    let mut r = Reply::json(v);
    r.page = Some(info);
    r
}

/// Answers a parsed route.
pub fn handle(sh: &Shared, route: &Route<'_>, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let w = sh.world();
    let u = ctx.urls;
    match route {
        Route::RateLimit => Ok(rate_limit(sh, ctx)),
        Route::Root => Ok(Reply::json(json!({
            "current_user_url": format!("{}/user", u.api),
            "authorizations_url": format!("{}/authorizations", u.web),
            "emails_url": format!("{}/user/emails", u.api),
            "organization_url": format!("{}/orgs/{{org}}", u.api),
            "rate_limit_url": format!("{}/rate_limit", u.api),
            "repository_url": format!("{}/repos/{{owner}}/{{repo}}", u.api),
            "user_url": format!("{}/users/{{user}}", u.api),
            "issue_search_url": format!("{}/search/issues?q={{query}}{{&page,per_page,sort,order}}", u.api)
        }))),
        Route::Meta => Ok(Reply::json(json!({
            "verifiable_password_authentication": false,
            "installed_version": "fake-github",
            "hooks": ["127.0.0.1/32"], "web": ["127.0.0.1/32"], "api": ["127.0.0.1/32"], "git": ["127.0.0.1/32"],
            "packages": [], "pages": [], "importer": [], "actions": [], "dependabot": [],
            "domains": {"website": [], "codespaces": [], "copilot": [], "packages": []}
        }))),
        Route::User => {
            let t = require_user(ctx)?;
            Ok(Reply::json(render::private_user(&w, u, &t.login, t.account_id)))
        }
        Route::UserOrgs => {
            let t = require_user(ctx)?;
            let me = t.login.to_ascii_lowercase();
            let mut orgs: Vec<_> = w.orgs.values().filter(|o| o.members.contains_key(&me)).collect();
            orgs.sort_by(|a, b| a.login.cmp(&b.login));
            let (idx, info) = paginate(ctx, &orgs, "/user/orgs".into());
            Ok(paged(
                Value::Array(idx.iter().map(|&i| render::org_simple(u, orgs[i])).collect()),
                info,
            ))
        }
        Route::UserRepos => {
            let t = require_user(ctx)?;
            let repos: Vec<&Repo> = w
                .repos
                .iter()
                .filter(|r| r.owner.eq_ignore_ascii_case(&t.login) || (r.private && w.can_read(Some(&t.login), r)))
                .collect();
            let (idx, info) = paginate(ctx, &repos, "/user/repos".into());
            Ok(paged(
                Value::Array(idx.iter().map(|&i| render::repo(&w, u, repos[i])).collect()),
                info,
            ))
        }
        Route::UserEmails => {
            let t = require_user(ctx)?;
            Ok(Reply::json(json!([{
                "email": format!("{}@users.noreply.fake-github", t.login.to_ascii_lowercase()),
                "primary": true,
                "verified": true,
                "visibility": "private"
            }])))
        }
        Route::UserMembership(org) => {
            let t = require_user(ctx)?;
            let o = w.org(org).ok_or(FakeError::NotFound)?;
            let role = o
                .members
                .get(&t.login.to_ascii_lowercase())
                .ok_or(FakeError::NotFound)?;
            Ok(Reply::json(json!({
                "url": format!("{}/orgs/{}/memberships/{}", u.api, o.login, t.login),
                "state": "active",
                "role": role.as_str(),
                "organization_url": format!("{}/orgs/{}", u.api, o.login),
                "organization": render::org_simple(u, o),
                "user": render::user(u, &t.login, t.account_id)
            })))
        }
        Route::Org(org) => {
            let o = w.org(org).ok_or(FakeError::NotFound)?;
            let public = w
                .repos
                .iter()
                .filter(|r| r.owner.eq_ignore_ascii_case(&o.login) && !r.private)
                .count();
            Ok(Reply::json(render::org_full(u, o, public)))
        }
        Route::OrgMember(org, user) => {
            let o = w.org(org).ok_or(FakeError::NotFound)?;
            if o.members.contains_key(&user.to_ascii_lowercase()) {
                Ok(Reply {
                    body: Payload::Empty,
                    ..Reply::json(Value::Null)
                }
                .status(StatusCode::NO_CONTENT))
            } else {
                Err(FakeError::NotFound)
            }
        }
        Route::OrgMembers(org) => {
            let o = w.org(org).ok_or(FakeError::NotFound)?;
            let members: Vec<&String> = o.members.keys().collect();
            let (idx, info) = paginate(ctx, &members, format!("/orgs/{}/members", o.login));
            Ok(paged(
                Value::Array(idx.iter().map(|&i| render::user_by_login(&w, u, members[i])).collect()),
                info,
            ))
        }
        Route::OrgMembership(org, user) => {
            let o = w.org(org).ok_or(FakeError::NotFound)?;
            let role = o.members.get(&user.to_ascii_lowercase()).ok_or(FakeError::NotFound)?;
            Ok(Reply::json(json!({
                "url": format!("{}/orgs/{}/memberships/{}", u.api, o.login, user),
                "state": "active",
                "role": role.as_str(),
                "organization_url": format!("{}/orgs/{}", u.api, o.login),
                "organization": render::org_simple(u, o),
                "user": render::user_by_login(&w, u, user)
            })))
        }
        Route::OrgRepos(org) => {
            let o = w.org(org).ok_or(FakeError::NotFound)?;
            let repos: Vec<&Repo> = w
                .repos
                .iter()
                .filter(|r| r.owner.eq_ignore_ascii_case(&o.login) && ctx.caller.can_read_repo(&w, r))
                .collect();
            let (idx, info) = paginate(ctx, &repos, format!("/orgs/{}/repos", o.login));
            Ok(paged(
                Value::Array(idx.iter().map(|&i| render::repo(&w, u, repos[i])).collect()),
                info,
            ))
        }
        Route::Users(login) => {
            if let Some(o) = w.org(login) {
                let public = w
                    .repos
                    .iter()
                    .filter(|r| r.owner.eq_ignore_ascii_case(&o.login) && !r.private)
                    .count();
                return Ok(Reply::json(render::org_full(u, o, public)));
            }
            let user = w.user(login).ok_or(FakeError::NotFound)?;
            Ok(Reply::json(render::public_user(&w, u, &user.login, user.id)))
        }
        Route::SearchIssues => search_issues(&w, ctx),
        Route::InstallationRepos => {
            let owner = match &ctx.caller.token {
                Some(t) if t.kind == TokenKind::Installation => t.installation_owner.clone().unwrap_or_default(),
                _ => {
                    return Err(FakeError::Forbidden(
                        "This endpoint requires an installation access token".into(),
                    ));
                }
            };
            let repos: Vec<&Repo> = w
                .repos
                .iter()
                .filter(|r| r.owner.eq_ignore_ascii_case(&owner))
                .collect();
            let (idx, info) = paginate(ctx, &repos, "/installation/repositories".into());
            Ok(paged(
                json!({"total_count": repos.len(), "repository_selection": "all",
                       "repositories": idx.iter().map(|&i| render::repo(&w, u, repos[i])).collect::<Vec<_>>()}),
                info,
            ))
        }
        Route::SearchCode => Ok(Reply::json(
            json!({"total_count": 0, "incomplete_results": false, "items": []}),
        )),
        Route::Repo(rr, sub) => {
            let idx = match rr {
                RepoRef::Name(o, n) => match w.repo_index(o, n) {
                    Some(i) => i,
                    None => {
                        if let Some(i) = w.renamed_index(o, n)
                            && ctx.caller.can_read_repo(&w, &w.repos[i])
                        {
                            return Ok(moved(&w, u, i, sub));
                        }
                        return Err(FakeError::NotFound);
                    }
                },
                RepoRef::Id(id) => w.repo_index_by_id(*id).ok_or(FakeError::NotFound)?,
            };
            let repo = &w.repos[idx];
            if !ctx.caller.can_read_repo(&w, repo) {
                return Err(FakeError::NotFound);
            }
            repo_handle(&w, repo, sub, ctx)
        }
        Route::Unknown => Err(FakeError::NotFound),
    }
}

fn moved(w: &World, u: &Urls, idx: usize, _sub: &RepoRoute<'_>) -> Reply {
    let r = &w.repos[idx];
    let url = format!("{}/repositories/{}", u.api, r.id);
    let mut reply =
        Reply::json(json!({"message": "Moved Permanently", "url": url, "documentation_url": crate::error::DOCS}))
            .status(StatusCode::MOVED_PERMANENTLY);
    reply.headers.push(("location", url));
    reply
}

fn require_user<'a>(ctx: &Ctx<'a>) -> Result<&'a TokenInfo, FakeError> {
    match &ctx.caller.token {
        None => Err(FakeError::Unauthorized("Requires authentication".into())),
        Some(t) if t.kind == TokenKind::Installation => {
            Err(FakeError::Forbidden("Resource not accessible by integration".into()))
        }
        Some(t) => Ok(t),
    }
}

fn rate_limit(sh: &Shared, ctx: &Ctx<'_>) -> Reply {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let account = crate::api::account_of(ctx.caller, ctx.ip);
    let mut meter = sh.meter();
    let mut res = serde_json::Map::new();
    for r in [
        Resource::Core,
        Resource::Search,
        Resource::Graphql,
        Resource::CodeSearch,
    ] {
        let limit = sh.limit_for(account, r);
        let b = *meter.bucket(account, r, limit, now);
        res.insert(
            r.as_str().to_string(),
            json!({"limit": b.limit, "used": b.used, "remaining": b.remaining(), "reset": b.reset}),
        );
    }
    let core = res.get("core").cloned().unwrap_or(Value::Null);
    Reply::json(json!({"resources": res, "rate": core}))
}

fn wants(ctx: &Ctx<'_>, what: &str) -> bool {
    ctx.accept.contains(&format!("application/vnd.github.{what}"))
        || ctx.accept.contains(&format!("vnd.github.v3.{what}"))
}

fn raw(text: String, content_type: &'static str, media: &'static str) -> Reply {
    Reply {
        status: StatusCode::OK,
        body: Payload::Raw(text.into_bytes(), content_type),
        last_modified: None,
        page: None,
        headers: Vec::new(),
        media,
    }
}

fn state_filter(ctx: &Ctx<'_>, open: bool) -> bool {
    match ctx.q("state").unwrap_or("open") {
        "closed" => !open,
        "all" => true,
        _ => open,
    }
}

fn repo_handle(w: &World, r: &Repo, sub: &RepoRoute<'_>, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let u = ctx.urls;
    let lp = |tail: &str| format!("/repositories/{}{tail}", r.id);
    let pull_of = |n: u64| r.item(n).filter(|i| i.is_pull()).ok_or(FakeError::NotFound);
    match sub {
        RepoRoute::Repo => Ok(Reply::json(render::repo(w, u, r)).modified(r.updated_at)),
        RepoRoute::Pulls => {
            let mut list: Vec<_> = r
                .items
                .iter()
                .filter(|i| i.is_pull() && state_filter(ctx, i.open))
                .collect();
            if ctx.q("direction") != Some("asc") {
                list.reverse();
            }
            let (idx, info) = paginate(ctx, &list, lp("/pulls"));
            let lm = idx.iter().map(|&i| list[i].updated_at).max();
            let body = idx.iter().map(|&i| render::pull(w, u, r, list[i], false)).collect();
            let mut rep = paged(Value::Array(body), info);
            rep.last_modified = lm;
            Ok(rep)
        }
        RepoRoute::Pull(n) => {
            let i = pull_of(*n)?;
            if wants(ctx, "diff") {
                let t = render::diff_text(&render::pull_files_data(w.seed, r, i));
                return Ok(raw(
                    t,
                    "application/vnd.github.diff; charset=utf-8",
                    "github.v3; param=diff; format=diff",
                )
                .modified(i.updated_at));
            }
            if wants(ctx, "patch") {
                let t = patch_text(w, r, &render::pull_commits_data(w.seed, r, i));
                return Ok(raw(
                    t,
                    "application/vnd.github.patch; charset=utf-8",
                    "github.v3; param=patch; format=patch",
                )
                .modified(i.updated_at));
            }
            Ok(Reply::json(render::pull(w, u, r, i, true)).modified(i.updated_at))
        }
        RepoRoute::PullFiles(n) => {
            let i = pull_of(*n)?;
            let head = match &i.kind {
                crate::world::ItemKind::Pull { head_sha, .. } => head_sha.as_str(),
                crate::world::ItemKind::Issue => "",
            };
            let all = render::files(u, r, head, &render::pull_files_data(w.seed, r, i), w.seed);
            let (idx, info) = paginate(ctx, &all, lp(&format!("/pulls/{n}/files")));
            Ok(paged(Value::Array(idx.iter().map(|&k| all[k].clone()).collect()), info).modified(i.updated_at))
        }
        RepoRoute::PullCommits(n) => {
            let i = pull_of(*n)?;
            let all = render::pull_commits_data(w.seed, r, i);
            let (idx, info) = paginate(ctx, &all, lp(&format!("/pulls/{n}/commits")));
            Ok(paged(
                Value::Array(idx.iter().map(|&k| render::commit(w, u, r, &all[k], false)).collect()),
                info,
            )
            .modified(i.updated_at))
        }
        RepoRoute::PullReviews(n) => {
            let i = pull_of(*n)?;
            let all = render::reviews(w, u, r, i);
            let (idx, info) = paginate(ctx, &all, lp(&format!("/pulls/{n}/reviews")));
            Ok(paged(Value::Array(idx.iter().map(|&k| all[k].clone()).collect()), info))
        }
        RepoRoute::Issues => {
            let mut list: Vec<_> = r.items.iter().filter(|i| state_filter(ctx, i.open)).collect();
            if let Some(l) = ctx.q("labels") {
                let want: Vec<&str> = l.split(',').filter(|s| !s.is_empty()).collect();
                list.retain(|i| want.iter().all(|w| i.labels.iter().any(|x| x == w)));
            }
            if ctx.q("direction") != Some("asc") {
                list.reverse();
            }
            let (idx, info) = paginate(ctx, &list, lp("/issues"));
            let lm = idx.iter().map(|&i| list[i].updated_at).max();
            let mut rep = paged(
                Value::Array(idx.iter().map(|&i| render::issue(w, u, r, list[i])).collect()),
                info,
            );
            rep.last_modified = lm;
            Ok(rep)
        }
        RepoRoute::Issue(n) => {
            let i = r.item(*n).ok_or(FakeError::NotFound)?;
            Ok(Reply::json(render::issue(w, u, r, i)).modified(i.updated_at))
        }
        RepoRoute::IssueComments(n) => {
            let i = r.item(*n).ok_or(FakeError::NotFound)?;
            let all = render::comments(w, u, r, i);
            let (idx, info) = paginate(ctx, &all, lp(&format!("/issues/{n}/comments")));
            Ok(paged(Value::Array(idx.iter().map(|&k| all[k].clone()).collect()), info).modified(i.updated_at))
        }
        RepoRoute::Commits => {
            let (idx, info) = paginate(ctx, &r.commits, lp("/commits"));
            let lm = idx.first().map(|&i| r.commits[i].date);
            let mut rep = paged(
                Value::Array(
                    idx.iter()
                        .map(|&i| render::commit(w, u, r, &r.commits[i], false))
                        .collect(),
                ),
                info,
            );
            rep.last_modified = lm;
            Ok(rep)
        }
        RepoRoute::Commit(reference) => {
            let c = find_commit(w, r, reference)
                .ok_or_else(|| FakeError::Unprocessable(format!("No commit found for SHA: {reference}")))?;
            if wants(ctx, "diff") {
                let t = render::diff_text(&render::commit_files_data(w.seed, &c.sha));
                return Ok(raw(
                    t,
                    "application/vnd.github.diff; charset=utf-8",
                    "github.v3; param=diff; format=diff",
                )
                .modified(c.date));
            }
            if wants(ctx, "patch") {
                let t = patch_text(w, r, std::slice::from_ref(&c));
                return Ok(raw(
                    t,
                    "application/vnd.github.patch; charset=utf-8",
                    "github.v3; param=patch; format=patch",
                )
                .modified(c.date));
            }
            Ok(Reply::json(render::commit(w, u, r, &c, true)).modified(c.date))
        }
        RepoRoute::CheckRuns(reference) => {
            let sha = r.resolve_ref(reference).ok_or(FakeError::NotFound)?;
            let all = render::check_runs(w, u, r, &sha);
            let (idx, info) = paginate(ctx, &all, lp(&format!("/commits/{sha}/check-runs")));
            Ok(paged(
                json!({"total_count": all.len(), "check_runs": idx.iter().map(|&k| all[k].clone()).collect::<Vec<_>>()}),
                info,
            ))
        }
        RepoRoute::Runs => {
            let list: Vec<_> = r
                .runs
                .iter()
                .filter(|x| {
                    ctx.q("status")
                        .is_none_or(|s| x.status == s || x.conclusion.as_deref() == Some(s))
                })
                .filter(|x| ctx.q("branch").is_none_or(|b| x.head_branch == b))
                .collect();
            let (idx, info) = paginate(ctx, &list, lp("/actions/runs"));
            Ok(paged(
                json!({"total_count": list.len(), "workflow_runs": idx.iter().map(|&k| render::run(w, u, r, list[k])).collect::<Vec<_>>()}),
                info,
            ))
        }
        RepoRoute::Run(id) => {
            let x = r.runs.iter().find(|x| x.id == *id).ok_or(FakeError::NotFound)?;
            Ok(Reply::json(render::run(w, u, r, x)).modified(x.updated_at))
        }
        RepoRoute::RunJobs(id) => {
            let x = r.runs.iter().find(|x| x.id == *id).ok_or(FakeError::NotFound)?;
            let jobs = render::jobs(u, r, x);
            let (idx, info) = paginate(ctx, &jobs, lp(&format!("/actions/runs/{id}/jobs")));
            Ok(paged(
                json!({"total_count": jobs.len(), "jobs": idx.iter().map(|&k| jobs[k].clone()).collect::<Vec<_>>()}),
                info,
            ))
        }
        RepoRoute::RunArtifacts(id) => {
            r.runs.iter().find(|x| x.id == *id).ok_or(FakeError::NotFound)?;
            Ok(Reply::json(json!({"total_count": 0, "artifacts": []})))
        }
        RepoRoute::Annotations => Ok(Reply::json(json!([]))),
        RepoRoute::Workflows => {
            let all = render::workflows(u, r);
            let (idx, info) = paginate(ctx, &all, lp("/actions/workflows"));
            Ok(paged(
                json!({"total_count": all.len(), "workflows": idx.iter().map(|&k| all[k].clone()).collect::<Vec<_>>()}),
                info,
            ))
        }
        RepoRoute::Workflow(key) => {
            let all = render::workflows(u, r);
            all.into_iter()
                .find(|wf| {
                    key.parse::<u64>().ok() == wf["id"].as_u64()
                        || wf["path"].as_str().is_some_and(|p| p.ends_with(&format!("/{key}")))
                })
                .map(Reply::json)
                .ok_or(FakeError::NotFound)
        }
        RepoRoute::Releases => {
            let (idx, info) = paginate(ctx, &r.releases, lp("/releases"));
            Ok(paged(
                Value::Array(idx.iter().map(|&k| render::release(w, u, r, &r.releases[k])).collect()),
                info,
            ))
        }
        RepoRoute::ReleaseLatest => {
            let x = r.releases.iter().find(|x| !x.prerelease).ok_or(FakeError::NotFound)?;
            Ok(Reply::json(render::release(w, u, r, x)).modified(x.published_at))
        }
        RepoRoute::ReleaseTag(tag) => {
            let x = r.releases.iter().find(|x| x.tag == *tag).ok_or(FakeError::NotFound)?;
            Ok(Reply::json(render::release(w, u, r, x)).modified(x.published_at))
        }
        RepoRoute::Release(id) => {
            let x = r.releases.iter().find(|x| x.id == *id).ok_or(FakeError::NotFound)?;
            Ok(Reply::json(render::release(w, u, r, x)).modified(x.published_at))
        }
        RepoRoute::Contents(path) => contents(w, r, path, ctx),
        RepoRoute::Readme => contents(w, r, "README.md", ctx),
        RepoRoute::Branches => {
            let mut all = vec![(
                r.default_branch.clone(),
                r.commits.first().map(|c| c.sha.clone()).unwrap_or_default(),
            )];
            for i in r.items.iter().filter(|i| i.open) {
                if let crate::world::ItemKind::Pull { head_ref, head_sha, .. } = &i.kind {
                    all.push((head_ref.clone(), head_sha.clone()));
                }
            }
            all.sort();
            let (idx, info) = paginate(ctx, &all, lp("/branches"));
            let full = r.full_name();
            let body = idx
                .iter()
                .map(|&k| {
                    let (name, sha) = &all[k];
                    json!({"name": name, "commit": {"sha": sha, "url": format!("{}/repos/{full}/commits/{sha}", u.api)},
                           "protected": *name == r.default_branch})
                })
                .collect();
            Ok(paged(Value::Array(body), info))
        }
        RepoRoute::Tags => {
            let (idx, info) = paginate(ctx, &r.releases, lp("/tags"));
            let full = r.full_name();
            let body = idx
                .iter()
                .map(|&k| {
                    let rel = &r.releases[k];
                    let sha = r.resolve_ref(&rel.tag).unwrap_or_default();
                    json!({
                        "name": rel.tag,
                        "commit": {"sha": sha, "url": format!("{}/repos/{full}/commits/{sha}", u.api)},
                        "zipball_url": format!("{}/repos/{full}/zipball/{}", u.api, rel.tag),
                        "tarball_url": format!("{}/repos/{full}/tarball/{}", u.api, rel.tag),
                        "node_id": render::node_id_of("Ref", rel.id)
                    })
                })
                .collect();
            Ok(paged(Value::Array(body), info))
        }
        RepoRoute::Labels => {
            let mut names: Vec<&str> = r
                .items
                .iter()
                .flat_map(|i| i.labels.iter().map(String::as_str))
                .collect();
            names.sort();
            names.dedup();
            let (idx, info) = paginate(ctx, &names, lp("/labels"));
            Ok(paged(
                Value::Array(idx.iter().map(|&k| render::label(u, r, names[k], w.seed)).collect()),
                info,
            ))
        }
        RepoRoute::Archive(fmt, reference) => {
            let reference = reference.unwrap_or(&r.default_branch);
            r.resolve_ref(reference).ok_or(FakeError::NotFound)?;
            let ext = if *fmt == "tarball" { "tar.gz" } else { "zip" };
            let loc = format!("{}/codeload/{}/{ext}/{reference}", u.web, r.full_name());
            let mut rep = Reply {
                body: Payload::Empty,
                ..Reply::json(Value::Null)
            }
            .status(StatusCode::FOUND);
            rep.headers.push(("location", loc));
            Ok(rep)
        }
        RepoRoute::Compare(spec) => compare(w, r, spec, ctx),
        RepoRoute::Unknown => Err(FakeError::NotFound),
    }
}

fn find_commit(w: &World, r: &Repo, reference: &str) -> Option<crate::world::Commit> {
    let sha = r.resolve_ref(reference)?;
    if let Some(c) = r.commits.iter().find(|c| c.sha == sha) {
        return Some(c.clone());
    }
    r.items
        .iter()
        .flat_map(|i| render::pull_commits_data(w.seed, r, i))
        .find(|c| c.sha == sha)
}

fn patch_text(w: &World, r: &Repo, commits: &[crate::world::Commit]) -> String {
    let mut out = String::new();
    for c in commits {
        let files = render::commit_files_data(w.seed, &c.sha);
        out.push_str(&format!(
            "From {} Mon Sep 17 00:00:00 2001\nFrom: {} <{}@users.noreply.fake-github>\nDate: {}\nSubject: [PATCH] {}\n\n---\n{}\n",
            c.sha,
            c.author,
            c.author,
            render::ts(c.date),
            c.message,
            render::diff_text(&files)
        ));
    }
    let _ = r;
    out
}

fn contents(w: &World, r: &Repo, path: &str, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let git_ref = ctx.q("ref").unwrap_or(&r.default_branch).to_string();
    r.resolve_ref(&git_ref).ok_or(FakeError::NotFound)?;
    let path = path.trim_matches('/');
    if let Some((p, tpl)) = FILES.iter().find(|(p, _)| *p == path) {
        let text = render::file_content(r, tpl);
        if wants(ctx, "raw") {
            return Ok(raw(
                text,
                "application/vnd.github.raw; charset=utf-8",
                "github.v3; param=raw",
            ));
        }
        return Ok(Reply::json(render::content_entry(
            w,
            ctx.urls,
            r,
            p,
            false,
            Some(&text),
            &git_ref,
        )));
    }
    // A directory: its direct children.
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let mut children: Vec<(String, bool)> = Vec::new();
    for (p, _) in FILES {
        if let Some(rest) = p.strip_prefix(&prefix) {
            let (name, is_dir) = match rest.split_once('/') {
                Some((d, _)) => (d, true),
                None => (rest, false),
            };
            let full = format!("{prefix}{name}");
            if !children.iter().any(|(c, _)| *c == full) {
                children.push((full, is_dir));
            }
        }
    }
    if children.is_empty() {
        return Err(FakeError::NotFound);
    }
    children.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let body = children
        .iter()
        .map(|(p, d)| {
            let content = if *d { None } else { None::<&str> };
            let mut v = render::content_entry(w, ctx.urls, r, p, *d, content, &git_ref);
            if !d && let Some((_, tpl)) = FILES.iter().find(|(x, _)| x == p) {
                v["size"] = json!(render::file_content(r, tpl).len());
            }
            v
        })
        .collect();
    Ok(Reply::json(Value::Array(body)))
}

fn compare(w: &World, r: &Repo, spec: &str, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let (base, head) = spec.split_once("...").ok_or(FakeError::NotFound)?;
    let bsha = r.resolve_ref(base).ok_or(FakeError::NotFound)?;
    let hsha = r.resolve_ref(head).ok_or(FakeError::NotFound)?;
    let pos = |s: &str| r.commits.iter().position(|c| c.sha == s);
    // commits are newest first: the ones after base up to head, oldest first.
    let between: Vec<crate::world::Commit> = match (pos(&bsha), pos(&hsha)) {
        (Some(b), Some(h)) if h <= b => r.commits[h..b].iter().rev().cloned().collect(),
        _ => Vec::new(),
    };
    let status = if bsha == hsha {
        "identical"
    } else if between.is_empty() {
        "behind"
    } else {
        "ahead"
    };
    let mut files = Vec::new();
    for c in &between {
        files.extend(render::commit_files_data(w.seed, &c.sha));
    }
    if wants(ctx, "diff") {
        return Ok(raw(
            render::diff_text(&files),
            "application/vnd.github.diff; charset=utf-8",
            "github.v3; param=diff; format=diff",
        ));
    }
    let u = ctx.urls;
    let full = r.full_name();
    let base_commit = r.commits.iter().find(|c| c.sha == bsha).cloned();
    Ok(Reply::json(json!({
        "url": format!("{}/repos/{full}/compare/{spec}", u.api),
        "html_url": format!("{}/{full}/compare/{spec}", u.web),
        "permalink_url": format!("{}/{full}/compare/{}...{}", u.web, &bsha[..7], &hsha[..7]),
        "diff_url": format!("{}/{full}/compare/{spec}.diff", u.web),
        "patch_url": format!("{}/{full}/compare/{spec}.patch", u.web),
        "base_commit": base_commit.as_ref().map(|c| render::commit(w, u, r, c, false)),
        "merge_base_commit": base_commit.as_ref().map(|c| render::commit(w, u, r, c, false)),
        "status": status,
        "ahead_by": between.len(),
        "behind_by": 0,
        "total_commits": between.len(),
        "commits": between.iter().map(|c| render::commit(w, u, r, c, false)).collect::<Vec<_>>(),
        "files": render::files(u, r, &hsha, &files, w.seed)
    })))
}

/// `GET /search/issues`: a subset of GitHub's qualifiers (`repo:`, `is:`, `state:`, `author:`,
/// `label:`) plus free words matched against titles.
fn search_issues(w: &World, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let q = ctx.q("q").unwrap_or("").to_string();
    if q.trim().is_empty() {
        return Err(FakeError::Unprocessable("Validation Failed".into()));
    }
    let found = search_items(w, ctx.caller, &q);
    let hits: Vec<(&Repo, &crate::world::Item)> = found
        .iter()
        .filter_map(|&(ri, n)| w.repos[ri].item(n).map(|i| (&w.repos[ri], i)))
        .collect();
    let (idx, info) = paginate(ctx, &hits, "/search/issues".into());
    let items: Vec<Value> = idx
        .iter()
        .map(|&k| {
            let (r, i) = hits[k];
            let mut v = render::issue(w, ctx.urls, r, i);
            v["score"] = json!(1.0);
            v
        })
        .collect();
    Ok(paged(
        json!({"total_count": hits.len(), "incomplete_results": false, "search_type": "lexical", "items": items}),
        info,
    ))
}

/// Issues and pulls matching a search query (a subset of GitHub's qualifiers: `repo:`,
/// `is:`/`type:` pr|issue, `is:`/`state:` open|closed, `author:`, `label:`, and words in titles),
/// newest update first, as (repo index, number).
pub fn search_items(w: &World, caller: &Caller, q: &str) -> Vec<(usize, u64)> {
    let mut repo_filter: Vec<String> = Vec::new();
    let mut kind: Option<bool> = None;
    let mut open: Option<bool> = None;
    let mut author: Option<String> = None;
    let mut labels: Vec<String> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    for tok in q.split_whitespace() {
        match tok.split_once(':') {
            Some(("repo", v)) => repo_filter.push(v.to_ascii_lowercase()),
            Some(("is" | "type", "pr" | "pull-request")) => kind = Some(true),
            Some(("is" | "type", "issue")) => kind = Some(false),
            Some(("is" | "state", "open")) => open = Some(true),
            Some(("is" | "state", "closed")) => open = Some(false),
            Some(("author", v)) => author = Some(v.to_ascii_lowercase()),
            Some(("label", v)) => labels.push(v.trim_matches('"').to_string()),
            Some(_) => {}
            None => words.push(tok.to_ascii_lowercase()),
        }
    }
    let mut hits = Vec::new();
    for (ri, r) in w.repos.iter().enumerate() {
        if !caller.can_read_repo(w, r) {
            continue;
        }
        if !repo_filter.is_empty() && !repo_filter.contains(&r.full_name().to_ascii_lowercase()) {
            continue;
        }
        for i in &r.items {
            if kind.is_some_and(|k| k != i.is_pull())
                || open.is_some_and(|o| o != i.open)
                || author.as_ref().is_some_and(|a| *a != i.author.to_ascii_lowercase())
                || !labels.iter().all(|l| i.labels.contains(l))
                || !words.iter().all(|wd| i.title.to_ascii_lowercase().contains(wd))
            {
                continue;
            }
            hits.push((ri, i.number, i.updated_at));
        }
    }
    hits.sort_by_key(|h| std::cmp::Reverse(h.2));
    hits.into_iter().map(|(r, n, _)| (r, n)).collect()
}
