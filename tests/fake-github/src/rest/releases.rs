//! Releases: the list, the latest, by tag and by id.

use super::{Ctx, Reply, repo_link};
use crate::error::FakeError;
use crate::render;
use crate::world::{Release, Repo, World};

/// `GET /repos/{owner}/{repo}/releases`.
pub fn list(w: &World, r: &Repo, ctx: &Ctx<'_>) -> Reply {
    ctx.page(&r.releases, repo_link(r, "/releases"), |x| {
        render::release(w, ctx.urls, r, x)
    })
}

/// One release, or 404 when `pick` finds none.
pub fn one(w: &World, r: &Repo, ctx: &Ctx<'_>, pick: impl Fn(&Release) -> bool) -> Result<Reply, FakeError> {
    let x = r.releases.iter().find(|x| pick(x)).ok_or(FakeError::NotFound)?;
    Ok(Reply::json(render::release(w, ctx.urls, r, x)).modified(x.published_at))
}
