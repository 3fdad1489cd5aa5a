//! One API call, shared by every kind of call (REST, GraphQL, web host, installation tokens):
//! authenticating the caller, spending from a bucket, counting the call in [`crate::Stats`], and
//! building replies with GitHub's common headers and error shape.

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::json;
use time::OffsetDateTime;

use crate::error::FakeError;
use crate::state::{AccountKey, Bucket, Caller, Resource, Shared, token_key};
use crate::stats::{Counters, Exchange};

/// The credential in an `Authorization` header: `token X`, `Bearer X`, or Basic with the token as password.
pub fn credential(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "token" | "bearer" => Some(rest.to_string()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let s = String::from_utf8(decoded).ok()?;
            let (user, pass) = s.split_once(':')?;
            Some(if pass.is_empty() { user } else { pass }.to_string())
        }
        _ => None,
    }
}

/// Why authentication failed: the credential (for the stats key) and the kind.
pub struct AuthFailure {
    /// The presented token (stats key).
    pub token: String,
}

/// Resolves the caller. A header that names no valid, unrevoked, unexpired token fails.
pub fn authenticate(sh: &Shared, headers: &HeaderMap) -> Result<Caller, AuthFailure> {
    if headers.get(header::AUTHORIZATION).is_none() {
        return Ok(Caller { token: None });
    }
    let Some(tok) = credential(headers) else {
        return Err(AuthFailure {
            token: "malformed".into(),
        });
    };
    let auth = sh.auth();
    match auth.tokens.get(&token_key(&tok)) {
        Some(info) if !info.revoked && info.expires_at.is_none_or(|e| e > OffsetDateTime::now_utc()) => Ok(Caller {
            token: Some(info.clone()),
        }),
        _ => Err(AuthFailure { token: tok }),
    }
}

/// A request id in GitHub's `X-GitHub-Request-Id` format.
pub fn request_id(sh: &Shared) -> String {
    let n = sh.next_counter();
    let h = crate::world::mix(n ^ sh.opts.seed);
    format!(
        "{:04X}:{:04X}:{:06X}:{:07X}:{:08X}",
        h & 0xFFFF,
        (h >> 16) & 0xFFFF,
        n & 0xFFFFFF,
        (h >> 32) & 0xFFFFFFF,
        n
    )
}

/// Builds a response with the common GitHub headers.
pub fn base_response(status: StatusCode, body: Body, req_id: &str) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("x-github-request-id", hv(req_id));
    h.insert("x-github-api-version-selected", HeaderValue::from_static("2022-11-28"));
    h.insert("server", HeaderValue::from_static("GitHub.com"));
    h.insert(header::VARY, HeaderValue::from_static("Accept, Authorization, Cookie"));
    resp
}

/// A header value; an invalid one becomes empty.
pub fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A JSON answer with the common GitHub headers.
pub fn json_response(status: StatusCode, body: &serde_json::Value, req_id: &str) -> Response {
    let mut r = base_response(status, Body::from(body.to_string()), req_id);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut().insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    r
}

/// The message GitHub sends when a primary limit is exhausted.
pub fn exhausted_message(account: AccountKey, ip: IpAddr) -> String {
    match account {
        AccountKey::User(id) => format!("API rate limit exceeded for user ID {id}."),
        AccountKey::Installation(id) => format!("API rate limit exceeded for installation ID {id}."),
        AccountKey::Anonymous(_) => format!(
            "API rate limit exceeded for {ip}. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)"
        ),
    }
}

/// The message of a secondary limit.
pub fn secondary_message(req_id: &str) -> String {
    format!(
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID {req_id}."
    )
}

/// Records one exchange in the stats.
pub fn record(sh: &Shared, caller_key: &str, login: &str, resource: Resource, route: &str, path: &str, c: Counters) {
    sh.meter().stats.record(&Exchange {
        token_key: caller_key,
        login,
        resource: resource.as_str(),
        route,
        path,
        counters: c,
    });
}

/// One API call as the stats count it: the caller's stats key and login, the resource, the
/// route template and the path. Every call counts once (`calls`), plus what became of it.
pub struct Call<'a> {
    sh: &'a Shared,
    /// Stats key: the token, `anonymous`, or the token presented when it is not valid.
    key: String,
    /// Login of the token's account (empty when unknown or anonymous).
    login: String,
    resource: Resource,
    route: &'a str,
    path: &'a str,
}

impl Call<'_> {
    /// Records the call, with `outcome` (the counters besides `calls`).
    pub fn record(&self, outcome: Counters) {
        let c = Counters { calls: 1, ..outcome };
        record(self.sh, &self.key, &self.login, self.resource, self.route, self.path, c);
    }

    /// The 403/429 answer when a secondary limit is forced on this caller (recorded).
    pub fn secondary_limit(&self, req_id: &str) -> Option<Response> {
        let sec = self.sh.meter().secondary.get(&self.key).copied()?;
        self.record(Counters {
            secondary_limited: 1,
            ..Counters::default()
        });
        let status = StatusCode::from_u16(sec.status).unwrap_or(StatusCode::FORBIDDEN);
        let body = json!({
            "message": secondary_message(req_id),
            "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
        });
        let mut resp = json_response(status, &body, req_id);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, hv(&sec.retry_after.to_string()));
        Some(resp)
    }
}

/// Authenticates a call to `route` (a template) at `path`. A header with no valid token is
/// counted under the token presented and refused with `Bad credentials`.
pub fn authenticate_call<'a>(
    sh: &'a Shared,
    headers: &HeaderMap,
    resource: Resource,
    route: &'a str,
    path: &'a str,
) -> Result<(Caller, Call<'a>), FakeError> {
    let call = |key: String, login: String| Call {
        sh,
        key,
        login,
        resource,
        route,
        path,
    };
    match authenticate(sh, headers) {
        Ok(caller) => {
            let (key, login) = match &caller.token {
                Some(t) => (t.token.clone(), t.login.clone()),
                None => ("anonymous".to_string(), String::new()),
            };
            Ok((caller, call(key, login)))
        }
        Err(f) => {
            let login = sh
                .auth()
                .tokens
                .get(&token_key(&f.token))
                .map(|t| t.login.clone())
                .unwrap_or_default();
            call(f.token, login).record(Counters {
                unauthorized: 1,
                ..Counters::default()
            });
            Err(FakeError::BadCredentials)
        }
    }
}

/// Spends `cost` units of an account's bucket; the bucket as it was when too few are left.
pub fn spend(sh: &Shared, account: AccountKey, resource: Resource, cost: u64) -> Result<Bucket, Bucket> {
    sh.with_bucket(account, resource, |b| {
        if b.remaining() < cost {
            return Err(*b);
        }
        b.used += cost;
        Ok(*b)
    })
}

impl FakeError {
    /// The error as a GitHub API response with the common headers.
    pub fn into_response_with(self, req_id: &str) -> Response {
        json_response(self.status(), &self.body(), req_id)
    }
}
