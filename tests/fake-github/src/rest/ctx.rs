//! The per-request inputs of a REST handler and the query-string conventions GitHub's list
//! endpoints share (`per_page`/`page`, `state`, media types in `Accept`).

use std::net::IpAddr;
use std::ops::Range;

use serde_json::Value;

use super::reply::{PageInfo, Reply};
use crate::render::Urls;
use crate::state::Caller;

/// Per-request inputs of a handler.
pub struct Ctx<'a> {
    /// Parsed query string.
    pub query: &'a [(String, String)],
    /// `Accept` header.
    pub accept: &'a str,
    /// URLs for bodies.
    pub urls: &'a Urls,
    /// Who asks.
    pub caller: &'a Caller,
    /// Client address (the anonymous bucket is per IP).
    pub ip: IpAddr,
}

impl Ctx<'_> {
    /// A query parameter.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.iter().find(|(a, _)| a == k).map(|(_, b)| b.as_str())
    }

    /// `(page, per_page)`: per_page defaults to 30 and is held to 1..=100, page starts at 1.
    fn paging(&self) -> (usize, usize) {
        let per_page = self
            .q("per_page")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = self.q("page").and_then(|s| s.parse::<usize>().ok()).unwrap_or(1).max(1);
        (page, per_page)
    }

    /// The indexes of the requested page of `len` items, and the page info for `Link`.
    pub fn paginate(&self, len: usize, link_path: String) -> (Range<usize>, PageInfo) {
        let (page, per_page) = self.paging();
        let last = len.div_ceil(per_page).max(1);
        let start = (page - 1).saturating_mul(per_page);
        let end = len.min(start.saturating_add(per_page));
        (start..end, PageInfo { page, last, link_path })
    }

    /// The requested page of `items`, each rendered, as a JSON array.
    pub fn page<T>(&self, items: &[T], link_path: String, render: impl Fn(&T) -> Value) -> Reply {
        let (range, info) = self.paginate(items.len(), link_path);
        let body = range.map(|k| render(&items[k])).collect();
        Reply::page(Value::Array(body), info)
    }

    /// Whether `Accept` asks for a media type (`diff`, `patch`, `raw`).
    pub fn wants(&self, what: &str) -> bool {
        self.accept.contains(&format!("application/vnd.github.{what}"))
            || self.accept.contains(&format!("vnd.github.v3.{what}"))
    }

    /// Whether an item in this state passes the `state` parameter (`open` by default).
    pub fn state_matches(&self, open: bool) -> bool {
        match self.q("state").unwrap_or("open") {
            "closed" => !open,
            "all" => true,
            _ => open,
        }
    }
}
