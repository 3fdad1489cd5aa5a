//! REST routes. [`route`] parses a path into a [`Route`]; [`handle`] dispatches it to the module
//! of its area, which answers a [`Reply`] from the world: `meta` (root, `/meta`, `/rate_limit`),
//! `users_orgs`, `repos` (lookup, renames, branches, tags), `pulls`, `issues` (and labels),
//! `commits` (and check runs, compare), `actions`, `releases`, `contents`, `search`.
//! [`Ctx`] carries the request's inputs and GitHub's paging and media-type conventions.

mod actions;
mod commits;
mod contents;
mod ctx;
mod issues;
mod meta;
mod pulls;
mod releases;
mod reply;
mod repos;
mod route;
mod search;
mod users_orgs;

pub use ctx::Ctx;
pub use reply::{PageInfo, Payload, Reply};
pub use route::{Route, parse};
pub use search::search_items;

use route::RepoRoute;

use crate::error::FakeError;
use crate::state::Shared;
use crate::world::{Repo, World};

/// The path `Link` headers of a repo list point to: GitHub uses `/repositories/{id}/...`.
fn repo_link(r: &Repo, tail: &str) -> String {
    format!("/repositories/{}{tail}", r.id)
}

/// Answers a parsed route.
pub fn handle(sh: &Shared, route: &Route<'_>, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let w = sh.world();
    match route {
        Route::RateLimit => Ok(meta::rate_limit(sh, ctx)),
        Route::Root => Ok(meta::root(ctx.urls)),
        Route::Meta => Ok(meta::meta()),
        Route::User => users_orgs::authenticated_user(&w, ctx),
        Route::UserOrgs => users_orgs::user_orgs(&w, ctx),
        Route::UserRepos => users_orgs::user_repos(&w, ctx),
        Route::UserEmails => users_orgs::user_emails(ctx),
        Route::UserMembership(org) => users_orgs::user_membership(&w, ctx, org),
        Route::Org(org) => users_orgs::org(&w, ctx, org),
        Route::OrgMember(org, user) => users_orgs::org_member(&w, org, user),
        Route::OrgMembers(org) => users_orgs::org_members(&w, ctx, org),
        Route::OrgMembership(org, user) => users_orgs::org_membership(&w, ctx, org, user),
        Route::OrgRepos(org) => users_orgs::org_repos(&w, ctx, org),
        Route::Users(login) => users_orgs::user_or_org(&w, ctx, login),
        Route::SearchIssues => search::issues(&w, ctx),
        Route::SearchCode => Ok(search::code()),
        Route::InstallationRepos => repos::installation_repos(&w, ctx),
        Route::Repo(at, sub) => match repos::lookup(&w, at, ctx)? {
            repos::Lookup::Found(r) => handle_repo(&w, r, sub, ctx),
            repos::Lookup::Renamed(r) => Ok(repos::moved(ctx, r)),
        },
        Route::Unknown => Err(FakeError::NotFound),
    }
}

/// Answers a route under a repo the caller can read.
fn handle_repo(w: &World, r: &Repo, sub: &RepoRoute<'_>, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    match sub {
        RepoRoute::Repo => Ok(repos::repo(w, r, ctx)),
        RepoRoute::Branches => Ok(repos::branches(r, ctx)),
        RepoRoute::Tags => Ok(repos::tags(r, ctx)),
        RepoRoute::Pulls => Ok(pulls::list(w, r, ctx)),
        RepoRoute::Pull(n) => pulls::get(w, r, *n, ctx),
        RepoRoute::PullFiles(n) => pulls::files(w, r, *n, ctx),
        RepoRoute::PullCommits(n) => pulls::commits(w, r, *n, ctx),
        RepoRoute::PullReviews(n) => pulls::reviews(w, r, *n, ctx),
        RepoRoute::Issues => Ok(issues::list(w, r, ctx)),
        RepoRoute::Issue(n) => issues::get(w, r, *n, ctx),
        RepoRoute::IssueComments(n) => issues::comments(w, r, *n, ctx),
        RepoRoute::Labels => Ok(issues::labels(w, r, ctx)),
        RepoRoute::Commits => Ok(commits::list(w, r, ctx)),
        RepoRoute::Commit(reference) => commits::get(w, r, reference, ctx),
        RepoRoute::CheckRuns(reference) => commits::check_runs(w, r, reference, ctx),
        RepoRoute::Annotations => Ok(commits::annotations()),
        RepoRoute::Compare(spec) => commits::compare(w, r, spec, ctx),
        RepoRoute::Runs => Ok(actions::runs(w, r, ctx)),
        RepoRoute::Run(id) => actions::run(w, r, *id, ctx),
        RepoRoute::RunJobs(id) => actions::run_jobs(r, *id, ctx),
        RepoRoute::RunArtifacts(id) => actions::run_artifacts(r, *id),
        RepoRoute::RunLogs(id) => actions::run_logs(r, *id),
        RepoRoute::Workflows => Ok(actions::workflows(r, ctx)),
        RepoRoute::Workflow(key) => actions::workflow(r, key, ctx),
        RepoRoute::Releases => Ok(releases::list(w, r, ctx)),
        RepoRoute::ReleaseLatest => releases::one(w, r, ctx, |x| !x.prerelease),
        RepoRoute::ReleaseTag(tag) => releases::one(w, r, ctx, |x| x.tag == *tag),
        RepoRoute::Release(id) => releases::one(w, r, ctx, |x| x.id == *id),
        RepoRoute::Contents(path) => contents::get(w, r, path, ctx),
        RepoRoute::Readme => contents::get(w, r, "README.md", ctx),
        RepoRoute::Archive(format, reference) => contents::archive(r, format, *reference, ctx),
        RepoRoute::Unknown => Err(FakeError::NotFound),
    }
}
