//! `POST /api/v1/login/exchange`: what `shoal login` calls. The user's own GitHub token and a
//! tenant slug in, a caller token for the device out (the rules are in [`crate::tokens::login`]).
//! Attempts are rate limited per client address.

use crate::Error;
use crate::api::json_body;
use crate::http::ClientIp;
use crate::state::AppState;
use crate::tokens::login::{self, LoginRequest};
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
    Ok(Json(LoginExchangeOut {
        token: minted.token.expose().to_string(),
        host: state.tenant_host(&minted.tenant.slug),
        tenant: minted.tenant.slug,
        user: minted.user.login,
        ca_pem: dev_ca_pem(&state),
    }))
}
