//! Who is calling: the caller token from `Authorization: token|Bearer ...`, checked against the
//! tenant's caller-token hashes.

use crate::error::Error;
use crate::tenant::{Caller, Tenant};
use axum::http::header;
use axum::http::request::Parts;
use shoal_common::github::credential;

/// Authenticates the caller from `Authorization: token|Bearer ...`.
pub(crate) fn authenticate<'t>(tenant: &'t Tenant, parts: &Parts, now_ms: u64) -> Result<&'t Caller, Error> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Error::Unauthenticated)?;
    let token = credential(value).ok_or(Error::Unauthenticated)?;
    tenant.authenticate(token, now_ms).ok_or(Error::BadCredentials)
}
