//! The admin JSON API of one tenant (`/api/v1/tenants/{slug}/...`): members, caller tokens,
//! identities, policy and the audit log. Callers are admins ([`TenantAdmin`]: an admin API token
//! in `Authorization: Bearer shoal_...`, or their browser session with the page's CSRF token in
//! `X-CSRF-Token` on writes). Each handler calls the domain's use case the pages call too.

use crate::Error;
use crate::access::TenantAdmin;
use crate::api::json_body;
use crate::audit::{self, AuditEntry};
use crate::identities::{self, Identity, IdentityPatch, NewCredential, NewIdentity};
use crate::state::AppState;
use crate::tenants::Role;
use crate::tenants::members::{self, Member, Removed};
use crate::tenants::policy::{self, PolicySettings};
use crate::tokens::{self, CallerToken};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shoal_common::{CallerTokenId, IdentityId, Secret, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{slug}/members", get(list_members))
        .route(
            "/api/v1/tenants/{slug}/members/{user_id}",
            patch(update_member).delete(remove_member),
        )
        .route("/api/v1/tenants/{slug}/removed-members", get(list_removed))
        .route(
            "/api/v1/tenants/{slug}/removed-members/{user_id}",
            axum::routing::delete(allow_back),
        )
        .route(
            "/api/v1/tenants/{slug}/tokens",
            get(list_caller_tokens).post(create_caller_token),
        )
        .route(
            "/api/v1/tenants/{slug}/tokens/{token_id}",
            axum::routing::delete(revoke_caller_token),
        )
        .route(
            "/api/v1/tenants/{slug}/identities",
            get(list_identities).post(create_identity),
        )
        .route(
            "/api/v1/tenants/{slug}/identities/{identity_id}",
            patch(update_identity).delete(delete_identity),
        )
        .route("/api/v1/tenants/{slug}/policy", get(get_policy).put(update_policy))
        .route("/api/v1/tenants/{slug}/audit", get(list_audit))
}

// ---------------------------------------------------------------- members

async fn list_members(State(state): State<AppState>, admin: TenantAdmin) -> Result<Json<Vec<Member>>, Error> {
    Ok(Json(members::list(&state, &admin).await?))
}

/// `PATCH .../members/{user_id}`.
#[derive(Deserialize)]
struct MemberIn {
    role: String,
}

async fn update_member(
    State(state): State<AppState>,
    Path((_, user)): Path<(String, Uuid)>,
    admin: TenantAdmin,
    body: Result<Json<MemberIn>, JsonRejection>,
) -> Result<Json<Vec<Member>>, Error> {
    let role = Role::parse(&json_body(body)?.role)?;
    members::change_role(&state, &admin, UserId(user), role).await?;
    Ok(Json(members::list(&state, &admin).await?))
}

async fn remove_member(
    State(state): State<AppState>,
    Path((_, user)): Path<(String, Uuid)>,
    admin: TenantAdmin,
) -> Result<StatusCode, Error> {
    members::remove(&state, &admin, UserId(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_removed(State(state): State<AppState>, admin: TenantAdmin) -> Result<Json<Vec<Removed>>, Error> {
    Ok(Json(members::list_removals(&state, &admin).await?))
}

async fn allow_back(
    State(state): State<AppState>,
    Path((_, user)): Path<(String, Uuid)>,
    admin: TenantAdmin,
) -> Result<StatusCode, Error> {
    members::let_back(&state, &admin, UserId(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- caller tokens

async fn list_caller_tokens(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<Json<Vec<CallerToken>>, Error> {
    Ok(Json(tokens::list(&state, &admin).await?))
}

/// `POST .../tokens`: a caller token for the calling admin.
#[derive(Deserialize)]
struct CallerTokenIn {
    name: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

#[derive(Serialize)]
struct CallerTokenCreatedOut {
    /// Shown this once.
    token: String,
    caller_token: CallerToken,
}

async fn create_caller_token(
    State(state): State<AppState>,
    admin: TenantAdmin,
    body: Result<Json<CallerTokenIn>, JsonRejection>,
) -> Result<Response, Error> {
    let input = json_body(body)?;
    let (tok, secret) = tokens::create(&state, &admin, &input.name, input.expires_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(CallerTokenCreatedOut {
            token: secret.expose().to_string(),
            caller_token: tok,
        }),
    )
        .into_response())
}

async fn revoke_caller_token(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, Uuid)>,
    admin: TenantAdmin,
) -> Result<Json<CallerToken>, Error> {
    Ok(Json(tokens::revoke(&state, &admin, CallerTokenId(id)).await?))
}

// ---------------------------------------------------------------- identities

async fn list_identities(State(state): State<AppState>, admin: TenantAdmin) -> Result<Json<Vec<Identity>>, Error> {
    Ok(Json(identities::list(&state, &admin).await?))
}

/// `POST .../identities`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum IdentityIn {
    Pat {
        name: String,
        token: Secret,
        #[serde(default)]
        scopes: Vec<String>,
    },
    GithubApp {
        name: String,
        app_id: i64,
        installation_id: i64,
        private_key: Secret,
        #[serde(default)]
        scopes: Vec<String>,
    },
}

impl From<IdentityIn> for NewIdentity {
    fn from(input: IdentityIn) -> Self {
        match input {
            IdentityIn::Pat { name, token, scopes } => NewIdentity {
                name,
                scopes,
                credential: NewCredential::Pat { token },
            },
            IdentityIn::GithubApp {
                name,
                app_id,
                installation_id,
                private_key,
                scopes,
            } => NewIdentity {
                name,
                scopes,
                credential: NewCredential::GithubApp {
                    app_id,
                    installation_id,
                    private_key,
                },
            },
        }
    }
}

async fn create_identity(
    State(state): State<AppState>,
    admin: TenantAdmin,
    body: Result<Json<IdentityIn>, JsonRejection>,
) -> Result<Response, Error> {
    let ident = identities::add(&state, &admin, json_body(body)?.into()).await?;
    Ok((StatusCode::CREATED, Json(ident)).into_response())
}

/// `PATCH .../identities/{identity_id}`.
#[derive(Deserialize)]
struct IdentityPatchIn {
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

async fn update_identity(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, Uuid)>,
    admin: TenantAdmin,
    body: Result<Json<IdentityPatchIn>, JsonRejection>,
) -> Result<Json<Identity>, Error> {
    let input = json_body(body)?;
    let patch = IdentityPatch {
        scopes: input.scopes,
        enabled: input.enabled,
    };
    Ok(Json(identities::update(&state, &admin, IdentityId(id), patch).await?))
}

async fn delete_identity(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, Uuid)>,
    admin: TenantAdmin,
) -> Result<StatusCode, Error> {
    identities::delete(&state, &admin, IdentityId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- policy and audit

async fn get_policy(State(state): State<AppState>, admin: TenantAdmin) -> Result<Json<PolicySettings>, Error> {
    Ok(Json(policy::get(&state, &admin).await?))
}

async fn update_policy(
    State(state): State<AppState>,
    admin: TenantAdmin,
    body: Result<Json<PolicySettings>, JsonRejection>,
) -> Result<Json<PolicySettings>, Error> {
    Ok(Json(policy::update(&state, &admin, json_body(body)?).await?))
}

async fn list_audit(State(state): State<AppState>, admin: TenantAdmin) -> Result<Json<Vec<AuditEntry>>, Error> {
    Ok(Json(audit::list(&state, &admin).await?))
}
