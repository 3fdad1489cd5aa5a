//! GitHub App installations: JWT-authenticated installation token minting.

use axum::http::HeaderMap;
use axum::response::Response;

use crate::error::FakeError;
use crate::state::Shared;

/// `POST /app/installations/{id}/access_tokens`.
pub fn create_installation_token(sh: &Shared, _id: &str, _headers: &HeaderMap, _prefix: &str) -> Response {
    let id = format!("{:08X}", sh.next_counter());
    FakeError::NotFound.into_response_with(&id)
}
