//! Commits: the history, one commit (JSON, diff or patch), its check runs, and compare.

use serde_json::{Value, json};

use super::{Ctx, Reply, repo_link};
use crate::derived;
use crate::error::FakeError;
use crate::render;
use crate::world::{Commit, Repo, World};

/// `GET /repos/{owner}/{repo}/commits`: the default branch, newest first.
pub fn list(w: &World, r: &Repo, ctx: &Ctx<'_>) -> Reply {
    let (range, info) = ctx.paginate(r.commits.len(), repo_link(r, "/commits"));
    let last_modified = range.clone().next().map(|i| r.commits[i].date);
    let body = range
        .map(|i| render::commit(w, ctx.urls, r, &r.commits[i], false))
        .collect();
    Reply::page(Value::Array(body), info).modified_at(last_modified)
}

/// `GET /repos/{owner}/{repo}/commits/{ref}`, as JSON, a diff or a patch per `Accept`.
pub fn get(w: &World, r: &Repo, reference: &str, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let c = derived::find_commit(w, r, reference)
        .ok_or_else(|| FakeError::Unprocessable(format!("No commit found for SHA: {reference}")))?;
    let reply = if ctx.wants("diff") {
        Reply::diff(render::diff_text(&derived::commit_files(w.seed, &c.sha)))
    } else if ctx.wants("patch") {
        Reply::patch(patch_text(w, std::slice::from_ref(&c)))
    } else {
        Reply::json(render::commit(w, ctx.urls, r, &c, true))
    };
    Ok(reply.modified(c.date))
}

/// Commits as a mail-formatted patch series (`application/vnd.github.patch`).
pub fn patch_text(w: &World, commits: &[Commit]) -> String {
    let mut out = String::new();
    for c in commits {
        let files = derived::commit_files(w.seed, &c.sha);
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
    out
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs`.
pub fn check_runs(w: &World, r: &Repo, reference: &str, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let sha = r.resolve_ref(reference).ok_or(FakeError::NotFound)?;
    let all = render::check_runs(w, ctx.urls, r, &sha);
    let (range, info) = ctx.paginate(all.len(), repo_link(r, &format!("/commits/{sha}/check-runs")));
    Ok(Reply::page(
        json!({"total_count": all.len(), "check_runs": range.map(|k| all[k].clone()).collect::<Vec<_>>()}),
        info,
    ))
}

/// `GET /repos/{owner}/{repo}/check-runs/{id}/annotations`: there are never any.
pub fn annotations() -> Reply {
    Reply::json(json!([]))
}

/// `GET /repos/{owner}/{repo}/compare/{base}...{head}`, as JSON or a diff.
pub fn compare(w: &World, r: &Repo, spec: &str, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let (base, head) = spec.split_once("...").ok_or(FakeError::NotFound)?;
    let bsha = r.resolve_ref(base).ok_or(FakeError::NotFound)?;
    let hsha = r.resolve_ref(head).ok_or(FakeError::NotFound)?;
    let pos = |s: &str| r.commits.iter().position(|c| c.sha == s);
    // commits are newest first: the ones after base up to head, oldest first.
    let between: Vec<Commit> = match (pos(&bsha), pos(&hsha)) {
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
    let files: Vec<_> = between
        .iter()
        .flat_map(|c| derived::commit_files(w.seed, &c.sha))
        .collect();
    if ctx.wants("diff") {
        return Ok(Reply::diff(render::diff_text(&files)));
    }
    let u = ctx.urls;
    let full = r.full_name();
    let base_commit = r
        .commits
        .iter()
        .find(|c| c.sha == bsha)
        .map(|c| render::commit(w, u, r, c, false));
    Ok(Reply::json(json!({
        "url": format!("{}/repos/{full}/compare/{spec}", u.api),
        "html_url": format!("{}/{full}/compare/{spec}", u.web),
        "permalink_url": format!("{}/{full}/compare/{}...{}", u.web, &bsha[..7], &hsha[..7]),
        "diff_url": format!("{}/{full}/compare/{spec}.diff", u.web),
        "patch_url": format!("{}/{full}/compare/{spec}.patch", u.web),
        "base_commit": base_commit,
        "merge_base_commit": base_commit,
        "status": status,
        "ahead_by": between.len(),
        "behind_by": 0,
        "total_commits": between.len(),
        "commits": between.iter().map(|c| render::commit(w, u, r, c, false)).collect::<Vec<_>>(),
        "files": render::files(u, r, &hsha, &files, w.seed)
    })))
}
