//! `POST /api/v1/login/exchange`: what `shoal login` calls. The user's own GitHub token and a
//! tenant slug in; GitHub confirms who the token belongs to and that they are an active member of
//! the tenant's org; out comes a caller token named for the device. Someone GitHub no longer lists
//! in the org is removed from the tenant and their tokens are revoked.

use crate::Error;
use crate::api::json_body;
use crate::audit::Actor;
use crate::db::begin_tenant;
use crate::tenants::{self, members, sync};
use crate::tokens::{create_caller_token, validate_token_name};
use crate::users::upsert_user;
use crate::web::AppState;
use crate::web::auth::ClientIp;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::{Deserialize, Serialize};
use shoal_common::Secret;

/// The request body.
#[derive(Deserialize)]
pub struct LoginExchangeIn {
    /// The user's own GitHub token (`gh auth token`). Used once, never stored.
    pub github_token: Secret,
    /// The tenant slug.
    pub tenant: String,
    /// Names the minted caller token (`alice-laptop`).
    pub device_name: String,
}

/// The response body.
#[derive(Serialize)]
pub struct LoginExchangeOut {
    /// The new caller token, shown this once.
    pub token: String,
    /// The tenant slug.
    pub tenant: String,
    /// The tenant's relay host (`<slug>.<base domain>`).
    pub host: String,
    /// The GitHub login the token belongs to.
    pub user: String,
    /// PEM of the dev CA that signs tenant hosts' certificates, when the edge uses one (no
    /// production certificate configured), so the CLI can trust it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

/// The dev CA certificate the edge issues tenant certificates from, if that is how it runs.
fn dev_ca_pem(state: &AppState) -> Option<String> {
    if state.config.edge.tls_files.is_some() {
        return None;
    }
    std::fs::read_to_string(state.config.state_dir.join("ca").join("ca.pem")).ok()
}

pub(crate) async fn exchange_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<Json<LoginExchangeIn>, JsonRejection>,
) -> Result<Json<LoginExchangeOut>, Error> {
    state.check_login_rate(ip)?;
    let input = json_body(body)?;
    let device = validate_token_name(&input.device_name)
        .map_err(|_| Error::BadRequest("device_name must be 1 to 100 characters".into()))?;
    let gh_token = input.github_token.expose().trim();
    if gh_token.is_empty() || gh_token.len() > 255 {
        return Err(Error::BadRequest(
            "github_token is required (the output of `gh auth token`)".into(),
        ));
    }
    let tenant = tenants::find_tenant_by_slug(&state.pool, input.tenant.trim())
        .await?
        .ok_or_else(|| Error::Missing(format!("there is no tenant named {:?}", input.tenant.trim())))?;
    if tenant.status != "active" {
        return Err(Error::Forbidden(format!("the tenant {} is suspended", tenant.slug)));
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
    if members::join_tenant(&mut tx, actor, user.id, membership.is_admin())
        .await?
        .is_none()
    {
        return Err(Error::Forbidden(format!(
            "an admin of {} removed {} from this tenant; ask one to let you back in",
            tenant.slug, gh_user.login
        )));
    }
    let (_, secret) = create_caller_token(&mut tx, &state.config.keys.pepper, actor, user.id, &device, None).await?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %tenant.slug, user.login = %user.login, "login exchange minted a caller token");
    Ok(Json(LoginExchangeOut {
        token: secret.expose().to_string(),
        host: state.tenant_host(&tenant.slug),
        tenant: tenant.slug,
        user: user.login,
        ca_pem: dev_ca_pem(&state),
    }))
}
