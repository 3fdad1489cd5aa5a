//! The API root, `/meta` and `/rate_limit`.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Ctx, Reply};
use crate::render::Urls;
use crate::state::{Resource, Shared};

/// `GET /`: the URL templates of the API.
pub fn root(u: &Urls) -> Reply {
    Reply::json(json!({
        "current_user_url": format!("{}/user", u.api),
        "authorizations_url": format!("{}/authorizations", u.web),
        "emails_url": format!("{}/user/emails", u.api),
        "organization_url": format!("{}/orgs/{{org}}", u.api),
        "rate_limit_url": format!("{}/rate_limit", u.api),
        "repository_url": format!("{}/repos/{{owner}}/{{repo}}", u.api),
        "user_url": format!("{}/users/{{user}}", u.api),
        "issue_search_url": format!("{}/search/issues?q={{query}}{{&page,per_page,sort,order}}", u.api)
    }))
}

/// `GET /meta`: the host's addresses (all loopback).
pub fn meta() -> Reply {
    Reply::json(json!({
        "verifiable_password_authentication": false,
        "installed_version": "fake-github",
        "hooks": ["127.0.0.1/32"], "web": ["127.0.0.1/32"], "api": ["127.0.0.1/32"], "git": ["127.0.0.1/32"],
        "packages": [], "pages": [], "importer": [], "actions": [], "dependabot": [],
        "domains": {"website": [], "codespaces": [], "copilot": [], "packages": []}
    }))
}

/// `GET /rate_limit`: the caller's buckets as they are after this (free) call.
pub fn rate_limit(sh: &Shared, ctx: &Ctx<'_>) -> Reply {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let account = ctx.caller.account(ctx.ip);
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
