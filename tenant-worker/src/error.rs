//! The one error type of the worker and its single mapping to HTTP. GitHub-facing answers use
//! GitHub's error shape (`message`, `documentation_url`) so clients display them well; answers
//! that tell the gh shim to use the caller's own credentials carry `"shoal": "fallback_local"`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shoal_common::github::ErrorBody;

/// Everything the worker can refuse or fail with. Messages never carry a token or a body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("Requires authentication: send `Authorization: token <shoal caller token>`")]
    Unauthenticated,
    #[error("Bad credentials: the caller token is unknown, revoked or expired")]
    BadCredentials,
    #[error("{0}")]
    BadRequest(String),
    #[error("shoal relays reads only: {0} is sent with your own credentials")]
    MethodNotRelayed(String),
    /// The route would reveal a pooled identity's own data, or is outside the relayed surface.
    #[error("{0}")]
    FallbackLocal(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Not Found")]
    NotFound,
    #[error("API rate limit exceeded for every identity in this shoal pool; retry after {retry_after_secs} s")]
    PoolExhausted { retry_after_secs: u64 },
    /// No identity can serve for a reason other than budget: the caller's own gh serves meanwhile.
    #[error("no identity in this shoal pool can serve this request: {0}")]
    PoolUnavailable(String),
    /// A hard-capped plan's reads for this UTC month are spent: the caller's own gh takes over.
    #[error(
        "the {plan} plan's {reads_per_month} relayed reads for this month are used up; reads resume when the month turns (UTC), or upgrade at {upgrade_url}"
    )]
    AllowanceSpent {
        plan: String,
        reads_per_month: u64,
        upgrade_url: String,
        retry_after_secs: u64,
    },
    #[error("shoal is busy: too many requests are waiting for GitHub; retry shortly")]
    Busy,
    #[error("GitHub could not be reached or failed ({0}); retry shortly")]
    Upstream(String),
    #[error("internal error")]
    Internal,
    /// Talking to the control plane failed (scheduled mode); never an answer to a caller.
    #[error("control plane: {0}")]
    ControlPlane(String),
}

impl Error {
    /// No identity could be chosen: [`Error::PoolUnavailable`] when `unavailable` says why budget
    /// is not the reason, else [`Error::PoolExhausted`].
    pub fn no_identity(unavailable: Option<String>, retry_after_secs: u64) -> Self {
        match unavailable {
            Some(why) => Error::PoolUnavailable(why),
            None => Error::PoolExhausted { retry_after_secs },
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Error::Config(_) | Error::Internal | Error::ControlPlane(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Unauthenticated | Error::BadCredentials => StatusCode::UNAUTHORIZED,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::MethodNotRelayed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::FallbackLocal(_) | Error::Forbidden(_) | Error::PoolExhausted { .. } => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::AllowanceSpent { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Busy | Error::Upstream(_) | Error::PoolUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Error::Config(_) | Error::ControlPlane(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        let body = match &self {
            Error::MethodNotRelayed(_)
            | Error::FallbackLocal(_)
            | Error::PoolUnavailable(_)
            | Error::AllowanceSpent { .. } => ErrorBody::fallback_local(message),
            _ => ErrorBody::new(message),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        match self {
            Error::PoolExhausted { retry_after_secs } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
                // Clients (gh, octokit) wait until x-ratelimit-reset when remaining is 0.
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                h.insert("x-ratelimit-reset", HeaderValue::from(now + retry_after_secs));
            }
            Error::Busy | Error::Upstream(_) | Error::PoolUnavailable(_) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Error::AllowanceSpent { retry_after_secs, .. } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn method_not_relayed_carries_fallback_local() {
        let resp = Error::MethodNotRelayed("POST".into()).into_response();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["shoal"], "fallback_local");
        assert!(v["message"].as_str().unwrap().contains("POST"));
        assert!(v["message"].as_str().unwrap().starts_with("fallback_local: "));
    }

    #[tokio::test]
    async fn a_spent_allowance_is_429_with_retry_after_and_fallback_local() {
        let resp = Error::AllowanceSpent {
            plan: "free".into(),
            reads_per_month: 50_000,
            upgrade_url: "https://shoal.example/t/acme/billing".into(),
            retry_after_secs: 3600,
        }
        .into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "3600");
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["shoal"], "fallback_local");
        let message = v["message"].as_str().unwrap();
        assert!(
            message.starts_with("fallback_local: the free plan's 50000 relayed reads")
                && message.contains("https://shoal.example/t/acme/billing"),
            "{message}"
        );
    }

    #[test]
    fn pool_exhausted_is_githubs_403_with_retry_after() {
        let resp = Error::PoolExhausted { retry_after_secs: 42 }.into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "42");
        let reset: u64 = resp.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset > 1_700_000_000);
    }
}
