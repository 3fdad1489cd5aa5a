//! Issues (pulls included, as on GitHub), their comments, and the repo's labels.

use serde_json::Value;

use super::{Ctx, Reply, repo_link};
use crate::error::FakeError;
use crate::render;
use crate::world::{Repo, World};

/// `GET /repos/{owner}/{repo}/issues`: filtered by `state` and `labels`, newest first unless
/// `direction=asc`.
pub fn list(w: &World, r: &Repo, ctx: &Ctx<'_>) -> Reply {
    let mut list: Vec<_> = r.items.iter().filter(|i| ctx.state_matches(i.open)).collect();
    if let Some(l) = ctx.q("labels") {
        let want: Vec<&str> = l.split(',').filter(|s| !s.is_empty()).collect();
        list.retain(|i| want.iter().all(|w| i.labels.iter().any(|x| x == w)));
    }
    if ctx.q("direction") != Some("asc") {
        list.reverse();
    }
    let (range, info) = ctx.paginate(list.len(), repo_link(r, "/issues"));
    let last_modified = range.clone().map(|i| list[i].updated_at).max();
    let body = range.map(|i| render::issue(w, ctx.urls, r, list[i])).collect();
    Reply::page(Value::Array(body), info).modified_at(last_modified)
}

/// `GET /repos/{owner}/{repo}/issues/{n}`.
pub fn get(w: &World, r: &Repo, n: u64, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let i = r.item(n).ok_or(FakeError::NotFound)?;
    Ok(Reply::json(render::issue(w, ctx.urls, r, i)).modified(i.updated_at))
}

/// `GET /repos/{owner}/{repo}/issues/{n}/comments`.
pub fn comments(w: &World, r: &Repo, n: u64, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let i = r.item(n).ok_or(FakeError::NotFound)?;
    let all = render::comments(w, ctx.urls, r, i);
    Ok(ctx
        .page(&all, repo_link(r, &format!("/issues/{n}/comments")), Value::clone)
        .modified(i.updated_at))
}

/// `GET /repos/{owner}/{repo}/labels`: every label an item carries.
pub fn labels(w: &World, r: &Repo, ctx: &Ctx<'_>) -> Reply {
    let mut names: Vec<&str> = r
        .items
        .iter()
        .flat_map(|i| i.labels.iter().map(String::as_str))
        .collect();
    names.sort();
    names.dedup();
    ctx.page(&names, repo_link(r, "/labels"), |name| {
        render::label(ctx.urls, r, name, w.seed)
    })
}
