//! GitHub's web-host content that needs no API call: raw files at a ref
//! (`/raw/{owner}/{repo}/{ref}/{path}`, the GitHub Enterprise layout of raw.githubusercontent.com)
//! and pull request / commit diffs and patches (`/{owner}/{repo}/pull/{n}.diff`,
//! `/{owner}/{repo}/commit/{sha}.patch`). Served anonymously, for public repos only (404
//! otherwise, as GitHub does), never charged to a rate limit; counted under the key `web`.

use crate::call::{base_response, record, request_id};
use crate::render::Urls;
use crate::rest::{self, Ctx, Payload};
use crate::state::{Caller, Resource, Shared};
use crate::stats::Counters;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use std::net::IpAddr;

/// The API request a web path stands for.
struct WebRead {
    /// Route template for stats.
    template: &'static str,
    api_path: String,
    query: Vec<(String, String)>,
    accept: &'static str,
}

fn translate(path: &str) -> Option<WebRead> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["raw", owner, repo, reference, rest @ ..] if !rest.is_empty() => Some(WebRead {
            template: "GET /raw/{owner}/{repo}/{ref}/{path}",
            api_path: format!("/repos/{owner}/{repo}/contents/{}", rest.join("/")),
            query: vec![("ref".to_string(), reference.to_string())],
            accept: "application/vnd.github.raw",
        }),
        [owner, repo, kind @ ("pull" | "commit"), file] => {
            let (id, ext) = file.rsplit_once('.')?;
            let accept = match ext {
                "diff" => "application/vnd.github.diff",
                "patch" => "application/vnd.github.patch",
                _ => return None,
            };
            let (template, api) = if *kind == "pull" {
                (
                    "GET /{owner}/{repo}/pull/{number}.{diff|patch}",
                    format!("/repos/{owner}/{repo}/pulls/{id}"),
                )
            } else {
                (
                    "GET /{owner}/{repo}/commit/{sha}.{diff|patch}",
                    format!("/repos/{owner}/{repo}/commits/{id}"),
                )
            };
            Some(WebRead {
                template,
                api_path: api,
                query: Vec::new(),
                accept,
            })
        }
        _ => None,
    }
}

/// Answers a web-host path, or `None` when the path is not one.
pub fn serve(sh: &Shared, ip: IpAddr, path: &str) -> Option<Response> {
    let WebRead {
        template,
        api_path,
        query,
        accept,
    } = translate(path)?;
    let req_id = request_id(sh);
    let urls = Urls::new(sh.base_url.clone(), sh.base_url.clone());
    let caller = Caller { token: None };
    let ctx = Ctx {
        query: &query,
        accept,
        urls: &urls,
        caller: &caller,
        ip,
    };
    let route = rest::parse(&api_path);
    let counters = Counters {
        calls: 1,
        ..Counters::default()
    };
    record(sh, "web", "", Resource::Core, template, path, counters);
    let resp = match rest::handle(sh, &route, &ctx) {
        Ok(reply) if reply.status == StatusCode::OK => match reply.body {
            Payload::Raw(bytes, _) => {
                let mut r = base_response(StatusCode::OK, Body::from(bytes), &req_id);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                r
            }
            _ => not_found(&req_id),
        },
        _ => not_found(&req_id),
    };
    Some(resp)
}

fn not_found(req_id: &str) -> Response {
    let mut r = base_response(StatusCode::NOT_FOUND, Body::from("404: Not Found"), req_id);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
