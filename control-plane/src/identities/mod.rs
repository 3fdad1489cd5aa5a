//! Pooled GitHub identities: PATs (checked against GitHub `/user` and `/rate_limit` before they
//! are saved) and GitHub App installations. Secrets are sealed with the tenant's data key, bound
//! to (tenant, identity id), and never shown again: lists carry names, accounts and scopes only.
//! The use cases ([`list`], [`add`], [`update`], [`delete`]) are what the pages and the admin API
//! call; the functions taking a [`TenantTx`] are their steps.

use crate::Error;
use crate::access::{TenantAdmin, TenantMember};
use crate::audit::{self, Actor};
use crate::billing::{self, Capped};
use crate::db::TenantTx;
use crate::github::{GithubClient, is_valid_login};
use crate::state::AppState;
use crate::tenants::{bump_bundle, data_key};
use serde::Serialize;
use shoal_common::crypto::{DataKey, SealedSecret};
use shoal_common::github::app::AppKey;
use shoal_common::{IdentityId, Secret, UserId};
use time::OffsetDateTime;

/// An identity as listed (never its secret).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Identity {
    /// Its id.
    #[sqlx(try_from = "uuid::Uuid")]
    #[schema(value_type = uuid::Uuid)]
    pub id: IdentityId,
    /// `pat` or `github_app`.
    pub kind: String,
    /// Its name in this tenant.
    pub name: String,
    /// App id, for GitHub Apps.
    pub app_id: Option<i64>,
    /// Installation id, for GitHub Apps.
    pub installation_id: Option<i64>,
    /// The GitHub account whose rate limit it spends (PATs).
    pub account_login: Option<String>,
    /// Owner or owner/repo patterns it may serve; empty means any allowed owner.
    pub scopes: Vec<String>,
    /// Disabled identities are not used.
    pub enabled: bool,
    /// Added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An identity an admin asks to add: its name, scope patterns and credential.
pub struct NewIdentity {
    /// Its name in this tenant.
    pub name: String,
    /// Scope patterns (each item may itself hold several, separated by commas or spaces).
    pub scopes: Vec<String>,
    /// The secret and what it is.
    pub credential: NewCredential,
}

/// The credential of a [`NewIdentity`].
pub enum NewCredential {
    /// A personal access token.
    Pat {
        /// The token.
        token: Secret,
    },
    /// A GitHub App installation.
    GithubApp {
        /// The App's id.
        app_id: i64,
        /// The installation's id.
        installation_id: i64,
        /// The App's private key (PEM).
        private_key: Secret,
    },
}

/// What an admin changes on an identity; `None` leaves a field as it is.
#[derive(Debug)]
pub struct IdentityPatch {
    /// New scope patterns.
    pub scopes: Option<Vec<String>>,
    /// Enable or disable it.
    pub enabled: Option<bool>,
}

/// The tenant's identities, for any member.
pub async fn list(state: &AppState, by: &TenantMember) -> Result<Vec<Identity>, Error> {
    list_identities(&mut by.begin(state).await?).await
}

/// Adds an identity: checks the input, asks GitHub whether the credential works, then seals and
/// saves it.
pub async fn add(state: &AppState, admin: &TenantAdmin, new: NewIdentity) -> Result<Identity, Error> {
    let name = validate_name(&new.name)?;
    let scopes = parse_scopes(&new.scopes.join(","))?;
    let (actor, by) = (Actor::from(admin), admin.user);
    match new.credential {
        NewCredential::Pat { token } => {
            let account = validate_pat(&state.github, &token).await?;
            let pat = NewPat {
                name: &name,
                token: &token,
                scopes,
                account,
            };
            save_checked(state, admin, async |tx, dk| insert_pat(tx, dk, actor, by, pat).await).await
        }
        NewCredential::GithubApp {
            app_id,
            installation_id,
            private_key,
        } => {
            validate_app(&state.github, app_id, installation_id, &private_key).await?;
            let app = NewApp {
                name: &name,
                app_id,
                installation_id,
                private_key: &private_key,
                scopes,
            };
            save_checked(state, admin, async |tx, dk| insert_app(tx, dk, actor, by, app).await).await
        }
    }
}

