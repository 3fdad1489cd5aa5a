//! The admin JSON API of one tenant (`/api/v1/tenants/{slug}/...`): members, caller tokens,
//! identities, policy and the audit log. Callers are admins, authenticated by an admin API token
//! (`Authorization: Bearer shoal_...`) or by their browser session; a session caller's writes
//! carry the page's CSRF token in `X-CSRF-Token`.

use crate::Error;
use crate::api::json_body;
use crate::audit::{self, Actor, AuditEntry};
use crate::db::{TenantTx, begin_tenant};
use crate::identities::{self, Identity, NewApp, NewPat};
use crate::tenants::members::{self, Member, Removed, Role};
use crate::tenants::policy::{self, PolicySettings};
use crate::tenants::{self, data_key};
use crate::tokens::admin::authenticate_admin_token;
use crate::tokens::{self, CallerToken};
use crate::web::AppState;
use crate::web::auth::{self, ClientIp};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shoal_common::{CallerTokenId, IdentityId, Secret, TenantId, UserId};
use time::OffsetDateTime;
use tower_sessions::Session;
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

/// An authenticated admin inside their tenant's scoped transaction.
struct AdminCtx {
    tenant: TenantId,
    actor: Actor,
    user: UserId,
    tx: TenantTx,
}

/// Resolves the caller: an admin API token if an `Authorization` header is sent, else the
/// session (with a CSRF header on writes). Unknown tenant or non-member: 404; member: 403.
async fn admin_ctx(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    session: &Session,
    ip: ClientIp,
    slug: &str,
) -> Result<AdminCtx, Error> {
    let tenant = tenants::find_tenant_by_slug(&state.pool, slug)
        .await?
        .ok_or(Error::NotFound)?;
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("token "))
            .ok_or_else(|| Error::Unauthorized("send the admin API token as Authorization: Bearer <token>".into()))?;
        let mut tx = begin_tenant(&state.pool, tenant.id).await?;
        let user = authenticate_admin_token(&mut tx, &state.config.keys.pepper, token.trim())
            .await?
            .ok_or_else(|| Error::Unauthorized("unknown or revoked admin API token for this tenant".into()))?;
        return Ok(AdminCtx {
            tenant: tenant.id,
            actor: Actor::user(user, ip.0),
            user,
            tx,
        });
    }
    let user = auth::current_user(session).await?.ok_or_else(|| {
        Error::Unauthorized("sign in, or send an admin API token as Authorization: Bearer <token>".into())
    })?;
    if method != Method::GET {
        let given = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        auth::verify_csrf(session, given).await?;
    }
    let mut tx = begin_tenant(&state.pool, tenant.id).await?;
    match members::find_role(&mut tx, user.id).await? {
        None => Err(Error::NotFound),
        Some(Role::Member) => Err(Error::Forbidden("the admin API is for admins of this tenant".into())),
        Some(Role::Admin) => Ok(AdminCtx {
            tenant: tenant.id,
            actor: Actor::user(user.id, ip.0),
            user: user.id,
            tx,
        }),
    }
}

/// Every handler's caller, for the tenant named by the route's `{slug}`.
impl FromRequestParts<AppState> for AdminCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let slug = params
            .iter()
            .find_map(|(k, v)| (k == "slug").then(|| v.to_string()))
            .ok_or_else(|| Error::NotFound.into_response())?;
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(ip) = ClientIp::from_request_parts(parts, state).await;
        admin_ctx(state, &parts.method, &parts.headers, &session, ip, &slug)
            .await
            .map_err(IntoResponse::into_response)
    }
}

// ---------------------------------------------------------------- members

async fn list_members(mut c: AdminCtx) -> Result<Json<Vec<Member>>, Error> {
    Ok(Json(members::list_members(&mut c.tx).await?))
}

/// `PATCH .../members/{user_id}`.
#[derive(Deserialize)]
struct MemberIn {
    role: String,
}

async fn update_member(
    Path((_, user)): Path<(String, Uuid)>,
    mut c: AdminCtx,
    body: Result<Json<MemberIn>, JsonRejection>,
) -> Result<Json<Vec<Member>>, Error> {
    let role = Role::parse(&json_body(body)?.role)?;
    members::set_role(&mut c.tx, c.actor, UserId(user), role).await?;
    let out = members::list_members(&mut c.tx).await?;
    c.tx.commit().await?;
    Ok(Json(out))
}

