//! Pull requests: the list, one pull (JSON, diff or patch), its files, commits and reviews.

use serde_json::Value;

use super::{Ctx, Reply, commits, repo_link};
use crate::derived;
use crate::error::FakeError;
use crate::render;
use crate::world::{Item, ItemKind, Repo, World};

fn find_pull(r: &Repo, n: u64) -> Result<&Item, FakeError> {
    r.item(n).filter(|i| i.is_pull()).ok_or(FakeError::NotFound)
}

/// `GET /repos/{owner}/{repo}/pulls`: filtered by `state`, newest first unless `direction=asc`.
pub fn list(w: &World, r: &Repo, ctx: &Ctx<'_>) -> Reply {
    let mut list: Vec<_> = r
        .items
        .iter()
        .filter(|i| i.is_pull() && ctx.state_matches(i.open))
        .collect();
    if ctx.q("direction") != Some("asc") {
        list.reverse();
    }
    let (range, info) = ctx.paginate(list.len(), repo_link(r, "/pulls"));
    let last_modified = range.clone().map(|i| list[i].updated_at).max();
    let body = range.map(|i| render::pull(w, ctx.urls, r, list[i], false)).collect();
    Reply::page(Value::Array(body), info).modified_at(last_modified)
}

/// `GET /repos/{owner}/{repo}/pulls/{n}`, as JSON, a diff or a patch per `Accept`.
pub fn get(w: &World, r: &Repo, n: u64, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let i = find_pull(r, n)?;
    let reply = if ctx.wants("diff") {
        Reply::diff(render::diff_text(&derived::pull_files(w.seed, r, i)))
    } else if ctx.wants("patch") {
        Reply::patch(commits::patch_text(w, &derived::pull_commits(w.seed, r, i)))
    } else {
        Reply::json(render::pull(w, ctx.urls, r, i, true))
    };
    Ok(reply.modified(i.updated_at))
}

/// `GET /repos/{owner}/{repo}/pulls/{n}/files`.
pub fn files(w: &World, r: &Repo, n: u64, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let i = find_pull(r, n)?;
    let head = match &i.kind {
        ItemKind::Pull { head_sha, .. } => head_sha.as_str(),
        ItemKind::Issue => "",
    };
    let all = render::files(ctx.urls, r, head, &derived::pull_files(w.seed, r, i), w.seed);
    Ok(ctx
        .page(&all, repo_link(r, &format!("/pulls/{n}/files")), Value::clone)
        .modified(i.updated_at))
}

/// `GET /repos/{owner}/{repo}/pulls/{n}/commits`.
pub fn commits(w: &World, r: &Repo, n: u64, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let i = find_pull(r, n)?;
    let all = derived::pull_commits(w.seed, r, i);
    Ok(ctx
        .page(&all, repo_link(r, &format!("/pulls/{n}/commits")), |c| {
            render::commit(w, ctx.urls, r, c, false)
        })
        .modified(i.updated_at))
}

/// `GET /repos/{owner}/{repo}/pulls/{n}/reviews`.
pub fn reviews(w: &World, r: &Repo, n: u64, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let i = find_pull(r, n)?;
    let all = render::reviews(w, ctx.urls, r, i);
    Ok(ctx.page(&all, repo_link(r, &format!("/pulls/{n}/reviews")), Value::clone))
}