/// Saves an identity GitHub has vouched for. The tenant's transaction opens only here, after
/// GitHub answered: none is held open while GitHub is asked.
async fn save_checked(
    state: &AppState,
    admin: &TenantAdmin,
    insert: impl AsyncFnOnce(&mut TenantTx, &DataKey) -> Result<Identity, Error>,
) -> Result<Identity, Error> {
    let mut tx = admin.begin(state).await?;
    billing::ensure_room(&mut tx, &state.config.billing, Capped::Identities).await?;
    let dk = data_key(&mut tx, &state.config.keys).await?;
    let ident = insert(&mut tx, &dk).await?;
    tx.commit().await?;
    Ok(ident)
}

/// Changes an identity's scopes and/or whether it is enabled; returns it as saved.
pub async fn update(
    state: &AppState,
    admin: &TenantAdmin,
    id: IdentityId,
    patch: IdentityPatch,
) -> Result<Identity, Error> {
    let mut tx = admin.begin(state).await?;
    let actor = Actor::from(admin);
    if let Some(scopes) = patch.scopes {
        update_scopes(&mut tx, actor, id, parse_scopes(&scopes.join(","))?).await?;
    }
    if let Some(enabled) = patch.enabled {
        set_enabled(&mut tx, actor, id, enabled).await?;
    }
    let saved = find_identity(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(saved)
}

/// Deletes an identity and its secret.
pub async fn delete(state: &AppState, admin: &TenantAdmin, id: IdentityId) -> Result<(), Error> {
    let mut tx = admin.begin(state).await?;
    delete_identity(&mut tx, Actor::from(admin), id).await?;
    tx.commit().await
}

const IDENTITY_COLS: &str = "id, kind, name, app_id, installation_id, account_login, scopes, enabled, created_at";

/// An identity's name: 1-100 characters, no control characters.
pub fn validate_name(name: &str) -> Result<String, Error> {
    let n = name.trim();
    if n.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "give the identity a name of 1 to 100 characters".into(),
        ));
    }
    Ok(n.to_string())
}

/// Parses scopes: `owner` or `owner/repo` (the repo part may use `*`), separated by commas,
/// spaces or new lines. Duplicates are dropped.
pub fn parse_scopes(text: &str) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for s in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let (owner, repo) = match s.split_once('/') {
            Some((o, r)) => (o, Some(r)),
            None => (s, None),
        };
        let repo_ok = repo.is_none_or(|r| {
            !r.is_empty() && r.len() <= 100 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b))
        });
        if !is_valid_login(owner) || !repo_ok {
            return Err(Error::BadRequest(format!(
                "{s:?} is not a scope; write owner or owner/repo (the repo may use *)"
            )));
        }
        if !out.iter().any(|x| x.eq_ignore_ascii_case(s)) {
            out.push(s.to_string());
        }
    }
    if out.len() > 100 {
        return Err(Error::BadRequest("at most 100 scopes per identity".into()));
    }
    Ok(out)
}

/// Checks a PAT with GitHub (`/user` for its account, `/rate_limit` that it can be spent) and
/// returns the account it belongs to.
pub async fn validate_pat(github: &GithubClient, token: &Secret) -> Result<(String, i64), Error> {
    let t = token.expose().trim();
    if t.is_empty() || t.len() > 255 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::BadRequest("paste the whole personal access token".into()));
    }
    let user = github.user(t).await.map_err(|e| match e {
        Error::GithubRejected(_) => {
            Error::GithubRejected("GitHub refused this token: check it is correct and not expired".into())
        }
        e => e,
    })?;
    let core = github.rate_limit(t).await?;
    if core.limit <= 0 {
        return Err(Error::GithubRejected(
            "GitHub reports no rate limit for this token".into(),
        ));
    }
    Ok((user.login, user.id))
}

