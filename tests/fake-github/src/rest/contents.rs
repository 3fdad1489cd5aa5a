//! Repository contents: a file (JSON or raw) or a directory listing of the fixed tree every repo
//! has, and the tarball/zipball redirects.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Ctx, Reply};
use crate::error::FakeError;
use crate::render;
use crate::world::{FILES, Repo, World};

/// `GET /repos/{owner}/{repo}/contents/{path}` (and `/readme`) at `ref` (default branch by default).
pub fn get(w: &World, r: &Repo, path: &str, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let git_ref = ctx.q("ref").unwrap_or(&r.default_branch).to_string();
    r.resolve_ref(&git_ref).ok_or(FakeError::NotFound)?;
    let path = path.trim_matches('/');
    match FILES.iter().find(|(p, _)| *p == path) {
        Some((p, template)) => Ok(file(w, r, p, template, &git_ref, ctx)),
        None => dir(w, r, path, &git_ref, ctx),
    }
}

fn file(w: &World, r: &Repo, path: &str, template: &str, git_ref: &str, ctx: &Ctx<'_>) -> Reply {
    let text = render::file_content(r, template);
    if ctx.wants("raw") {
        return Reply::raw(
            text,
            "application/vnd.github.raw; charset=utf-8",
            "github.v3; param=raw",
        );
    }
    Reply::json(render::content_entry(w, ctx.urls, r, path, false, Some(&text), git_ref))
}

/// A directory: its direct children, directories first; 404 when nothing is under `path`.
fn dir(w: &World, r: &Repo, path: &str, git_ref: &str, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
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
        .map(|(p, is_dir)| {
            let mut v = render::content_entry(w, ctx.urls, r, p, *is_dir, None, git_ref);
            if !is_dir && let Some((_, template)) = FILES.iter().find(|(x, _)| x == p) {
                v["size"] = json!(render::file_content(r, template).len());
            }
            v
        })
        .collect();
    Ok(Reply::json(Value::Array(body)))
}

/// `GET /repos/{owner}/{repo}/tarball/{ref}` (or `zipball`): 302 to the codeload URL.
pub fn archive(r: &Repo, format: &str, reference: Option<&str>, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let reference = reference.unwrap_or(&r.default_branch);
    r.resolve_ref(reference).ok_or(FakeError::NotFound)?;
    let ext = if format == "tarball" { "tar.gz" } else { "zip" };
    let location = format!("{}/codeload/{}/{ext}/{reference}", ctx.urls.web, r.full_name());
    Ok(Reply::empty(StatusCode::FOUND).header("location", location))
}
