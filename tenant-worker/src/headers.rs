//! Which upstream headers reach clients, and rewriting of `Link`/`Location` to the caller's
//! scheme, host, port and layout. Hop-by-hop and identity-revealing headers (`x-oauth-scopes`,
//! `github-authentication-token-expiration`, per-token rate limits, cookies) never pass. The
//! relay's own headers (`X-Shoal-Cache`, the pool's `x-ratelimit-*`) are set here too.

use crate::cache::entry::header_line;
use crate::coordinator::PoolBudget;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use std::cell::RefCell;

/// `X-Shoal-Cache`: how the relay answered (HIT, MISS, REVALIDATED, STALE, BYPASS).
pub const X_SHOAL_CACHE: HeaderName = HeaderName::from_static("x-shoal-cache");
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub const X_RATELIMIT_USED: HeaderName = HeaderName::from_static("x-ratelimit-used");
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
pub const X_RATELIMIT_RESOURCE: HeaderName = HeaderName::from_static("x-ratelimit-resource");
pub const X_GITHUB_API_VERSION: HeaderName = HeaderName::from_static("x-github-api-version");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// What GitHub assumes when a client sends no `Accept`.
pub const DEFAULT_ACCEPT: &str = "application/vnd.github+json";

thread_local! {
    /// The last pool budget formatted on this thread: it changes far less often than it is sent.
    static POOL_VALUES: RefCell<Option<(PoolBudget, [HeaderValue; 4])>> = const { RefCell::new(None) };
    /// The same, encoded for HTTP/1.1 with its resource ([`pool_lines`]).
    static POOL_LINES: RefCell<Option<(PoolBudget, &'static str, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Whether the client asks for a fresh answer (`Cache-Control: no-cache` or `max-age=0`): the
/// relay then revalidates upstream now instead of serving its cached copy.
pub fn wants_fresh(h: &HeaderMap) -> bool {
    h.get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .any(|d| d == "no-cache" || d.starts_with("no-cache=") || d == "max-age=0")
}

/// Sets `x-ratelimit-*` to describe the pool's budget for `resource` (not any one token's).
pub fn insert_pool(h: &mut HeaderMap, pool: PoolBudget, resource: &'static str) {
    let [limit, remaining, used, reset] = POOL_VALUES.with_borrow_mut(|memo| match memo {
        Some((p, v)) if *p == pool => v.clone(),
        _ => {
            let v = [pool.limit, pool.remaining, pool.used, pool.reset].map(HeaderValue::from);
            *memo = Some((pool, v.clone()));
            v
        }
    });
    h.insert(X_RATELIMIT_LIMIT, limit);
    h.insert(X_RATELIMIT_REMAINING, remaining);
    h.insert(X_RATELIMIT_USED, used);
    h.insert(X_RATELIMIT_RESET, reset);
    h.insert(X_RATELIMIT_RESOURCE, HeaderValue::from_static(resource));
}

/// Appends the `x-ratelimit-*` lines [`insert_pool`] sets, encoded for HTTP/1.1.
pub fn pool_lines(out: &mut Vec<u8>, pool: PoolBudget, resource: &'static str) {
    POOL_LINES.with_borrow_mut(|memo| {
        if !matches!(memo, Some((p, r, _)) if *p == pool && *r == resource) {
            let mut lines = Vec::with_capacity(160);
            let mut n = itoa::Buffer::new();
            for (name, value) in [
                (X_RATELIMIT_LIMIT, pool.limit),
                (X_RATELIMIT_REMAINING, pool.remaining),
                (X_RATELIMIT_USED, pool.used),
                (X_RATELIMIT_RESET, pool.reset),
            ] {
                header_line(&mut lines, name.as_str(), n.format(value).as_bytes());
            }
            header_line(&mut lines, X_RATELIMIT_RESOURCE.as_str(), resource.as_bytes());
            *memo = Some((pool, resource, lines));
        }
        if let Some((_, _, lines)) = memo {
            out.extend_from_slice(lines);
        }
    });
}

/// Upstream headers a client needs. Everything else is dropped.
const PASS: &[&str] = &[
    "content-type",
    "content-disposition",
    "last-modified",
    "link",
    "location",
    "cache-control",
    "vary",
    "x-github-media-type",
    "x-github-api-version-selected",
    "x-commonmarker-version",
];

/// Keeps the headers clients need; `Link` and `Location` become relative to the upstream base
/// so they can be re-rooted at whichever host and layout a caller used.
pub fn filter(upstream: &HeaderMap, upstream_base: &str) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (name, value) in upstream {
        if !PASS.contains(&name.as_str()) {
            continue;
        }
        if name == "link" || name == "location" {
            let Ok(text) = value.to_str() else { continue };
            let rel = relativize(text, upstream_base);
            if let Ok(v) = HeaderValue::from_str(&rel) {
                out.push((name.clone(), v));
            }
        } else {
            out.push((name.clone(), value.clone()));
        }
    }
    out
}

/// Replaces the upstream base in URLs with nothing, leaving `/path?query`. URLs on other hosts
/// are left alone.
pub fn relativize(value: &str, upstream_base: &str) -> String {
    let base = upstream_base.trim_end_matches('/');
    let mut out = value.replace(&format!("<{base}/"), "</");
    if out.starts_with(&format!("{base}/")) {
        out = out[base.len()..].to_string();
    }
    out
}

/// Roots relative links at the caller's base (`scheme://host[:port][/api/v3]`).
pub fn absolutize(value: &str, caller_base: &str) -> String {
    let mut out = value.replace("</", &format!("<{caller_base}/"));
    if out.starts_with('/') {
        out = format!("{caller_base}{out}");
    }
    out
}

/// Repository ids named in links like `/repositories/123/pulls?page=2`.
pub fn repository_ids(link: &str) -> Vec<u64> {
    link.match_indices("/repositories/")
        .filter_map(|(i, m)| {
            let rest = &link[i + m.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Whether a host header value is safe to echo into links.
pub fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
}

/// `scheme://host[:port]` as the caller addressed us, then `prefix` (a layout's, e.g. `/api/v3`).
pub fn caller_base(parts: &Parts, prefix: &str) -> String {
    caller_base_pieces(parts, prefix).concat()
}

/// [`caller_base`] in pieces (scheme, `://`, host, prefix), for comparing without building it.
pub fn caller_base_pieces<'a>(parts: &'a Parts, prefix: &'a str) -> [&'a str; 4] {
    let scheme = match parts.headers.get(X_FORWARDED_PROTO).and_then(|v| v.to_str().ok()) {
        Some("https") => "https",
        _ => "http",
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| valid_host(h))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    [scheme, "://", host, prefix]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cache_and_max_age_zero_ask_for_fresh() {
        let fresh = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
            }
            wants_fresh(&h)
        };
        assert!(fresh(&["no-cache"]));
        assert!(fresh(&["No-Cache"]));
        assert!(fresh(&["max-age=0"]));
        assert!(fresh(&["private, max-age=0"]));
        assert!(fresh(&["no-store", "no-cache"]));
        assert!(!fresh(&[]));
        assert!(!fresh(&["max-age=60"]));
        assert!(!fresh(&["max-age=00x"]));
        assert!(!fresh(&["no-store"]));
    }

    #[test]
    fn identity_revealing_and_hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("content-type", "application/json"),
            ("x-oauth-scopes", "repo"),
            ("x-accepted-oauth-scopes", "repo"),
            ("github-authentication-token-expiration", "2030-01-01"),
            ("x-ratelimit-remaining", "4999"),
            ("set-cookie", "a=b"),
            ("connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("etag", "W/\"abc\""),
            ("x-github-media-type", "github.v3"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let kept: Vec<_> = filter(&h, "http://up")
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(kept.contains(&"content-type".to_string()));
        assert!(kept.contains(&"x-github-media-type".to_string()));
    }

    #[test]
    fn links_are_rerooted_at_the_caller_host_and_layout() {
        let up = "https://api.github.com";
        let link = "<https://api.github.com/repositories/42/pulls?page=2>; rel=\"next\", <https://api.github.com/repositories/42/pulls?page=5>; rel=\"last\"";
        let rel = relativize(link, up);
        assert_eq!(
            rel,
            "</repositories/42/pulls?page=2>; rel=\"next\", </repositories/42/pulls?page=5>; rel=\"last\""
        );
        let abs = absolutize(&rel, "http://acme.shoal.localhost:8443/api/v3");
        assert_eq!(
            abs,
            "<http://acme.shoal.localhost:8443/api/v3/repositories/42/pulls?page=2>; rel=\"next\", <http://acme.shoal.localhost:8443/api/v3/repositories/42/pulls?page=5>; rel=\"last\""
        );
        assert_eq!(repository_ids(link), vec![42, 42]);
    }

    #[test]
    fn ghes_base_and_foreign_hosts() {
        let up = "https://ghe.example/api/v3";
        assert_eq!(
            relativize("<https://ghe.example/api/v3/repos/o/r/pulls?page=2>; rel=\"next\"", up),
            "</repos/o/r/pulls?page=2>; rel=\"next\""
        );
        assert_eq!(relativize("https://ghe.example/api/v3/repos/o/r", up), "/repos/o/r");
        assert_eq!(absolutize("/repos/o/r", "http://h:1"), "http://h:1/repos/o/r");
        let foreign = "https://codeload.github.com/o/r/tar.gz/main";
        assert_eq!(relativize(foreign, up), foreign);
        assert_eq!(absolutize(foreign, "http://h:1"), foreign);
    }

    #[test]
    fn pool_headers_follow_the_budget_they_are_given() {
        let mut h = HeaderMap::new();
        let mut pool = PoolBudget {
            limit: 5000,
            remaining: 4000,
            used: 1000,
            reset: 1_700_000_000,
        };
        insert_pool(&mut h, pool, "core");
        pool.remaining = 3999;
        pool.used = 1001;
        insert_pool(&mut h, pool, "search");
        let got: Vec<_> = [
            X_RATELIMIT_LIMIT,
            X_RATELIMIT_REMAINING,
            X_RATELIMIT_USED,
            X_RATELIMIT_RESET,
            X_RATELIMIT_RESOURCE,
        ]
        .iter()
        .map(|k| h[k].to_str().unwrap().to_string())
        .collect();
        assert_eq!(got, ["5000", "3999", "1001", "1700000000", "search"]);
    }

    #[test]
    fn hosts_with_injection_are_refused() {
        assert!(valid_host("acme.shoal.localhost:8443"));
        assert!(valid_host("127.0.0.1:3000"));
        assert!(!valid_host("evil.com/x"));
        assert!(!valid_host("a b"));
        assert!(!valid_host(""));
    }
}
