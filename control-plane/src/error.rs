//! The control plane's one error type, mapped to HTTP in one place. 4xx messages say what was
//! wrong and how to fix it; 5xx bodies are generic and the cause is logged once, here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Everything that can go wrong in the control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config: {0}")]
    Config(String),
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("embedded postgres: {0}")]
    Embedded(String),
    /// The input was wrong; the message says how to fix it.
    #[error("{0}")]
    BadRequest(String),
    /// Not signed in, or the credential is unknown.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Does not exist, or belongs to another tenant (which is the same thing to the caller).
    #[error("not found")]
    NotFound,
    /// A named thing does not exist; the message names it.
    #[error("{0}")]
    Missing(String),
    /// Clashes with existing state (a taken slug, the last admin).
    #[error("{0}")]
    Conflict(String),
    /// Well formed, but refused for what it holds (a key that is not an RSA key, a past expiry, a
    /// module that does not load): no schema can say so, so it is not a 400.
    #[error("{0}")]
    Unprocessable(String),
    /// The request body is over the limit.
    #[error("the request body is too large")]
    TooLarge,
    /// The tenant's plan does not allow more; the message names the plan, the cap and where to
    /// upgrade.
    #[error("{0}")]
    PlanLimit(String),
    /// Too many attempts from one address.
    #[error("too many attempts; wait a minute and try again")]
    RateLimited,
    /// GitHub refused the credential we were given (a user's or an identity's).
    #[error("{0}")]
    GithubRejected(String),
    /// GitHub could not be reached or answered something unexpected.
    #[error("github: {0}")]
    Github(String),
    #[error("crypto: {0}")]
    Crypto(#[from] shoal_common::Error),
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error("tls: {0}")]
    Tls(String),
    /// Stripe could not be reached or refused a call.
    #[error("stripe: {0}")]
    Stripe(String),
}

impl Error {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound | Error::Missing(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PlanLimit(_) => StatusCode::PAYMENT_REQUIRED,
            Error::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::GithubRejected(_) | Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Github(_) | Error::Stripe(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told. Server-side causes stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Error::Github(_) => "GitHub could not be reached or answered unexpectedly; try again".into(),
            Error::Stripe(_) => "Stripe could not be reached or answered unexpectedly; try again".into(),
            e if e.status().is_server_error() => "internal error".into(),
            e => e.to_string(),
        }
    }

    /// Logs a server-side cause once, where the error turns into a response.
    pub fn log(&self) {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let body = axum::Json(serde_json::json!({ "message": self.public_message() }));
        (self.status(), body).into_response()
    }
}
