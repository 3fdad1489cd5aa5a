//! The control plane's one error type, mapped to HTTP in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

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
    #[error("tls: {0}")]
    Tls(String),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // The cause is logged here, once; the body stays generic.
        tracing::error!(error = %self, "request failed");
        let body = axum::Json(serde_json::json!({ "message": "internal error" }));
        (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
    }
}
