//! The crate's one error enum, rendered once in GitHub's error shape.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// Documentation root GitHub links from error bodies.
pub const DOCS: &str = "https://docs.github.com/rest";

/// Everything a request or a control call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// Unknown route, unknown object, or a private repo the caller cannot see (never 403).
    #[error("Not Found")]
    NotFound,
    /// Unknown, revoked or expired token.
    #[error("Bad credentials")]
    BadCredentials,
    /// Authenticated but not allowed (e.g. `/user` with an installation token).
    #[error("{0}")]
    Forbidden(String),
    /// Input that GitHub would refuse with 422.
    #[error("{0}")]
    Unprocessable(String),
    /// Malformed input to a control or OAuth endpoint.
    #[error("{0}")]
    BadRequest(String),
    /// A JWT or an installation request GitHub would refuse with 401.
    #[error("{0}")]
    Unauthorized(String),
}

impl FakeError {
    /// HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            FakeError::NotFound => StatusCode::NOT_FOUND,
            FakeError::BadCredentials | FakeError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            FakeError::Forbidden(_) => StatusCode::FORBIDDEN,
            FakeError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            FakeError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body, as GitHub writes it (`message`, `documentation_url`, `status`).
    pub fn body(&self) -> Value {
        json!({
            "message": self.to_string(),
            "documentation_url": DOCS,
            "status": self.status().as_u16().to_string()
        })
    }
}

impl axum::response::IntoResponse for FakeError {
    fn into_response(self) -> axum::response::Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}
