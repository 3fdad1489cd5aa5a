//! What a REST request's head decides before the tenant's rules run — the layout, the normalised
//! path and query, the route, the `Accept` and API version, the cache key — remembered by the
//! exact bytes of the head fields it is computed from, so a repeated read (every cache hit) skips
//! normalisation, classification and key building. Only pure functions of those bytes are kept,
//! never anything that depends on the caller, the tenant's bundle or the time: authentication,
//! the allowance, the tenant's rules and its policy module still run for every request.

use crate::classify::{Layout, Normalized, Route, RouteInfo, classify, normalize, split_layout};
use crate::error::Error;
use crate::fetch::rest::FetchSpec;
use crate::graphql::memo::Memo;
use crate::headers::{self, DEFAULT_ACCEPT};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use std::sync::Arc;

/// Distinct request heads remembered.
pub const MEMO_ENTRIES: usize = 4096;
/// Bytes the remembered heads may weigh together (keys and values, roughly).
pub const MEMO_BYTES: usize = 4 << 20;

const MAX_ACCEPT: usize = 256;
const MAX_API_VERSION: usize = 32;

/// The memo of request heads, keyed by their [`fields`].
pub type RestMemo = Memo<Classified>;

/// A REST request head, classified.
// Always behind an `Arc`: boxing `Head` would add an allocation and a pointer hop per hit.
#[allow(clippy::large_enum_variant)]
pub enum Classified {
    /// `/rate_limit`, which the relay answers for the whole pool.
    RateLimit,
    Relay(Head),
}

/// A relayed read as its head describes it, before the tenant's rules.
pub struct Head {
    pub layout: Layout,
    pub n: Normalized,
    pub info: RouteInfo,
    /// The read to fetch, unless `Accept` or `X-GitHub-Api-Version` is refused (the message).
    pub spec: Result<FetchSpec, &'static str>,
}

impl Head {
    /// The `Accept` (lower-cased) and API version of the read, as [`FetchSpec::new`] takes them.
    pub fn accept_and_version(&self) -> Result<(String, Option<String>), Error> {
        match &self.spec {
            Ok(s) => Ok((s.accept.clone(), s.api_version.clone())),
            Err(why) => Err(Error::BadRequest((*why).into())),
        }
    }
}

/// The head fields that decide a request's [`Classified`]: the raw path and query, and the first
/// `Accept` and `X-GitHub-Api-Version` values (`None`: absent).
fn fields(parts: &Parts) -> [Option<&[u8]>; 3] {
    [
        Some(parts.uri.path_and_query().map_or("", |p| p.as_str()).as_bytes()),
        parts.headers.get(header::ACCEPT).map(HeaderValue::as_bytes),
        parts
            .headers
            .get(headers::X_GITHUB_API_VERSION)
            .map(HeaderValue::as_bytes),
    ]
}

/// The request's [`Classified`], from the memo when its head was seen before. Refusals (a bad
/// path, a refused route) are computed each time and never remembered.
pub fn classified(memo: &RestMemo, parts: &Parts) -> Result<Arc<Classified>, Error> {
    memo.get_or_try_insert(&fields(parts), weight_of, || classify_head(parts))
}

/// The full path: what [`classified`] remembers.
pub fn classify_head(parts: &Parts) -> Result<Classified, Error> {
    let (layout, path) = split_layout(parts.uri.path());
    let n = normalize(path, parts.uri.query()).map_err(Error::BadRequest)?;
    let info = match classify(&n) {
        Route::Refused(why) => return Err(Error::FallbackLocal(why)),
        Route::RateLimit => return Ok(Classified::RateLimit),
        Route::Relay(info) => info,
    };
    let spec = accept_and_version(parts)
        .map(|(accept, version)| FetchSpec::new(n.path_and_query(), accept, version, info.clone()));
    Ok(Classified::Relay(Head { layout, n, info, spec }))
}

fn accept_and_version(parts: &Parts) -> Result<(String, Option<String>), &'static str> {
    let accept = match parts.headers.get(header::ACCEPT).map(|v| v.to_str()) {
        // `gh api` sends an empty Accept; GitHub reads it as the default.
        None => DEFAULT_ACCEPT.to_string(),
        Some(Ok(a)) if a.trim().is_empty() => DEFAULT_ACCEPT.to_string(),
        Some(Ok(a)) if a.len() <= MAX_ACCEPT => a.trim().to_ascii_lowercase(),
        Some(_) => return Err("the Accept header is malformed or too long"),
    };
    let version = match parts.headers.get(headers::X_GITHUB_API_VERSION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) if v.len() <= MAX_API_VERSION => Some(v.trim().to_string()),
        Some(_) => return Err("X-GitHub-Api-Version is malformed"),
    };
    Ok((accept, version))
}

