//! Search: `/search/issues` over a subset of GitHub's qualifiers (the GraphQL `search` uses the
//! same [`search_items`]) and an always-empty `/search/code`.

use serde_json::{Value, json};

use super::{Ctx, Reply};
use crate::error::FakeError;
use crate::render;
use crate::state::Caller;
use crate::world::{Item, Repo, World};

/// `GET /search/issues`: a subset of GitHub's qualifiers (`repo:`, `is:`, `state:`, `author:`,
/// `label:`) plus free words matched against titles.
pub fn issues(w: &World, ctx: &Ctx<'_>) -> Result<Reply, FakeError> {
    let q = ctx.q("q").unwrap_or("").to_string();
    if q.trim().is_empty() {
        return Err(FakeError::Unprocessable("Validation Failed".into()));
    }
    let found = search_items(w, ctx.caller, &q);
    let hits: Vec<(&Repo, &Item)> = found
        .iter()
        .filter_map(|&(ri, n)| w.repos[ri].item(n).map(|i| (&w.repos[ri], i)))
        .collect();
    let (range, info) = ctx.paginate(hits.len(), "/search/issues".into());
    let items: Vec<Value> = range
        .map(|k| {
            let (r, i) = hits[k];
            let mut v = render::issue(w, ctx.urls, r, i);
            v["score"] = json!(1.0);
            v
        })
        .collect();
    Ok(Reply::page(
        json!({"total_count": hits.len(), "incomplete_results": false, "search_type": "lexical", "items": items}),
        info,
    ))
}

/// `GET /search/code`: never finds anything.
pub fn code() -> Reply {
    Reply::json(json!({"total_count": 0, "incomplete_results": false, "items": []}))
}

/// Issues and pulls matching a search query (a subset of GitHub's qualifiers: `repo:`,
/// `is:`/`type:` pr|issue, `is:`/`state:` open|closed, `author:` (`@me` the caller), `label:`,
/// and words in titles),
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
            // GitHub reads `@me` as whoever the token belongs to.
            Some(("author", "@me")) => {
                author = Some(
                    caller
                        .token
                        .as_ref()
                        .map_or("@me".into(), |t| t.login.to_ascii_lowercase()),
                );
            }
            Some(("author", v)) => author = Some(v.to_ascii_lowercase()),
            Some(("label", v)) => labels.push(v.trim_matches('"').to_string()),
            // Nothing in the fake has an assignee or a review request.
            Some(("assignee" | "review-requested" | "team-review-requested", _)) => return Vec::new(),
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
