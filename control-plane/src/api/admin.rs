//! The admin JSON API of one tenant (`/api/v1/tenants/{slug}/...`): members, caller tokens,
//! identities, policy and the audit log. Callers are admins ([`TenantAdmin`]: an admin API token
//! in `Authorization: Bearer shoal_...`, or their browser session with the page's CSRF token in
//! `X-CSRF-Token` on writes). Each handler calls the domain's use case the pages call too.

use super::extract::{Json, Path};
use super::schema::{self, AdminRefusals, ErrorOut, TenantSlug};
use crate::Error;
use crate::access::TenantAdmin;
use crate::audit::{self, AuditEntry};
use crate::identities::{self, Identity, IdentityPatch, NewCredential, NewIdentity};
use crate::state::AppState;
use crate::tenants::Role;
use crate::tenants::members::{self, Member, Removed};
use crate::tenants::policy::{self, MAX_TTL_SECS, PolicySettings};
use crate::tenants::policy_module::{self, Decided, ModuleState};
use crate::tokens::{self, CallerToken};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use shoal_common::protocol::OnFailure;
use shoal_common::{CallerTokenId, IdentityId, Secret, UserId};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{slug}/members", get(list_members))
        .route(
            "/api/v1/tenants/{slug}/members/{user_id}",
            patch(update_member).delete(remove_member),
        )
        .route("/api/v1/tenants/{slug}/removed-members", get(list_removed_members))
        .route(
            "/api/v1/tenants/{slug}/removed-members/{user_id}",
            delete(allow_removed_member_back),
        )
        .route(
            "/api/v1/tenants/{slug}/tokens",
            get(list_caller_tokens).post(create_caller_token),
        )
        .route("/api/v1/tenants/{slug}/tokens/{token_id}", delete(revoke_caller_token))
        .route(
            "/api/v1/tenants/{slug}/identities",
            get(list_identities).post(create_identity),
        )
        .route(
            "/api/v1/tenants/{slug}/identities/{identity_id}",
            patch(update_identity).delete(delete_identity),
        )
        .route("/api/v1/tenants/{slug}/policy", get(get_policy).put(update_policy))
        .route(
            "/api/v1/tenants/{slug}/policy/module",
            get(get_policy_module)
                .put(upload_policy_module)
                .layer(DefaultBodyLimit::max(policy_module::UPLOAD_BODY_LIMIT)),
        )
        .route(
            "/api/v1/tenants/{slug}/policy/module/restore",
            post(restore_policy_module),
        )
        .route(
            "/api/v1/tenants/{slug}/policy/module/on-failure",
            put(update_policy_module_on_failure),
        )
        .route("/api/v1/tenants/{slug}/policy/module/test", post(test_policy_module))
        .route("/api/v1/tenants/{slug}/audit", get(list_audit))
}

// ---------------------------------------------------------------- members

/// List members.
#[utoipa::path(
    get, path = "/api/v1/tenants/{slug}/members", tag = "admin", params(TenantSlug),
    responses((status = 200, description = "Members, admins first.", body = Vec<Member>), AdminRefusals),
)]
async fn list_members(State(state): State<AppState>, admin: TenantAdmin) -> Result<axum::Json<Vec<Member>>, Error> {
    Ok(axum::Json(members::list(&state, &admin).await?))
}

/// `PATCH .../members/{user_id}`.
#[derive(Deserialize, ToSchema)]
struct MemberIn {
    /// The new role.
    #[schema(value_type = Role)]
    role: String,
}

