//! The crate's one error enum, rendered once in Stripe's error shape
//! (`{"error": {"type", "message", "code"?, "param"?}}`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything a Stripe call or a control call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Missing or wrong `Authorization: Bearer sk_...` (401).
    #[error("Invalid API Key provided")]
    Unauthorized,
    /// A parameter Stripe would refuse (400 `invalid_request_error`).
    #[error("{message}")]
    InvalidRequest {
        /// What was wrong.
        message: String,
        /// The offending parameter, when one is.
        param: Option<String>,
        /// Stripe's error code (`parameter_missing`, `resource_missing`, ...).
        code: &'static str,
    },
    /// An object id Stripe does not know (404 `resource_missing`).
    #[error("No such {kind}: '{id}'")]
    NoSuchObject {
        /// Object kind (`customer`, `subscription`, ...).
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// An `Idempotency-Key` reused with different parameters (400 `idempotency_error`).
    #[error("Keys for idempotent requests can only be used with the same parameters they were first used with.")]
    IdempotencyMismatch,
}

impl StripeError {
    /// A missing required parameter.
    pub fn missing(param: &str) -> Self {
        StripeError::InvalidRequest {
            message: format!("Missing required param: {param}."),
            param: Some(param.to_string()),
            code: "parameter_missing",
        }
    }

    /// A parameter with a value Stripe refuses.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        StripeError::InvalidRequest {
            message: message.into(),
            param: Some(param.to_string()),
            code: "parameter_invalid_empty",
        }
    }

    /// HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            StripeError::Unauthorized => StatusCode::UNAUTHORIZED,
            StripeError::InvalidRequest { .. } | StripeError::IdempotencyMismatch => StatusCode::BAD_REQUEST,
            StripeError::NoSuchObject { .. } => StatusCode::NOT_FOUND,
        }
    }

    /// The JSON body, in Stripe's shape.
    pub fn body(&self) -> serde_json::Value {
        let message = self.to_string();
        match self {
            StripeError::Unauthorized => json!({"error": {"type": "invalid_request_error", "message": message}}),
            StripeError::InvalidRequest { param, code, .. } => json!({"error": {
                "type": "invalid_request_error", "message": message, "code": code, "param": param,
            }}),
            StripeError::NoSuchObject { .. } => json!({"error": {
                "type": "invalid_request_error", "message": message, "code": "resource_missing", "param": "id",
            }}),
            StripeError::IdempotencyMismatch => json!({"error": {"type": "idempotency_error", "message": message}}),
        }
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}