/// Checks an App identity with GitHub before it is saved: the key must sign a JWT GitHub accepts
/// for this App, and the installation must exist.
pub async fn validate_app(github: &GithubClient, app_id: i64, installation_id: i64, key: &Secret) -> Result<(), Error> {
    if app_id <= 0 || installation_id <= 0 {
        return Err(Error::BadRequest(
            "the app id and installation id are positive numbers".into(),
        ));
    }
    let pem = key.expose().trim();
    if !pem.starts_with("-----BEGIN") || pem.len() > 16_384 {
        return Err(Error::BadRequest(
            "paste the App's private key in PEM form (-----BEGIN RSA PRIVATE KEY----- ...)".into(),
        ));
    }
    github.check_app_installation(app_id, installation_id, pem).await
}

/// A new PAT identity, already validated with [`validate_pat`].
pub struct NewPat<'a> {
    /// Its name.
    pub name: &'a str,
    /// The token.
    pub token: &'a Secret,
    /// Scope patterns.
    pub scopes: Vec<String>,
    /// Account login and id GitHub reported for it.
    pub account: (String, i64),
}

/// Saves a validated PAT, sealed with the tenant's data key.
pub async fn insert_pat(
    tx: &mut TenantTx,
    data_key: &DataKey,
    actor: Actor,
    created_by: UserId,
    new: NewPat<'_>,
) -> Result<Identity, Error> {
    let name = validate_name(new.name)?;
    let id = IdentityId::new();
    let sealed = data_key.seal(new.token.expose().trim().as_bytes(), tx.tenant(), id.as_uuid())?;
    sqlx::query(
        "INSERT INTO identities (id, tenant_id, kind, name, sealed_secret, account_login, account_id, scopes, created_by)
         VALUES ($1, $2, 'pat', $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.as_uuid())
    .bind(tx.tenant().as_uuid())
    .bind(&name)
    .bind(sealed.as_bytes())
    .bind(&new.account.0)
    .bind(new.account.1)
    .bind(&new.scopes)
    .bind(created_by.as_uuid())
    .execute(&mut **tx)
    .await?;
    bump_bundle(tx).await?;
    audit::record(
        tx,
        actor,
        "identity.add",
        &name,
        serde_json::json!({ "identity_id": id, "kind": "pat", "account": new.account.0 }),
    )
    .await?;
    find_identity(tx, id).await?.ok_or(Error::NotFound)
}

/// A new GitHub App installation identity.
pub struct NewApp<'a> {
    /// Its name.
    pub name: &'a str,
    /// The App's id.
    pub app_id: i64,
    /// The installation's id.
    pub installation_id: i64,
    /// The App's private key (PEM).
    pub private_key: &'a Secret,
    /// Scope patterns.
    pub scopes: Vec<String>,
}

