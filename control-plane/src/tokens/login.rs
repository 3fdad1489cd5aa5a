//! What `shoal login` does: the user's own GitHub token and a tenant slug in; GitHub confirms who
//! the token belongs to and that they are an active member of the tenant's org; out comes a
//! caller token named for the device. Someone GitHub no longer lists in the org is removed from
//! the tenant and their tokens are revoked.

use crate::Error;
use crate::audit::Actor;
use crate::billing::Standing;
use crate::db::begin_tenant;
use crate::state::AppState;
use crate::tenants::{self, Tenant, members, sync};
use crate::tokens::{create_caller_token, validate_token_name};
use crate::users::{User, upsert_user};
use shoal_common::Secret;
use std::net::IpAddr;
use time::OffsetDateTime;

/// A login request.
pub struct LoginRequest<'a> {
    /// The user's own GitHub token (`gh auth token`). Used once, never stored.
    pub github_token: &'a Secret,
    /// The tenant slug.
    pub tenant: &'a str,
    /// Names the minted caller token (`alice-laptop`).
    pub device_name: &'a str,
}

/// A caller token minted for a device.
pub struct DeviceToken {
    /// The token, shown this once.
    pub token: Secret,
    /// Its tenant.
    pub tenant: Tenant,
    /// Its owner.
    pub user: User,
}

/// Exchanges a GitHub token for a caller token of the tenant, for an active member of its org.
pub async fn exchange(state: &AppState, ip: Option<IpAddr>, req: LoginRequest<'_>) -> Result<DeviceToken, Error> {
    let device = validate_token_name(req.device_name)
        .map_err(|_| Error::BadRequest("device_name must be 1 to 100 characters".into()))?;
    let gh_token = req.github_token.expose().trim();
    if gh_token.is_empty() || gh_token.len() > 255 {
        return Err(Error::BadRequest(
            "github_token is required (the output of `gh auth token`)".into(),
        ));
    }
    let tenant = tenants::resolve(&state.pool, req.tenant).await.map_err(|e| match e {
        Error::NotFound => Error::Missing(format!("there is no tenant named {:?}", req.tenant.trim())),
        e => e,
    })?;
    if let Standing::Suspended { reason } = tenant
        .account()
        .standing(&state.config.billing, OffsetDateTime::now_utc())
    {
        return Err(Error::Forbidden(format!(
            "the tenant {} is suspended: {reason}",
            tenant.slug
        )));
    }
    let gh_user = state.github.user(gh_token).await.map_err(|e| match e {
        Error::GithubRejected(_) => {
            Error::Unauthorized("GitHub refused this token; run `gh auth login` and try again".into())
        }
        e => e,
    })?;
    let membership = state
        .github
        .org_membership(gh_token, &tenant.github_org)
        .await
        .map_err(|e| match e {
            Error::GithubRejected(m) => Error::Forbidden(m),
            e => e,
        })?;
    let user = upsert_user(&state.pool, &gh_user).await?;
    let actor = Actor::user(user.id, ip);
    let Some(membership) = membership.filter(|m| m.is_active()) else {
        sync::leave(&state.pool, &tenant, user.id).await?;
        return Err(Error::Forbidden(format!(
            "GitHub does not list {} as a member of {}; only org members can use this tenant (a token without read:org cannot show it)",
            gh_user.login, tenant.github_org
        )));
    };
    let mut tx = begin_tenant(&state.pool, tenant.id).await?;
    if members::join_tenant(&mut tx, &state.config.billing, actor, user.id, membership.is_admin())
        .await?
        .is_none()
    {
        return Err(Error::Forbidden(format!(
            "an admin of {} removed {} from this tenant; ask one to let you back in",
            tenant.slug, gh_user.login
        )));
    }
    let (_, token) = create_caller_token(&mut tx, &state.config.keys.pepper, actor, user.id, &device, None).await?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %tenant.slug, user.login = %user.login, "login exchange minted a caller token");
    Ok(DeviceToken { token, tenant, user })
}
