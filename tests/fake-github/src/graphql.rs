//! GraphQL at `/graphql` and `/api/graphql`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use crate::error::FakeError;
use crate::state::Shared;

/// Answers a GraphQL request.
pub async fn serve(sh: Arc<Shared>, _ip: IpAddr, _headers: HeaderMap, _method: Method, _body: Bytes) -> Response {
    let id = format!("{:08X}", sh.next_counter());
    FakeError::NotFound.into_response_with(&id)
}