/// Saves a GitHub App installation; the private key is sealed with the tenant's data key.
pub async fn insert_app(
    tx: &mut TenantTx,
    data_key: &DataKey,
    actor: Actor,
    created_by: UserId,
    new: NewApp<'_>,
) -> Result<Identity, Error> {
    let name = validate_name(new.name)?;
    if new.app_id <= 0 || new.installation_id <= 0 {
        return Err(Error::BadRequest(
            "the app id and installation id are positive numbers".into(),
        ));
    }
    let pem = new.private_key.expose().trim();
    if !(pem.starts_with("-----BEGIN") && pem.contains("PRIVATE KEY-----") && pem.ends_with("-----"))
        || pem.len() > 16_384
    {
        return Err(Error::BadRequest(
            "paste the App's private key in PEM form (-----BEGIN RSA PRIVATE KEY----- ...)".into(),
        ));
    }
    // The worker signs App JWTs (RS256) with this key: refuse anything it could not use.
    if AppKey::new(0, pem).is_err() {
        return Err(Error::Unprocessable(
            "the private key is not a valid RSA key; paste the .pem file GitHub generated for the App".into(),
        ));
    }
    let id = IdentityId::new();
    let sealed = data_key.seal(pem.as_bytes(), tx.tenant(), id.as_uuid())?;
    sqlx::query(
        "INSERT INTO identities (id, tenant_id, kind, name, sealed_secret, app_id, installation_id, scopes, created_by)
         VALUES ($1, $2, 'github_app', $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.as_uuid())
    .bind(tx.tenant().as_uuid())
    .bind(&name)
    .bind(sealed.as_bytes())
    .bind(new.app_id)
    .bind(new.installation_id)
    .bind(&new.scopes)
    .bind(created_by.as_uuid())
    .execute(&mut **tx)
    .await?;
    bump_bundle(tx).await?;
    audit::record(
        tx,
        actor,
        "identity.add",
        &name,
        serde_json::json!({ "identity_id": id, "kind": "github_app", "app_id": new.app_id, "installation_id": new.installation_id }),
    )
    .await?;
    find_identity(tx, id).await?.ok_or(Error::NotFound)
}

/// One identity of this tenant.
pub async fn find_identity(tx: &mut TenantTx, id: IdentityId) -> Result<Option<Identity>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {IDENTITY_COLS} FROM identities WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tx.tenant().as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut **tx)
    .await?)
}

/// Every identity of this tenant.
pub async fn list_identities(tx: &mut TenantTx) -> Result<Vec<Identity>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {IDENTITY_COLS} FROM identities WHERE tenant_id = $1 ORDER BY created_at"
    ))
    .bind(tx.tenant().as_uuid())
    .fetch_all(&mut **tx)
    .await?)
}

/// Opens an identity's secret (for the worker's bundle and membership checks; never for a page).
pub async fn open_secret(tx: &mut TenantTx, data_key: &DataKey, id: IdentityId) -> Result<Secret, Error> {
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed_secret FROM identities WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant().as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(data_key.open_string(&SealedSecret::from_bytes(sealed), tx.tenant(), id.as_uuid())?)
}

/// Replaces an identity's scopes.
pub async fn update_scopes(tx: &mut TenantTx, actor: Actor, id: IdentityId, scopes: Vec<String>) -> Result<(), Error> {
    let name = find_identity(tx, id).await?.ok_or(Error::NotFound)?.name;
    let n = sqlx::query("UPDATE identities SET scopes = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant().as_uuid())
        .bind(id.as_uuid())
        .bind(&scopes)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    bump_bundle(tx).await?;
    audit::record(
        tx,
        actor,
        "identity.scopes",
        &name,
        serde_json::json!({ "identity_id": id, "scopes": scopes }),
    )
    .await
}

/// Enables or disables an identity.
pub async fn set_enabled(tx: &mut TenantTx, actor: Actor, id: IdentityId, enabled: bool) -> Result<(), Error> {
    let name = find_identity(tx, id).await?.ok_or(Error::NotFound)?.name;
    let n = sqlx::query("UPDATE identities SET enabled = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant().as_uuid())
        .bind(id.as_uuid())
        .bind(enabled)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    bump_bundle(tx).await?;
    let action = if enabled { "identity.enable" } else { "identity.disable" };
    audit::record(tx, actor, action, &name, serde_json::json!({ "identity_id": id })).await
}

/// Deletes an identity and its sealed secret.
pub async fn delete_identity(tx: &mut TenantTx, actor: Actor, id: IdentityId) -> Result<(), Error> {
    let name = find_identity(tx, id).await?.ok_or(Error::NotFound)?.name;
    let n = sqlx::query("DELETE FROM identities WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant().as_uuid())
        .bind(id.as_uuid())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    bump_bundle(tx).await?;
    audit::record(
        tx,
        actor,
        "identity.delete",
        &name,
        serde_json::json!({ "identity_id": id }),
    )
    .await
}