/// Promote or demote a member.
#[utoipa::path(
    patch, path = "/api/v1/tenants/{slug}/members/{user_id}", tag = "admin",
    params(TenantSlug, ("user_id" = Uuid, Path, description = "The member's user id.")),
    request_body = MemberIn,
    responses(
        (status = 200, description = "All members after the change.", body = Vec<Member>),
        (status = 400, description = "A user id that is not a UUID, or a body that is not a `MemberIn` (an unknown role).", body = ErrorOut),
        (status = 409, description = "That would leave the tenant without an admin.", body = ErrorOut),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn update_member(
    State(state): State<AppState>,
    Path((_, user)): Path<(String, Uuid)>,
    admin: TenantAdmin,
    Json(input): Json<MemberIn>,
) -> Result<axum::Json<Vec<Member>>, Error> {
    let role = Role::parse(&input.role)?;
    members::change_role(&state, &admin, UserId(user), role).await?;
    Ok(axum::Json(members::list(&state, &admin).await?))
}

/// Remove a member and revoke their tokens.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{slug}/members/{user_id}", tag = "admin",
    params(TenantSlug, ("user_id" = Uuid, Path, description = "The member's user id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, description = "A user id that is not a UUID.", body = ErrorOut),
        (status = 409, description = "The last admin cannot be removed.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn remove_member(
    State(state): State<AppState>,
    Path((_, user)): Path<(String, Uuid)>,
    admin: TenantAdmin,
) -> Result<StatusCode, Error> {
    members::remove(&state, &admin, UserId(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List people an admin removed (they stay out at sign-in until let back in).
#[utoipa::path(
    get, path = "/api/v1/tenants/{slug}/removed-members", tag = "admin", params(TenantSlug),
    responses((status = 200, description = "Removed people, most recent first.", body = Vec<Removed>), AdminRefusals),
)]
async fn list_removed_members(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<axum::Json<Vec<Removed>>, Error> {
    Ok(axum::Json(members::list_removals(&state, &admin).await?))
}

/// Let a removed person join again at their next sign-in.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{slug}/removed-members/{user_id}", tag = "admin",
    params(TenantSlug, ("user_id" = Uuid, Path, description = "The removed person's user id.")),
    responses(
        (status = 204, description = "They can join again."),
        (status = 400, description = "A user id that is not a UUID.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn allow_removed_member_back(
    State(state): State<AppState>,
    Path((_, user)): Path<(String, Uuid)>,
    admin: TenantAdmin,
) -> Result<StatusCode, Error> {
    members::let_back(&state, &admin, UserId(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- caller tokens

/// List every caller token (never the tokens themselves).
#[utoipa::path(
    get, path = "/api/v1/tenants/{slug}/tokens", tag = "admin", params(TenantSlug),
    responses((status = 200, description = "Tokens, live first.", body = Vec<CallerToken>), AdminRefusals),
)]
async fn list_caller_tokens(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<axum::Json<Vec<CallerToken>>, Error> {
    Ok(axum::Json(tokens::list(&state, &admin).await?))
}

/// `POST .../tokens`: a caller token for the calling admin.
#[derive(Deserialize, ToSchema)]
struct CallerTokenIn {
    /// What it is for (`laptop`, `ci`).
    #[schema(schema_with = schema::name)]
    name: String,
    /// When it stops working (RFC 3339, e.g. `2027-01-31T12:00:00Z`): in the future and within
    /// two years. Absent or null: never.
    #[serde(default)]
    #[schema(format = DateTime, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$")]
    expires_at: Option<String>,
}

/// The new caller token.
#[derive(Serialize, ToSchema)]
struct CallerTokenCreatedOut {
    /// The token (`shoal_` and 43 base62 characters), shown this once.
    token: String,
    /// How it is listed from now on.
    caller_token: CallerToken,
}

/// Create a caller token for the calling admin.
#[utoipa::path(
    post, path = "/api/v1/tenants/{slug}/tokens", tag = "admin", params(TenantSlug),
    request_body = CallerTokenIn,
    responses(
        (status = 201, description = "The token, shown once.", body = CallerTokenCreatedOut),
        (status = 400, description = "A bad name or expiry, or a body that is not a `CallerTokenIn`.", body = ErrorOut),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorOut),
        (status = 422, description = "The expiry is in the past or more than two years away.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn create_caller_token(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Json(input): Json<CallerTokenIn>,
) -> Result<Response, Error> {
    let expires_at = input.expires_at.as_deref().map(parse_expiry).transpose()?;
    let (tok, secret) = tokens::create(&state, &admin, &input.name, expires_at).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CallerTokenCreatedOut {
            token: secret.expose().to_string(),
            caller_token: tok,
        }),
    )
        .into_response())
}

/// Revoke a caller token.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{slug}/tokens/{token_id}", tag = "admin",
    params(TenantSlug, ("token_id" = Uuid, Path, description = "The caller token's id.")),
    responses(
        (status = 200, description = "The revoked token.", body = CallerToken),
        (status = 400, description = "A token id that is not a UUID.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn revoke_caller_token(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, Uuid)>,
    admin: TenantAdmin,
) -> Result<axum::Json<CallerToken>, Error> {
    Ok(axum::Json(tokens::revoke(&state, &admin, CallerTokenId(id)).await?))
}

// ---------------------------------------------------------------- identities

/// List pooled identities (never their secrets).
#[utoipa::path(
    get, path = "/api/v1/tenants/{slug}/identities", tag = "admin", params(TenantSlug),
    responses((status = 200, description = "Identities.", body = Vec<Identity>), AdminRefusals),
)]
async fn list_identities(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<axum::Json<Vec<Identity>>, Error> {
    Ok(axum::Json(identities::list(&state, &admin).await?))
}

/// `POST .../identities`: a PAT or a GitHub App installation, told apart by `kind`.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum IdentityIn {
    /// A personal access token.
    Pat {
        /// Its name in this tenant.
        #[schema(schema_with = schema::name)]
        name: String,
        /// The token: checked with GitHub `/user` and `/rate_limit`, then sealed; never returned.
        #[schema(schema_with = schema::github_token)]
        token: Secret,
        #[serde(default)]
        #[schema(schema_with = schema::scopes)]
        scopes: Vec<String>,
    },
    /// A GitHub App installation.
    GithubApp {
        /// Its name in this tenant.
        #[schema(schema_with = schema::name)]
        name: String,
        /// The App's id.
        #[serde(deserialize_with = "whole_id")]
        #[schema(minimum = 1, maximum = 9007199254740991_i64)]
        app_id: i64,
        /// The installation's id.
        #[serde(deserialize_with = "whole_id")]
        #[schema(minimum = 1, maximum = 9007199254740991_i64)]
        installation_id: i64,
        #[schema(schema_with = schema::private_key)]
        private_key: Secret,
        #[serde(default)]
        #[schema(schema_with = schema::scopes)]
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

/// Add a PAT (checked with GitHub /user and /rate_limit) or a GitHub App installation (checked by
/// minting an installation token with the App's key).
#[utoipa::path(
    post, path = "/api/v1/tenants/{slug}/identities", tag = "admin", params(TenantSlug),
    request_body = IdentityIn,
    responses(
        (status = 201, description = "The identity.", body = Identity),
        (status = 400, description = "A bad name, scopes, ids or key, or a body that is not an `IdentityIn`.", body = ErrorOut),
        (status = 402, description = "Billing is on and the tenant's plan allows no more identities; the message names the plan, the cap and the upgrade URL. Nothing is saved.", body = ErrorOut),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorOut),
        (status = 422, description = "The App key is not an RSA key, or GitHub refused the token, the App key, or knows no such installation.", body = ErrorOut),
        (status = 502, description = "GitHub could not be reached.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn create_identity(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Json(input): Json<IdentityIn>,
) -> Result<Response, Error> {
    let ident = identities::add(&state, &admin, input.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(ident)).into_response())
}

/// `PATCH .../identities/{identity_id}`: absent or null fields stay as they are.
#[derive(Deserialize, ToSchema)]
struct IdentityPatchIn {
    #[serde(default)]
    #[schema(schema_with = schema::scopes_or_null)]
    scopes: Option<Vec<String>>,
    /// Disabled identities are not used.
    #[serde(default)]
    enabled: Option<bool>,
}

/// Change scopes or enable/disable.
#[utoipa::path(
    patch, path = "/api/v1/tenants/{slug}/identities/{identity_id}", tag = "admin",
    params(TenantSlug, ("identity_id" = Uuid, Path, description = "The identity's id.")),
    request_body = IdentityPatchIn,
    responses(
        (status = 200, description = "The identity.", body = Identity),
        (status = 400, description = "An identity id that is not a UUID, bad scopes, or a body that is not an `IdentityPatchIn`.", body = ErrorOut),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn update_identity(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, Uuid)>,
    admin: TenantAdmin,
    Json(input): Json<IdentityPatchIn>,
) -> Result<axum::Json<Identity>, Error> {
    let patch = IdentityPatch {
        scopes: input.scopes,
        enabled: input.enabled,
    };
    Ok(axum::Json(
        identities::update(&state, &admin, IdentityId(id), patch).await?,
    ))
}

/// Delete an identity and its sealed secret.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{slug}/identities/{identity_id}", tag = "admin",
    params(TenantSlug, ("identity_id" = Uuid, Path, description = "The identity's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "An identity id that is not a UUID.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn delete_identity(
    State(state): State<AppState>,
    Path((_, id)): Path<(String, Uuid)>,
    admin: TenantAdmin,
) -> Result<StatusCode, Error> {
    identities::delete(&state, &admin, IdentityId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- policy and audit

/// The tenant's policy.
#[utoipa::path(
    get, path = "/api/v1/tenants/{slug}/policy", tag = "admin", params(TenantSlug),
    responses((status = 200, description = "Policy.", body = PolicySettings), AdminRefusals),
)]
async fn get_policy(State(state): State<AppState>, admin: TenantAdmin) -> Result<axum::Json<PolicySettings>, Error> {
    Ok(axum::Json(policy::get(&state, &admin).await?))
}

/// `PUT .../policy`: the whole policy.
#[derive(Deserialize, ToSchema)]
struct PolicyIn {
    #[schema(schema_with = schema::owners)]
    allowed_owners: Vec<String>,
    /// Check a repo is public before spending a pooled identity on it.
    public_only: bool,
    /// Allow search endpoints.
    search_allowed: bool,
    /// Serve public raw contents without an identity.
    token_free_reads: bool,
    #[serde(deserialize_with = "whole_seconds")]
    #[schema(schema_with = schema::ttl_overrides)]
    ttl_overrides: BTreeMap<String, u64>,
}

/// An expiry as the document states it: the RFC 3339 shape (else 400), then a real instant (a
/// 31st of February or a misplaced leap second is well formed but no date: 422).
fn parse_expiry(text: &str) -> Result<OffsetDateTime, Error> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape_of_date = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let mut rest = b.get(19..).unwrap_or_default();
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        rest = if n == 0 { &b"!"[..] } else { &frac[n..] };
    }
    let offset = rest == b"Z"
        || (rest.len() == 6
            && matches!(rest[0], b'+' | b'-')
            && rest[1..3].iter().all(u8::is_ascii_digit)
            && rest[3] == b':'
            && rest[4..6].iter().all(u8::is_ascii_digit));
    if !(shape_of_date && offset) {
        return Err(Error::BadRequest(
            "expires_at must be an RFC 3339 date and time such as 2027-01-31T12:00:00Z".into(),
        ));
    }
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::Unprocessable(format!("expires_at is not a real date and time: {e}")))
}

/// An id as a whole number: JSON Schema's `integer`, which the document states, includes `77.0`.
fn whole_id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        })
        .ok_or_else(|| D::Error::custom("an id is a whole number"))
}

/// TTLs in whole seconds. JSON Schema's `integer`, which the document states, includes `60.0`;
/// serde's `u64` alone would refuse it.
fn whole_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u64>, D::Error> {
    BTreeMap::<String, serde_json::Number>::deserialize(d)?
        .into_iter()
        .map(|(class, n)| {
            let secs = n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && (0.0..=MAX_TTL_SECS as f64).contains(f))
                    .map(|f| f as u64)
            });
            let secs = secs.ok_or_else(|| {
                D::Error::custom(format!(
                    "the TTL for {class} must be a whole number of seconds up to {MAX_TTL_SECS}"
                ))
            })?;
            Ok((class, secs))
        })
        .collect()
}