fn weight_of(c: &Classified) -> usize {
    let strings = |i: &RouteInfo| i.owner.as_ref().map_or(0, String::len) + i.repo.as_ref().map_or(0, String::len);
    match c {
        Classified::RateLimit => 64,
        Classified::Relay(h) => {
            let spec = h.spec.as_ref().map_or(0, |s| {
                s.key.len() + s.path_and_query.len() + s.accept.len() + strings(&s.info) + 64
            });
            256 + h.n.path.len() + h.n.query.len() + strings(&h.info) + spec
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::memo::with_key;
    use proptest::prelude::*;

    fn parts(target: &str, accept: Option<&str>, version: Option<&str>) -> Option<Parts> {
        let mut b = axum::http::Request::builder().uri(target);
        if let Some(a) = accept {
            b = b.header(header::ACCEPT, a);
        }
        if let Some(v) = version {
            b = b.header(headers::X_GITHUB_API_VERSION, v);
        }
        b.body(()).ok().map(|r| r.into_parts().0)
    }

    /// What a classification says, comparable.
    fn outcome(c: Result<&Classified, &Error>) -> String {
        match c {
            Err(e) => format!("error {e}"),
            Ok(Classified::RateLimit) => "rate limit".into(),
            Ok(Classified::Relay(h)) => format!(
                "{:?} {:?} {:?} {:?}",
                h.layout,
                h.n,
                h.info,
                h.spec
                    .as_ref()
                    .map(|s| (s.key.clone(), &s.path_and_query, &s.accept, &s.api_version, &s.info))
            ),
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("repos".to_string()),
            Just("Octo-Org".to_string()),
            Just("octo-org".to_string()),
            Just("hello-world".to_string()),
            Just("pulls".to_string()),
            Just("1".to_string()),
            Just("rate_limit".to_string()),
            Just("search".to_string()),
            Just("issues".to_string()),
            Just("user".to_string()),
            Just("..".to_string()),
            Just("a%2Fb".to_string()),
            Just(String::new()),
            "[a-zA-Z0-9_.%-]{1,8}",
        ]
    }

    fn head() -> impl Strategy<Value = (String, Option<String>, Option<String>)> {
        let path = (any::<bool>(), proptest::collection::vec(segment(), 0..6), any::<bool>()).prop_map(
            |(enterprise, segs, slash)| {
                let prefix = if enterprise { "/api/v3" } else { "" };
                format!("{prefix}/{}{}", segs.join("/"), if slash { "/" } else { "" })
            },
        );
        let query = prop_oneof![
            Just(String::new()),
            Just("?per_page=2&page=1".to_string()),
            Just("?page=1&per_page=2".to_string()),
            Just("?q=is%3Aopen+author%3A%40me".to_string()),
            "\\?[a-z=&]{0,12}",
        ];
        let accept = prop_oneof![
            Just(None),
            Just(Some(String::new())),
            Just(Some("application/vnd.github+json".to_string())),
            Just(Some(" Application/VND.github.diff ".to_string())),
            Just(Some("x".repeat(300))),
        ];
        let version = prop_oneof![
            Just(None),
            Just(Some("2022-11-28".to_string())),
            Just(Some("9".repeat(40))),
        ];
        ((path, query).prop_map(|(p, q)| p + &q), accept, version)
    }

    proptest! {
        #[test]
        fn the_remembered_head_agrees_with_the_full_path(
            heads in proptest::collection::vec(head(), 1..12),
            entries in 1usize..4,
        ) {
            let memo = RestMemo::new(entries, MEMO_BYTES);
            // Twice over, so later requests meet remembered heads (and evicted ones).
            for (target, accept, version) in heads.iter().chain(heads.iter()) {
                let Some(p) = parts(target, accept.as_deref(), version.as_deref()) else { continue };
                let full = classify_head(&p);
                let remembered = classified(&memo, &p);
                prop_assert_eq!(
                    outcome(remembered.as_deref()),
                    outcome(full.as_ref()),
                    "{} {:?} {:?}", target, accept, version
                );
            }
        }
    }

    #[test]
    fn heads_that_differ_only_in_accept_or_version_are_remembered_apart() {
        let memo = RestMemo::new(16, MEMO_BYTES);
        let target = "/repos/octo-org/hello-world/pulls/1";
        let heads = [
            (None, None),
            (Some("application/vnd.github.diff"), None),
            (None, Some("2022-11-28")),
            (Some(""), None),
        ];
        let keys: Vec<Vec<u8>> = heads
            .iter()
            .map(|(a, v)| with_key(&fields(&parts(target, *a, *v).unwrap()), <[u8]>::to_vec))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(keys[i + 1..].iter().all(|other| other != k), "{i}");
        }
        for (a, v) in heads {
            let p = parts(target, a, v).unwrap();
            classified(&memo, &p).unwrap();
        }
        assert_eq!(memo.len(), 4);
        let p = parts(target, Some("application/vnd.github.diff"), None).unwrap();
        let Classified::Relay(h) = &*classified(&memo, &p).unwrap() else {
            panic!("a relayed read")
        };
        assert_eq!(
            &*h.spec.as_ref().unwrap().key,
            "/repos/octo-org/hello-world/pulls/1\napplication/vnd.github.diff\n"
        );
    }

    #[test]
    fn a_head_longer_than_the_stack_buffer_is_remembered_too() {
        let memo = RestMemo::new(16, MEMO_BYTES);
        let target = format!("/repos/octo-org/hello-world/contents/{}", "a".repeat(600));
        let p = parts(&target, None, None).unwrap();
        let first = classified(&memo, &p).unwrap();
        let again = classified(&memo, &p).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(outcome(Ok(&again)), outcome(classify_head(&p).as_ref()));
    }

    #[test]
    fn refusals_are_not_remembered() {
        let memo = RestMemo::new(16, MEMO_BYTES);
        for target in ["/repos/octo-org/../x", "/user", "/repos/a%2Fb/c"] {
            let p = parts(target, None, None).unwrap();
            assert!(classified(&memo, &p).is_err(), "{target}");
        }
        assert!(memo.is_empty());
    }
}
