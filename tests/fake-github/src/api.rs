//! The request pipeline every API call goes through: authenticate, check the secondary and
//! primary limits, answer, apply conditional requests (per-token ETags, Last-Modified), charge,
//! and add GitHub's headers. Everything is counted in [`crate::Stats`]. The steps GraphQL, the
//! web host and installation tokens share with REST are in `call`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::call::{
    authenticate, authenticate_call, base_response, exhausted_message, hv, json_response, record, request_id, spend,
};
use crate::error::FakeError;
use crate::faults::Fault;
use crate::render::Urls;
use crate::rest::{self, Ctx, Payload, Reply};
use crate::state::{AccountKey, Bucket, Caller, Resource, Shared, TokenKind};
use crate::stats::Counters;

/// The `/api/v3` prefix of the GitHub Enterprise layout.
pub const GHES_PREFIX: &str = "/api/v3";

/// Splits the GHES prefix off a path: (prefix, rest).
pub fn split_prefix(path: &str) -> (&'static str, &str) {
    match path.strip_prefix(GHES_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            (GHES_PREFIX, if rest.is_empty() { "/" } else { rest })
        }
        _ => ("", path),
    }
}

/// GitHub's ETag: sha256 over each value of Accept, Authorization and Cookie followed by `:`,
/// then the body (github-conditional-http-transport's reverse-engineered algorithm).
pub fn etag_for(headers: &HeaderMap, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for name in [header::ACCEPT, header::AUTHORIZATION, header::COOKIE] {
        for v in headers.get_all(&name) {
            h.update(v.as_bytes());
            h.update(b":");
        }
    }
    h.update(body);
    format!("W/\"{}\"", hex::encode(h.finalize()))
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches("W/").to_string();
    let mine = bare(etag);
    if_none_match.split(',').any(|t| t.trim() == "*" || bare(t) == mine)
}

const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Formats an HTTP date (`Mon, 01 Jan 2024 00:00:00 GMT`).
pub fn http_date(t: OffsetDateTime) -> String {
    t.format(HTTP_DATE).unwrap_or_default()
}

/// Parses an HTTP date.
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(s.trim(), HTTP_DATE)
        .ok()
        .map(|p| p.assume_utc())
}

fn set_rate_headers(resp: &mut Response, b: &Bucket, res: Resource) {
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", hv(&b.limit.to_string()));
    h.insert("x-ratelimit-remaining", hv(&b.remaining().to_string()));
    h.insert("x-ratelimit-used", hv(&b.used.to_string()));
    h.insert("x-ratelimit-reset", hv(&b.reset.to_string()));
    h.insert("x-ratelimit-resource", hv(res.as_str()));
}

/// The fallback handler: every GitHub API path (REST under `/` and `/api/v3/`).
pub async fn serve(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (prefix, path) = split_prefix(uri.path());
    let (latency, fault) = {
        let mut m = sh.meter();
        (m.faults.faults.latency_ms, m.faults.next())
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    if fault != Fault::None {
        return fault_response(&sh, fault, &method, path, &headers);
    }
    if path == "/graphql" || (prefix.is_empty() && path == "/api/graphql") {
        return crate::graphql::serve(sh, addr.ip(), headers, method, body, prefix).await;
    }
    if method == Method::GET
        && prefix.is_empty()
        && let Some(resp) = crate::web::serve(&sh, addr.ip(), path)
    {
        return resp;
    }
    if method == Method::POST
        && let Some(rest) = path.strip_prefix("/app/installations/")
        && let Some(id) = rest.strip_suffix("/access_tokens")
    {
        return crate::app::create_installation_token(&sh, id, &headers, prefix);
    }
    serve_rest(
        &sh,
        addr.ip(),
        &method,
        prefix,
        path,
        uri.query().unwrap_or(""),
        &headers,
    )
}

/// Answers a call picked by fault injection: a 5xx in GitHub's shape, or a cut connection.
fn fault_response(sh: &Shared, fault: Fault, method: &Method, path: &str, headers: &HeaderMap) -> Response {
    let req_id = request_id(sh);
    let route = rest::parse(path);
    let route_name = format!("{} {}", method.as_str(), route.template());
    let (key, login) = match authenticate(sh, headers) {
        Ok(Caller { token: Some(t) }) => (t.token, t.login),
        Ok(Caller { token: None }) => ("anonymous".to_string(), String::new()),
        Err(f) => (f.token, String::new()),
    };
    let resource = if path == "/graphql" || path == "/api/graphql" {
        Resource::Graphql
    } else {
        route.resource()
    };
    record(
        sh,
        &key,
        &login,
        resource,
        &route_name,
        path,
        Counters {
            calls: 1,
            faults: 1,
            ..Counters::default()
        },
    );
    match fault {
        Fault::Error(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            json_response(status, &json!({"message": "Server Error"}), &req_id)
        }
        _ => {
            // Headers go out, then the body fails: hyper aborts the connection mid-answer.
            let failing = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                ))
            });
            let mut r = base_response(StatusCode::OK, Body::from_stream(failing), &req_id);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
    }
}

