//! Repositories: finding the one a path names (with GitHub's 301 for a renamed repo and 404 for
//! one the caller cannot see), the repo itself, its branches and tags, and
//! `/installation/repositories`.

use axum::http::StatusCode;
use serde_json::json;

use super::route::RepoRef;
use super::{Ctx, Reply};
use crate::error::FakeError;
use crate::render;
use crate::state::TokenKind;
use crate::world::{ItemKind, Repo, World};

/// What a repo path leads to.
pub enum Lookup<'w> {
    /// The repo, readable by the caller.
    Found(&'w Repo),
    /// The current home of a renamed repo the caller can read.
    Renamed(&'w Repo),
}

/// Finds the repo a path names; 404 when there is none or the caller cannot read it.
pub fn lookup<'w>(w: &'w World, at: &RepoRef<'_>, ctx: &Ctx<'_>) -> Result<Lookup<'w>, FakeError> {
    let idx = match at {
        RepoRef::Name(o, n) => match w.repo_index(o, n) {
            Some(i) => i,
            None => {
                if let Some(i) = w.renamed_index(o, n)
                    && ctx.caller.can_read_repo(w, &w.repos[i])
                {
                    return Ok(Lookup::Renamed(&w.repos[i]));
                }
                return Err(FakeError::NotFound);
            }
        },
        RepoRef::Id(id) => w.repo_index_by_id(*id).ok_or(FakeError::NotFound)?,
    };
    let repo = &w.repos[idx];
    if !ctx.caller.can_read_repo(w, repo) {
        return Err(FakeError::NotFound);
    }
    Ok(Lookup::Found(repo))
}

/// The 301 for any path under a renamed repo, pointing at `/repositories/{id}`.
pub fn moved(ctx: &Ctx<'_>, r: &Repo) -> Reply {
    let url = format!("{}/repositories/{}", ctx.urls.api, r.id);
    Reply::json(json!({"message": "Moved Permanently", "url": url, "documentation_url": crate::error::DOCS}))
        .status(StatusCode::MOVED_PERMANENTLY)
        .header("location", url)
}

/// `GET /repos/{owner}/{repo}`.
pub fn repo(w: &World, r: &Repo, ctx: &Ctx<'_>) -> Reply {
    Reply::json(render::repo(w, ctx.urls, r)).modified(r.updated_at)
}

/// `GET /repos/{owner}/{repo}/branches`: the default branch and the head of every open pull.
pub fn branches(r: &Repo, ctx: &Ctx<'_>) -> Reply {
    let mut all = vec![(
        r.default_branch.clone(),
        r.commits.first().map(|c| c.sha.clone()).unwrap_or_default(),
    )];
    for i in r.items.iter().filter(|i| i.open) {
        if let ItemKind::Pull { head_ref, head_sha, .. } = &i.kind {
            all.push((head_ref.clone(), head_sha.clone()));
        }
    }
    all.sort();
    let u = ctx.urls;
    let full = r.full_name();
    ctx.page(&all, super::repo_link(r, "/branches"), |(name, sha)| {
        json!({"name": name, "commit": {"sha": sha, "url": format!("{}/repos/{full}/commits/{sha}", u.api)},
               "protected": *name == r.default_branch})
    })
}

/// `GET /repos/{owner}/{repo}/tags`: one tag per release.
pub fn tags(r: &Repo, ctx: &Ctx<'_>) -> Reply {
    let u = ctx.urls;
    let full = r.full_name();
    ctx.page(&r.releases, super::repo_link(r, "/tags"), |rel| {
        let sha = r.resolve_ref(&rel.tag).unwrap_or_default();
        json!({
            "name": rel.tag,
            "commit": {"sha": sha, "url": format!("{}/repos/{full}/commits/{sha}", u.api)},
            "zipball_url": format!("{}/repos/{full}/zipball/{}", u.api, rel.tag),
            "tarball_url": format!("{}/repos/{full}/tarball/{}", u.api, rel.tag),
            "node_id": render::node_id("Ref", rel.id)
        })
    })
}

/// `GET /installation/repositories`: every repo of the installation's account.
pub fn installation_repos(w: &World, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
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
    let (range, info) = ctx.paginate(repos.len(), "/installation/repositories".into());
    Ok(Reply::page(
        json!({"total_count": repos.len(), "repository_selection": "all",
               "repositories": range.map(|i| render::repo(w, ctx.urls, repos[i])).collect::<Vec<_>>()}),
        info,
    ))
}
