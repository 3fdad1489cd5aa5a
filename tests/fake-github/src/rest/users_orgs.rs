//! Users and organisations: `/user...` (the authenticated user), `/users/{username}` and
//! `/orgs/{org}...`.

use axum::http::StatusCode;
use serde_json::json;

use super::{Ctx, Reply};
use crate::error::FakeError;
use crate::render;
use crate::state::{TokenInfo, TokenKind};
use crate::world::{Org, Repo, World};

/// The token of a signed-in user: 401 without one, 403 for an installation token.
fn require_user<'a>(ctx: &Ctx<'a>) -> Result<&'a TokenInfo, FakeError> {
    match &ctx.caller.token {
        None => Err(FakeError::Unauthorized("Requires authentication".into())),
        Some(t) if t.kind == TokenKind::Installation => {
            Err(FakeError::Forbidden("Resource not accessible by integration".into()))
        }
        Some(t) => Ok(t),
    }
}

fn find_org<'w>(w: &'w World, login: &str) -> Result<&'w Org, FakeError> {
    w.org(login).ok_or(FakeError::NotFound)
}

/// `GET /user`.
pub fn authenticated_user(w: &World, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let t = require_user(ctx)?;
    Ok(Reply::json(render::private_user(w, ctx.urls, &t.login, t.account_id)))
}

/// `GET /user/orgs`.
pub fn user_orgs(w: &World, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let t = require_user(ctx)?;
    let me = t.login.to_ascii_lowercase();
    let mut orgs: Vec<_> = w.orgs.values().filter(|o| o.members.contains_key(&me)).collect();
    orgs.sort_by(|a, b| a.login.cmp(&b.login));
    Ok(ctx.page(&orgs, "/user/orgs".into(), |o| render::org_simple(ctx.urls, o)))
}

/// `GET /user/repos`: the user's own repos and the private ones it can read.
pub fn user_repos(w: &World, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let t = require_user(ctx)?;
    let repos: Vec<&Repo> = w
        .repos
        .iter()
        .filter(|r| r.owner.eq_ignore_ascii_case(&t.login) || (r.private && w.can_read(Some(&t.login), r)))
        .collect();
    Ok(ctx.page(&repos, "/user/repos".into(), |r| render::repo(w, ctx.urls, r)))
}

/// `GET /user/emails`.
pub fn user_emails(ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let t = require_user(ctx)?;
    Ok(Reply::json(json!([{
        "email": format!("{}@users.noreply.fake-github", t.login.to_ascii_lowercase()),
        "primary": true,
        "verified": true,
        "visibility": "private"
    }])))
}

/// `GET /user/memberships/orgs/{org}`.
pub fn user_membership(w: &World, ctx: &Ctx<'_>, org: &str) -> Result<Reply, FakeError> {
    let t = require_user(ctx)?;
    let o = find_org(w, org)?;
    let role = o
        .members
        .get(&t.login.to_ascii_lowercase())
        .ok_or(FakeError::NotFound)?;
    let u = ctx.urls;
    Ok(Reply::json(json!({
        "url": format!("{}/orgs/{}/memberships/{}", u.api, o.login, t.login),
        "state": "active",
        "role": role.as_str(),
        "organization_url": format!("{}/orgs/{}", u.api, o.login),
        "organization": render::org_simple(u, o),
        "user": render::user(u, &t.login, t.account_id)
    })))
}

/// `GET /orgs/{org}`.
pub fn org(w: &World, ctx: &Ctx<'_>, org: &str) -> Result<Reply, FakeError> {
    let o = find_org(w, org)?;
    Ok(Reply::json(render::org_full(
        ctx.urls,
        o,
        w.public_repo_count(&o.login),
    )))
}

/// `GET /orgs/{org}/members/{username}`: 204 for a member, 404 otherwise.
pub fn org_member(w: &World, org: &str, user: &str) -> Result<Reply, FakeError> {
    let o = find_org(w, org)?;
    if o.members.contains_key(&user.to_ascii_lowercase()) {
        Ok(Reply::empty(StatusCode::NO_CONTENT))
    } else {
        Err(FakeError::NotFound)
    }
}

/// `GET /orgs/{org}/members`.
pub fn org_members(w: &World, ctx: &Ctx<'_>, org: &str) -> Result<Reply, FakeError> {
    let o = find_org(w, org)?;
    let members: Vec<&String> = o.members.keys().collect();
    Ok(ctx.page(&members, format!("/orgs/{}/members", o.login), |m| {
        render::user_by_login(w, ctx.urls, m)
    }))
}

/// `GET /orgs/{org}/memberships/{username}`.
pub fn org_membership(w: &World, ctx: &Ctx<'_>, org: &str, user: &str) -> Result<Reply, FakeError> {
    let o = find_org(w, org)?;
    let role = o.members.get(&user.to_ascii_lowercase()).ok_or(FakeError::NotFound)?;
    let u = ctx.urls;
    Ok(Reply::json(json!({
        "url": format!("{}/orgs/{}/memberships/{}", u.api, o.login, user),
        "state": "active",
        "role": role.as_str(),
        "organization_url": format!("{}/orgs/{}", u.api, o.login),
        "organization": render::org_simple(u, o),
        "user": render::user_by_login(w, u, user)
    })))
}

/// `GET /orgs/{org}/repos`: the ones the caller can read.
pub fn org_repos(w: &World, ctx: &Ctx<'_>, org: &str) -> Result<Reply, FakeError> {
    let o = find_org(w, org)?;
    let repos: Vec<&Repo> = w
        .repos
        .iter()
        .filter(|r| r.owner.eq_ignore_ascii_case(&o.login) && ctx.caller.can_read_repo(w, r))
        .collect();
    Ok(ctx.page(&repos, format!("/orgs/{}/repos", o.login), |r| {
        render::repo(w, ctx.urls, r)
    }))
}

/// `GET /users/{username}`: an organisation answers in its org shape, as on GitHub.
pub fn user_or_org(w: &World, ctx: &Ctx<'_>, login: &str) -> Result<Reply, FakeError> {
    if w.org(login).is_some() {
        return org(w, ctx, login);
    }
    let user = w.user(login).ok_or(FakeError::NotFound)?;
    Ok(Reply::json(render::public_user(w, ctx.urls, &user.login, user.id)))
}