/// A REST call, step by step: authenticate, refuse what is not a read, apply a forced secondary
/// limit, reserve one unit of the primary limit, answer, apply conditional requests, settle the
/// charge (an authenticated 304 is free), count, and add the rate-limit and scope headers.
fn serve_rest(
    sh: &Shared,
    ip: IpAddr,
    method: &Method,
    prefix: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Response {
    let req_id = request_id(sh);
    let route = rest::parse(path);
    let resource = route.resource();
    let route_name = format!("{} {}", method.as_str(), route.template());
    let (caller, call) = match authenticate_call(sh, headers, resource, &route_name, path) {
        Ok(c) => c,
        Err(e) => return e.into_response_with(&req_id),
    };
    if method != Method::GET && method != Method::HEAD {
        call.record(Counters::default());
        return FakeError::NotFound.into_response_with(&req_id);
    }
    if let Some(refused) = call.secondary_limit(&req_id) {
        return refused;
    }

    // Reserve the unit now (so concurrent calls flip at exactly the limit); a free 304 refunds it.
    let account = caller.account(ip);
    let free = route.is_free();
    let bucket = match spend(sh, account, resource, u64::from(!free)) {
        Ok(b) => b,
        Err(exhausted) => {
            call.record(Counters {
                rate_limited: 1,
                ..Counters::default()
            });
            return rate_limited_response(&exhausted, account, ip, resource, &req_id);
        }
    };

    let query_pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(a, b)| (a.into_owned(), b.into_owned()))
        .collect();
    let reply = answer(sh, &route, &caller, ip, prefix, &query_pairs, headers);
    // `/rate_limit` shows the bucket as it is after this call.
    let bucket = if free {
        sh.with_bucket(account, resource, |b| *b)
    } else {
        bucket
    };

    let (mut resp, not_modified) = match reply {
        Err(e) => (e.into_response_with(&req_id), false),
        Ok(reply) => finish(sh, reply, headers, &req_id, prefix, &query_pairs, &caller),
    };
    // GitHub does not charge a 304 to a correctly authorised request.
    let refund = not_modified && caller.token.is_some() && !free;
    let bucket = if refund {
        sh.with_bucket(account, resource, |b| {
            b.used = b.used.saturating_sub(1);
            *b
        })
    } else {
        bucket
    };
    call.record(Counters {
        charged: u64::from(!free && !refund),
        not_modified: u64::from(not_modified),
        ..Counters::default()
    });
    set_rate_headers(&mut resp, &bucket, resource);
    if let Some(t) = &caller.token
        && t.kind != TokenKind::Installation
    {
        resp.headers_mut().insert("x-oauth-scopes", hv(&t.scopes));
        resp.headers_mut()
            .insert("x-accepted-oauth-scopes", HeaderValue::from_static("repo"));
    }
    if method == Method::HEAD {
        *resp.body_mut() = Body::empty();
    }
    resp
}

/// GitHub's 403 when the primary limit is exhausted, with the bucket's headers.
fn rate_limited_response(b: &Bucket, account: AccountKey, ip: IpAddr, resource: Resource, req_id: &str) -> Response {
    let body = json!({
        "message": exhausted_message(account, ip),
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits"
    });
    let mut resp = json_response(StatusCode::FORBIDDEN, &body, req_id);
    set_rate_headers(&mut resp, b, resource);
    resp
}

