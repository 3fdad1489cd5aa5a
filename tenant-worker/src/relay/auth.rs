//! Who is calling: the caller token from `Authorization: token|Bearer ...`, checked against the
//! tenant's caller-token hashes, and whether it carries the fresh marker (`shoal gh --fresh`).

use crate::error::Error;
use crate::tenant::{Caller, Tenant};
use axum::http::HeaderMap;
use axum::http::header;
use axum::http::request::Parts;
use shoal_common::github::{credential, split_fresh};

fn presented(headers: &HeaderMap) -> Option<(&str, bool)> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    credential(value).map(split_fresh)
}

/// Authenticates the caller from `Authorization: token|Bearer ...` (without its fresh marker).
pub(crate) fn authenticate<'t>(tenant: &'t Tenant, parts: &Parts, now_ms: u64) -> Result<&'t Caller, Error> {
    let (token, _) = presented(&parts.headers).ok_or(Error::Unauthenticated)?;
    tenant.authenticate(token, now_ms).ok_or(Error::BadCredentials)
}

/// Whether the caller's token carries [`shoal_common::github::FRESH_MARKER`].
pub(crate) fn fresh_marked(headers: &HeaderMap) -> bool {
    presented(headers).is_some_and(|(_, fresh)| fresh)
}
