//! The control API under `/_fake/...`: what tests and outside checks use to set the fake up and
//! read its counters. Each endpoint mirrors a method of [`crate::FakeGithub`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::error::FakeError;
use crate::state::{OAuthApp, SecondaryLimit, Shared, TokenKind};
use crate::world::Role;

/// Routes of the control API.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_fake/tokens", post(create_token))
        .route("/_fake/tokens/revoke", post(revoke_token))
        .route("/_fake/stats", get(get_stats).delete(reset_stats))
        .route("/_fake/stats/reset", post(reset_stats))
        .route("/_fake/touch", post(touch))
        .route("/_fake/secondary-limit", post(set_secondary).delete(clear_secondary))
        .route("/_fake/org-members", post(add_org_member))
        .route("/_fake/oauth/approver", post(set_approver))
        .route("/_fake/oauth/apps", post(register_app))
        .route("/_fake/world", get(get_world))
        .route("/_fake/apps", post(register_gh_app))
        .route("/_fake/faults", post(set_faults).delete(clear_faults).get(get_faults))
        .route("/_fake/installations", post(create_installation))
        .route("/_fake/rate-limit/exhaust", post(exhaust))
}

/// Body of `POST /_fake/tokens`.
#[derive(Debug, Deserialize)]
pub struct TokenIn {
    login: String,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    scopes: Option<String>,
}

/// Default scopes of a registered PAT (`X-OAuth-Scopes`).
pub const DEFAULT_SCOPES: &str = "read:org, repo, workflow";

fn valid_login(l: &str) -> bool {
    !l.is_empty() && l.len() <= 39 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn create_token(State(sh): State<Arc<Shared>>, Json(t): Json<TokenIn>) -> Result<Response, FakeError> {
    if !valid_login(&t.login) {
        return Err(FakeError::BadRequest(
            "login must be 1-39 letters, digits or dashes".into(),
        ));
    }
    let token = sh.add_user_token(
        &t.login,
        TokenKind::Pat,
        t.revoked,
        t.scopes.as_deref().unwrap_or(DEFAULT_SCOPES),
    );
    Ok((StatusCode::CREATED, Json(json!({"token": token}))).into_response())
}

#[derive(Debug, Deserialize)]
struct RevokeIn {
    token: String,
}

async fn revoke_token(State(sh): State<Arc<Shared>>, Json(r): Json<RevokeIn>) -> Result<StatusCode, FakeError> {
    if sh.revoke(&r.token) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(FakeError::NotFound)
    }
}

async fn get_stats(State(sh): State<Arc<Shared>>) -> Json<crate::Stats> {
    Json(sh.meter().stats.clone())
}

async fn reset_stats(State(sh): State<Arc<Shared>>) -> StatusCode {
    sh.meter().stats = crate::Stats::default();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct TouchIn {
    repo: String,
    #[serde(default)]
    path: String,
}

async fn touch(State(sh): State<Arc<Shared>>, Json(t): Json<TouchIn>) -> Result<StatusCode, FakeError> {
    if crate::webhooks::touch(&sh, &t.repo, &t.path) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(FakeError::NotFound)
    }
}

#[derive(Debug, Deserialize)]
struct SecondaryIn {
    token: String,
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default = "default_retry")]
    retry_after: u64,
}

fn default_status() -> u16 {
    403
}

fn default_retry() -> u64 {
    60
}