impl From<PolicyIn> for PolicySettings {
    fn from(input: PolicyIn) -> Self {
        PolicySettings {
            allowed_owners: input.allowed_owners,
            public_only: input.public_only,
            search_allowed: input.search_allowed,
            token_free_reads: input.token_free_reads,
            ttl_overrides: input.ttl_overrides,
        }
    }
}

/// Replace the tenant's policy.
#[utoipa::path(
    put, path = "/api/v1/tenants/{slug}/policy", tag = "admin", params(TenantSlug),
    request_body = PolicyIn,
    responses(
        (status = 200, description = "The saved policy.", body = PolicySettings),
        (status = 400, description = "A bad owner name or TTL, or a body that is not a `PolicyIn`.", body = ErrorOut),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn update_policy(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Json(input): Json<PolicyIn>,
) -> Result<axum::Json<PolicySettings>, Error> {
    Ok(axum::Json(policy::update(&state, &admin, input.into()).await?))
}

/// The tenant's policy module: the one in force, the previous one, the failure setting, and the
/// failures and log lines workers reported.
#[utoipa::path(
    get, path = "/api/v1/tenants/{slug}/policy/module", tag = "admin", params(TenantSlug),
    responses((status = 200, description = "The policy module state.", body = ModuleState), AdminRefusals),
)]
async fn get_policy_module(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<axum::Json<ModuleState>, Error> {
    Ok(axum::Json(policy_module::get(&state, &admin).await?))
}

/// `PUT .../policy/module`: exactly one of the two (its schema: [`schema::policy_module_in`]).
#[derive(Deserialize)]
struct PolicyModuleIn {
    /// The module as WebAssembly text (`.wat`).
    #[serde(default)]
    wat: Option<String>,
    /// The binary module (`.wasm`), base64.
    #[serde(default)]
    wasm_base64: Option<String>,
}

impl utoipa::PartialSchema for PolicyModuleIn {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::Schema::OneOf(schema::policy_module_in()).into()
    }
}