/// Runs the REST handler of a route for this caller.
fn answer(
    sh: &Shared,
    route: &rest::Route<'_>,
    caller: &Caller,
    ip: IpAddr,
    prefix: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Reply, FakeError> {
    let urls = Urls::new(format!("{}{prefix}", sh.base_url), sh.base_url.clone());
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ctx = Ctx {
        query,
        accept,
        urls: &urls,
        caller,
        ip,
    };
    rest::handle(sh, route, &ctx)
}

/// Applies validators, pagination and content headers to a handler's reply.
/// Returns the response and whether it is a 304.
fn finish(
    sh: &Shared,
    reply: Reply,
    headers: &HeaderMap,
    req_id: &str,
    prefix: &str,
    query: &[(String, String)],
    caller: &Caller,
) -> (Response, bool) {
    let (bytes, content_type): (Vec<u8>, &str) = match reply.body {
        Payload::Json(v) => (v.to_string().into_bytes(), "application/json; charset=utf-8"),
        Payload::Raw(b, ct) => (b, ct),
        Payload::Empty => (Vec::new(), ""),
    };
    let cacheable = reply.status == StatusCode::OK;
    let etag = cacheable.then(|| etag_for(headers, &bytes));
    let inm = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    let ims = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    let not_modified = match (&etag, inm) {
        (Some(e), Some(inm)) => etag_matches(inm, e),
        // If-Modified-Since is only considered without If-None-Match (RFC 9110 13.1.3).
        (Some(_), None) => matches!((reply.last_modified, ims), (Some(lm), Some(ims)) if lm <= ims),
        _ => false,
    };
    let mut resp = if not_modified {
        base_response(StatusCode::NOT_MODIFIED, Body::empty(), req_id)
    } else {
        let mut r = base_response(reply.status, Body::from(bytes), req_id);
        if !content_type.is_empty() {
            r.headers_mut().insert(header::CONTENT_TYPE, hv(content_type));
        }
        r
    };
    let h = resp.headers_mut();
    h.insert("x-github-media-type", hv(reply.media));
    if let Some(e) = &etag {
        h.insert(header::ETAG, hv(e));
    }
    if let Some(lm) = reply.last_modified {
        h.insert(header::LAST_MODIFIED, hv(&http_date(lm)));
    }
    if cacheable {
        let cc = if caller.token.is_some() {
            "private, max-age=60, s-maxage=60"
        } else {
            "public, max-age=60, s-maxage=60"
        };
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    for (k, v) in reply.headers {
        h.insert(k, hv(&v));
    }
    if let Some(p) = reply.page
        && let Some(link) = link_header(&sh.base_url, prefix, &p, query)
    {
        h.insert(header::LINK, hv(&link));
    }
    (resp, not_modified)
}

fn page_url(base: &str, prefix: &str, path: &str, query: &[(String, String)], page: usize) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    let mut had_page = false;
    for (k, v) in query {
        if k == "page" {
            ser.append_pair("page", &page.to_string());
            had_page = true;
        } else {
            ser.append_pair(k, v);
        }
    }
    if !had_page {
        ser.append_pair("page", &page.to_string());
    }
    format!("{base}{prefix}{path}?{}", ser.finish())
}

/// GitHub's Link header for one page: prev, next, last, first (absolute URLs on the fake's host).
pub fn link_header(base: &str, prefix: &str, p: &rest::PageInfo, query: &[(String, String)]) -> Option<String> {
    let mut parts = Vec::new();
    let url = |n: usize| page_url(base, prefix, &p.link_path, query, n);
    if p.page > 1 {
        parts.push(format!("<{}>; rel=\"prev\"", url((p.page - 1).min(p.last))));
    }
    if p.page < p.last {
        parts.push(format!("<{}>; rel=\"next\"", url(p.page + 1)));
        parts.push(format!("<{}>; rel=\"last\"", url(p.last)));
    }
    if p.page > 1 {
        parts.push(format!("<{}>; rel=\"first\"", url(1)));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body and expected digests of github-conditional-http-transport's hash_test.go, which
    /// were taken from real api.github.com answers.
    const BODY: &str = r#"{"login":"bored-engineer","id":541842,"node_id":"MDQ6VXNlcjU0MTg0Mg==","avatar_url":"https://avatars.githubusercontent.com/u/541842?v=4","gravatar_id":"","url":"https://api.github.com/users/bored-engineer","html_url":"https://github.com/bored-engineer","followers_url":"https://api.github.com/users/bored-engineer/followers","following_url":"https://api.github.com/users/bored-engineer/following{/other_user}","gists_url":"https://api.github.com/users/bored-engineer/gists{/gist_id}","starred_url":"https://api.github.com/users/bored-engineer/starred{/owner}{/repo}","subscriptions_url":"https://api.github.com/users/bored-engineer/subscriptions","organizations_url":"https://api.github.com/users/bored-engineer/orgs","repos_url":"https://api.github.com/users/bored-engineer/repos","events_url":"https://api.github.com/users/bored-engineer/events{/privacy}","received_events_url":"https://api.github.com/users/bored-engineer/received_events","type":"User","user_view_type":"public","site_admin":false,"name":"Luke Young","company":null,"blog":"https://bored.engineer/","location":"San Francisco, CA","email":null,"hireable":true,"bio":"I find bugs and exploit them. Sometimes for money, mainly for free T-Shirts...","twitter_username":null,"public_repos":136,"public_gists":51,"followers":212,"following":13,"created_at":"2010-12-30T17:15:38Z","updated_at":"2025-05-06T02:44:16Z"}"#;

    #[test]
    fn etag_matches_the_reverse_engineered_github_algorithm() {
        assert_eq!(
            etag_for(&HeaderMap::new(), BODY.as_bytes()),
            "W/\"c5542e3ee32c0adf1128a79d80a296d03412415c924e522d9d1c75b17d7c3ef0\""
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.github.v3+json"),
        );
        assert_eq!(
            etag_for(&h, BODY.as_bytes()),
            "W/\"125f46f7d22cd8f41ea1534256ba85a45f4a0e3dcf995da9fecfe3361b93407d\""
        );
    }

    #[test]
    fn strong_and_weak_forms_of_an_etag_both_match() {
        let e = "W/\"abc\"";
        assert!(etag_matches("\"abc\"", e));
        assert!(etag_matches("W/\"abc\", \"other\"", e));
        assert!(!etag_matches("\"abd\"", e));
    }

    #[test]
    fn http_dates_round_trip() {
        let t = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        assert_eq!(http_date(t), "Tue, 02 Jan 2024 03:04:05 GMT");
        assert_eq!(parse_http_date("Tue, 02 Jan 2024 03:04:05 GMT"), Some(t));
    }
}