async fn set_secondary(State(sh): State<Arc<Shared>>, Json(s): Json<SecondaryIn>) -> Result<StatusCode, FakeError> {
    if s.status != 403 && s.status != 429 {
        return Err(FakeError::BadRequest("status must be 403 or 429".into()));
    }
    sh.meter().secondary.insert(
        s.token,
        SecondaryLimit {
            status: s.status,
            retry_after: s.retry_after,
        },
    );
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ClearIn {
    token: String,
}

async fn clear_secondary(State(sh): State<Arc<Shared>>, Json(c): Json<ClearIn>) -> StatusCode {
    sh.meter().secondary.remove(&c.token);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct MemberIn {
    org: String,
    login: String,
    #[serde(default = "default_role")]
    role: Role,
}

fn default_role() -> Role {
    Role::Member
}

async fn add_org_member(State(sh): State<Arc<Shared>>, Json(m): Json<MemberIn>) -> Result<StatusCode, FakeError> {
    if !valid_login(&m.org) || !valid_login(&m.login) {
        return Err(FakeError::BadRequest(
            "org and login must be 1-39 letters, digits or dashes".into(),
        ));
    }
    sh.world_mut().add_org_member(&m.org, &m.login, m.role);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ApproverIn {
    login: Option<String>,
}

async fn set_approver(State(sh): State<Arc<Shared>>, Json(a): Json<ApproverIn>) -> StatusCode {
    if let Some(l) = &a.login {
        sh.world_mut().ensure_user(l);
    }
    sh.auth_mut().oauth_approver = a.login;
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct AppIn {
    client_id: String,
    client_secret: String,
}

async fn register_app(State(sh): State<Arc<Shared>>, Json(a): Json<AppIn>) -> StatusCode {
    sh.auth_mut().oauth_apps.insert(
        a.client_id,
        OAuthApp {
            secret: a.client_secret,
        },
    );
    StatusCode::CREATED
}

async fn get_world(State(sh): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let w = sh.world();
    let repos: Vec<_> = w
        .repos
        .iter()
        .map(|r| {
            json!({"full_name": r.full_name(), "id": r.id, "private": r.private, "items": r.items.len(),
                         "commits": r.commits.len(), "runs": r.runs.len(), "releases": r.releases.len()})
        })
        .collect();
    let mut orgs: Vec<_> = w
        .orgs
        .values()
        .map(|o| json!({"login": o.login, "id": o.id, "members": o.members.iter().map(|(k, v)| (k.clone(), v.as_str())).collect::<std::collections::BTreeMap<_, _>>()}))
        .collect();
    orgs.sort_by(|a, b| a["login"].as_str().cmp(&b["login"].as_str()));
    Json(json!({"seed": w.seed, "repos": repos, "orgs": orgs}))
}

#[derive(Debug, Deserialize)]
struct GhAppIn {
    app_id: u64,
    public_key_pem: String,
}

async fn register_gh_app(State(sh): State<Arc<Shared>>, Json(a): Json<GhAppIn>) -> Result<StatusCode, FakeError> {
    if jsonwebtoken::DecodingKey::from_rsa_pem(a.public_key_pem.as_bytes()).is_err() {
        return Err(FakeError::BadRequest(
            "public_key_pem is not an RSA public key in PEM".into(),
        ));
    }
    sh.auth_mut().apps.insert(
        a.app_id,
        crate::state::App {
            public_key_pem: a.public_key_pem,
        },
    );
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize)]
struct InstallationIn {
    app_id: u64,
    account: String,
}

async fn create_installation(
    State(sh): State<Arc<Shared>>,
    Json(i): Json<InstallationIn>,
) -> Result<Response, FakeError> {
    if !sh.auth().apps.contains_key(&i.app_id) {
        return Err(FakeError::BadRequest(
            "register the app first (POST /_fake/apps)".into(),
        ));
    }
    let id = sh.add_installation(i.app_id, &i.account);
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn set_faults(State(sh): State<Arc<Shared>>, Json(f): Json<crate::Faults>) -> Result<StatusCode, FakeError> {
    if !(0.0..=1.0).contains(&f.error_rate) || !(0.0..=1.0).contains(&f.reset_rate) {
        return Err(FakeError::BadRequest(
            "error_rate and reset_rate must be between 0 and 1".into(),
        ));
    }
    if f.error_status.is_some_and(|s| !(500..=599).contains(&s)) {
        return Err(FakeError::BadRequest("error_status must be a 5xx status".into()));
    }
    sh.meter().faults.set(f);
    Ok(StatusCode::NO_CONTENT)
}

async fn clear_faults(State(sh): State<Arc<Shared>>) -> StatusCode {
    sh.meter().faults.set(crate::Faults::default());
    StatusCode::NO_CONTENT
}

async fn get_faults(State(sh): State<Arc<Shared>>) -> Json<crate::Faults> {
    Json(sh.meter().faults.faults.clone())
}

#[derive(Debug, Deserialize)]
struct ExhaustIn {
    login: String,
    #[serde(default = "default_resource")]
    resource: String,
    #[serde(default = "default_retry")]
    reset_in_secs: u64,
}

fn default_resource() -> String {
    "core".into()
}

async fn exhaust(State(sh): State<Arc<Shared>>, Json(e): Json<ExhaustIn>) -> Result<StatusCode, FakeError> {
    let Some(resource) = crate::Resource::parse(&e.resource) else {
        return Err(FakeError::BadRequest(
            "resource must be core, search, code_search or graphql".into(),
        ));
    };
    if sh.exhaust(&e.login, resource, e.reset_in_secs) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(FakeError::NotFound)
    }
}
