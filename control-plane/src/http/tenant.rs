//! The tenant a request acts in, named by the route's `{slug}`, and the caller's access to it.
//! Pages take a [`TenantMember`]: a signed-in member (others get the sign-in page, or a 404 page
//! whether or not the tenant exists). The admin JSON API takes a [`TenantAdmin`]: an admin API
//! token in `Authorization`, or an admin's session with the page's CSRF token in `X-CSRF-Token`
//! on writes; its refusals are JSON.

use super::csrf::verify_csrf;
use super::session::{current_user, session_of};
use super::{ClientIp, PageError, SignedIn};
use crate::Error;
use crate::access::{TenantAdmin, TenantMember};
use crate::state::AppState;
use crate::tenants::{self, Tenant};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{Method, header};
use shoal_common::github::credential;

/// The tenant named by the route's `{slug}`.
async fn route_tenant(parts: &mut Parts, state: &AppState) -> Result<Tenant, Error> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| Error::NotFound)?;
    let slug = params
        .iter()
        .find_map(|(k, v)| (k == "slug").then_some(v))
        .ok_or(Error::NotFound)?;
    tenants::resolve(&state.pool, slug).await
}

impl FromRequestParts<AppState> for TenantMember {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let signed = SignedIn::from_request_parts(parts, state).await?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        let tenant = route_tenant(parts, state).await?;
        Ok(TenantMember::enter(state, tenant, signed.user.id, ip).await?)
    }
}

impl FromRequestParts<AppState> for TenantAdmin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let tenant = route_tenant(parts, state).await?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = credential(value.to_str().unwrap_or_default()).ok_or_else(|| {
                Error::Unauthorized("send the admin API token as Authorization: Bearer <token>".into())
            })?;
            return TenantAdmin::by_token(state, tenant, token, ip).await;
        }
        let session = session_of(parts, state).await?;
        let user = current_user(&session).await?.ok_or_else(|| {
            Error::Unauthorized("sign in, or send an admin API token as Authorization: Bearer <token>".into())
        })?;
        if parts.method != Method::GET {
            let given = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            verify_csrf(&session, given).await?;
        }
        TenantMember::enter(state, tenant, user.id, ip)
            .await?
            .admin()
            .map_err(|_| Error::Forbidden("the admin API is for admins of this tenant".into()))
    }
}