impl ToSchema for PolicyModuleIn {
    fn name() -> std::borrow::Cow<'static, str> {
        "PolicyModuleIn".into()
    }
}

/// What an upload did.
#[derive(Serialize, ToSchema)]
struct PolicyModuleOut {
    /// What the module decided for each sample request of the dry run.
    dry_run: Vec<Decided>,
    module: ModuleState,
}

/// Upload a policy module: validated, dry-run on sample requests, stored with its hash and put in
/// force; the one before it is kept as the previous.
#[utoipa::path(
    put, path = "/api/v1/tenants/{slug}/policy/module", tag = "admin", params(TenantSlug),
    request_body = PolicyModuleIn,
    responses(
        (status = 200, description = "Stored and in force, with the dry run's decisions.", body = PolicyModuleOut),
        (status = 400, description = "Neither or both of `wat` and `wasm_base64`.", body = ErrorOut),
        (status = 413, description = "The body is over 3 MiB.", body = ErrorOut),
        (status = 422, description = "`wasm_base64` is not base64, or not a valid policy module, or its dry run failed (it says why). Nothing is stored.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn upload_policy_module(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Json(input): Json<PolicyModuleIn>,
) -> Result<axum::Json<PolicyModuleOut>, Error> {
    use base64::Engine as _;
    let source = match (input.wat, input.wasm_base64) {
        (Some(wat), None) => wat.into_bytes(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| Error::Unprocessable("wasm_base64 is not base64".into()))?,
        _ => return Err(Error::BadRequest("send exactly one of wat and wasm_base64".into())),
    };
    let dry_run = policy_module::upload(&state, &admin, &source).await?;
    Ok(axum::Json(PolicyModuleOut {
        dry_run,
        module: policy_module::get(&state, &admin).await?,
    }))
}

/// Put the previous policy module back in force.
#[utoipa::path(
    post, path = "/api/v1/tenants/{slug}/policy/module/restore", tag = "admin", params(TenantSlug),
    responses(
        (status = 200, description = "The previous module is in force.", body = ModuleState),
        (status = 409, description = "There is no previous module.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn restore_policy_module(
    State(state): State<AppState>,
    admin: TenantAdmin,
) -> Result<axum::Json<ModuleState>, Error> {
    Ok(axum::Json(policy_module::restore(&state, &admin).await?))
}

/// `PUT .../policy/module/on-failure`.
#[derive(Deserialize, ToSchema)]
struct OnFailureIn {
    /// `serve` (as if there were no module) or `fallback_local`.
    #[schema(value_type = String, pattern = "^(serve|fallback_local)$")]
    on_failure: OnFailure,
}

/// Set how requests the module fails on are answered.
#[utoipa::path(
    put, path = "/api/v1/tenants/{slug}/policy/module/on-failure", tag = "admin", params(TenantSlug),
    request_body = OnFailureIn,
    responses(
        (status = 200, description = "Saved.", body = ModuleState),
        (status = 400, description = "Not `serve` or `fallback_local`.", body = ErrorOut),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn update_policy_module_on_failure(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Json(input): Json<OnFailureIn>,
) -> Result<axum::Json<ModuleState>, Error> {
    policy_module::set_on_failure(&state, &admin, input.on_failure).await?;
    Ok(axum::Json(policy_module::get(&state, &admin).await?))
}

/// `POST .../policy/module/test`.
#[derive(Deserialize, ToSchema)]
struct TestRequestIn {
    /// `GET`, `HEAD` or `POST` (GraphQL).
    #[schema(pattern = "^(GET|HEAD|POST)$")]
    method: String,
    /// A path such as `/repos/octo-org/hello-world/pulls/1`, `/search/issues?q=...` or `/graphql`.
    #[schema(pattern = "^/", max_length = 2048)]
    path: String,
}

/// What the module in force decides for a method and path.
#[utoipa::path(
    post, path = "/api/v1/tenants/{slug}/policy/module/test", tag = "admin", params(TenantSlug),
    request_body = TestRequestIn,
    responses(
        (status = 200, description = "The module's decision.", body = Decided),
        (status = 400, description = "A bad method or path.", body = ErrorOut),
        (status = 409, description = "No module has been uploaded.", body = ErrorOut),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorOut),
        AdminRefusals,
    ),
)]
async fn test_policy_module(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Json(input): Json<TestRequestIn>,
) -> Result<axum::Json<Decided>, Error> {
    Ok(axum::Json(
        policy_module::test_request(&state, &admin, &input.method, &input.path).await?,
    ))
}

/// The latest audit rows, newest first.
#[utoipa::path(
    get, path = "/api/v1/tenants/{slug}/audit", tag = "admin", params(TenantSlug),
    responses((status = 200, description = "Audit rows, newest first.", body = Vec<AuditEntry>), AdminRefusals),
)]
async fn list_audit(State(state): State<AppState>, admin: TenantAdmin) -> Result<axum::Json<Vec<AuditEntry>>, Error> {
    Ok(axum::Json(audit::list(&state, &admin).await?))
}