async fn remove_member(Path((_, user)): Path<(String, Uuid)>, mut c: AdminCtx) -> Result<StatusCode, Error> {
    members::remove_member(&mut c.tx, c.actor, UserId(user)).await?;
    c.tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_removed(mut c: AdminCtx) -> Result<Json<Vec<Removed>>, Error> {
    Ok(Json(members::list_removed(&mut c.tx).await?))
}

async fn allow_back(Path((_, user)): Path<(String, Uuid)>, mut c: AdminCtx) -> Result<StatusCode, Error> {
    members::allow_back(&mut c.tx, c.actor, UserId(user)).await?;
    c.tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- caller tokens

async fn list_caller_tokens(mut c: AdminCtx) -> Result<Json<Vec<CallerToken>>, Error> {
    Ok(Json(tokens::list_caller_tokens(&mut c.tx, None).await?))
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
    mut c: AdminCtx,
    body: Result<Json<CallerTokenIn>, JsonRejection>,
) -> Result<Response, Error> {
    let input = json_body(body)?;
    let (tok, secret) = tokens::create_caller_token(
        &mut c.tx,
        &state.config.keys.pepper,
        c.actor,
        c.user,
        &input.name,
        input.expires_at,
    )
    .await?;
    c.tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CallerTokenCreatedOut {
            token: secret.expose().to_string(),
            caller_token: tok,
        }),
    )
        .into_response())
}

async fn revoke_caller_token(Path((_, id)): Path<(String, Uuid)>, mut c: AdminCtx) -> Result<Json<CallerToken>, Error> {
    let tok = tokens::revoke_caller_token(&mut c.tx, c.actor, Role::Admin, CallerTokenId(id)).await?;
    c.tx.commit().await?;
    Ok(Json(tok))
}

// ---------------------------------------------------------------- identities

async fn list_identities(mut c: AdminCtx) -> Result<Json<Vec<Identity>>, Error> {
    Ok(Json(identities::list_identities(&mut c.tx).await?))
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

async fn create_identity(
    State(state): State<AppState>,
    c: AdminCtx,
    body: Result<Json<IdentityIn>, JsonRejection>,
) -> Result<Response, Error> {
    let input = json_body(body)?;
    let ident = match input {
        IdentityIn::Pat { name, token, scopes } => {
            identities::validate_name(&name)?;
            let scopes = identities::parse_scopes(&scopes.join(","))?;
            let (tenant, actor, user) = (c.tenant, c.actor, c.user);
            // No transaction is held open while GitHub is asked about the token.
            drop(c);
            let account = identities::validate_pat(&state.github, &token).await?;
            let mut tx = begin_tenant(&state.pool, tenant).await?;
            let dk = data_key(&mut tx, &state.config.keys).await?;
            let ident = identities::insert_pat(
                &mut tx,
                &dk,
                actor,
                user,
                NewPat {
                    name: &name,
                    token: &token,
                    scopes,
                    account,
                },
            )
            .await?;
            tx.commit().await?;
            ident
        }
        IdentityIn::GithubApp {
            name,
            app_id,
            installation_id,
            private_key,
            scopes,
        } => {
            identities::validate_name(&name)?;
            let scopes = identities::parse_scopes(&scopes.join(","))?;
            let (tenant, actor, user) = (c.tenant, c.actor, c.user);
            drop(c);
            identities::validate_app(&state.github, app_id, installation_id, &private_key).await?;
            let mut tx = begin_tenant(&state.pool, tenant).await?;
            let dk = data_key(&mut tx, &state.config.keys).await?;
            let ident = identities::insert_app(
                &mut tx,
                &dk,
                actor,
                user,
                NewApp {
                    name: &name,
                    app_id,
                    installation_id,
                    private_key: &private_key,
                    scopes,
                },
            )
            .await?;
            tx.commit().await?;
            ident
        }
    };
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
    Path((_, id)): Path<(String, Uuid)>,
    mut c: AdminCtx,
    body: Result<Json<IdentityPatchIn>, JsonRejection>,
) -> Result<Json<Identity>, Error> {
    let input = json_body(body)?;
    let id = IdentityId(id);
    if let Some(scopes) = input.scopes {
        let scopes = identities::parse_scopes(&scopes.join(","))?;
        identities::update_scopes(&mut c.tx, c.actor, id, scopes).await?;
    }
    if let Some(enabled) = input.enabled {
        identities::set_enabled(&mut c.tx, c.actor, id, enabled).await?;
    }
    let out = identities::find_identity(&mut c.tx, id).await?.ok_or(Error::NotFound)?;
    c.tx.commit().await?;
    Ok(Json(out))
}

async fn delete_identity(Path((_, id)): Path<(String, Uuid)>, mut c: AdminCtx) -> Result<StatusCode, Error> {
    identities::delete_identity(&mut c.tx, c.actor, IdentityId(id)).await?;
    c.tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- policy and audit

async fn get_policy(mut c: AdminCtx) -> Result<Json<PolicySettings>, Error> {
    Ok(Json(policy::get_policy(&mut c.tx).await?))
}

async fn update_policy(
    mut c: AdminCtx,
    body: Result<Json<PolicySettings>, JsonRejection>,
) -> Result<Json<PolicySettings>, Error> {
    let saved = policy::update_policy(&mut c.tx, c.actor, json_body(body)?).await?;
    c.tx.commit().await?;
    Ok(Json(saved))
}

async fn list_audit(mut c: AdminCtx) -> Result<Json<Vec<AuditEntry>>, Error> {
    Ok(Json(audit::list_audit(&mut c.tx, 500).await?))
}
