//! `POST /api/v1/login/exchange`: what `shoal login` calls. The user's own GitHub token and a
//! tenant slug in, a caller token for the device out (the rules are in [`crate::tokens::login`]).
//! Attempts are rate limited per client address.

use super::extract::Json;
use super::schema::{self, ErrorOut};
use crate::Error;
use crate::http::ClientIp;
use crate::state::AppState;
use crate::tokens::login::{self, LoginRequest};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shoal_common::Secret;
use utoipa::ToSchema;

/// The request body.
#[derive(Deserialize, ToSchema)]
pub struct LoginExchangeIn {
    /// The user's own GitHub token (`gh auth token`). Used once, never stored.
    #[schema(schema_with = schema::github_token)]
    pub github_token: Secret,
    /// The tenant slug.
    pub tenant: String,
    /// Names the minted caller token (`alice-laptop`).
    #[schema(schema_with = schema::name)]
    pub device_name: String,
}

/// The response body.
#[derive(Serialize, ToSchema)]
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
    #[schema(nullable = false)]
    pub ca_pem: Option<String>,
}

/// The dev CA certificate the edge issues tenant certificates from, if that is how it runs.
fn dev_ca_pem(state: &AppState) -> Option<String> {
    if state.config.edge.tls_files.is_some() {
        return None;
    }
    std::fs::read_to_string(state.config.state_dir.join("ca").join("ca.pem")).ok()
}

/// Exchange the user's GitHub token for a caller token of a tenant (what `shoal login` calls).
#[utoipa::path(
    post,
    path = "/api/v1/login/exchange",
    tag = "login",
    security(),
    request_body = LoginExchangeIn,
    responses(
        (status = 200, description = "A caller token named for the device.", body = LoginExchangeOut),
        (status = 400, description = "Missing or malformed fields.", body = ErrorOut),
        (status = 401, description = "GitHub refused the token.", body = ErrorOut),
        (status = 402, description = "Billing is on and the tenant's plan allows no more members: a newcomer is refused with the plan, the cap and the upgrade URL.", body = ErrorOut),
        (status = 403, description = "GitHub does not list the user as an active member of the tenant's org (their tenant membership and tokens are revoked), or the tenant is suspended.", body = ErrorOut),
        (status = 404, description = "No tenant with that slug.", body = ErrorOut),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorOut),
        (status = 429, description = "Too many attempts from this address; wait a minute.", body = ErrorOut),
        (status = 502, description = "GitHub could not be reached.", body = ErrorOut),
    ),
)]
pub(crate) async fn exchange_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Result<Json<LoginExchangeIn>, Error>,
) -> Result<axum::Json<LoginExchangeOut>, Error> {
    // Counted before the body is read: a bad body is an attempt too.
    state.check_login_rate(ip)?;
    let Json(input) = body?;
    let minted = login::exchange(
        &state,
        ip,
        LoginRequest {
            github_token: &input.github_token,
            tenant: &input.tenant,
            device_name: &input.device_name,
        },
    )
    .await?;
    Ok(axum::Json(LoginExchangeOut {
        token: minted.token.expose().to_string(),
        host: state.tenant_host(&minted.tenant.slug),
        tenant: minted.tenant.slug,
        user: minted.user.login,
        ca_pem: dev_ca_pem(&state),
    }))
}
