//! Caller tokens: a member creates named tokens (optional expiry) and sees each once; afterwards
//! only its prefix, last use and creation. Stored as HMAC-SHA256(pepper, token) only. Members
//! revoke their own; admins revoke anyone's. Admin API tokens live in [`admin`]; the CLI's
//! exchange of a GitHub token for a caller token in [`login`].

pub mod admin;
pub mod login;

use crate::Error;
use crate::access::TenantMember;
use crate::audit::{self, Actor};
use crate::db::TenantTx;
use crate::state::AppState;
use crate::tenants::{Role, bump_bundle};
use serde::Serialize;
use shoal_common::token::{Pepper, display_prefix, generate_token, hash_token};
use shoal_common::{CallerTokenId, Secret, UserId};
use time::OffsetDateTime;

/// A caller token as listed (never the token itself).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CallerToken {
    /// Its id.
    #[sqlx(try_from = "uuid::Uuid")]
    #[schema(value_type = uuid::Uuid)]
    pub id: CallerTokenId,
    /// The owner.
    #[sqlx(try_from = "uuid::Uuid")]
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    /// The owner's GitHub login.
    pub user_login: String,
    /// What it is for (`laptop`, `ci`).
    pub name: String,
    /// `shoal_` and the first 6 characters.
    pub display_prefix: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Stops working after this, if set.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Last seen by the worker.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Revoked, if set.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl CallerToken {
    /// Revoked or expired.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > OffsetDateTime::now_utc())
    }
}

/// A token's name: 1-100 characters after trimming, no control characters.
pub fn validate_token_name(name: &str) -> Result<String, Error> {
    if name.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "the token name cannot contain control characters".into(),
        ));
    }
    let n = name.trim();
    if n.is_empty() || name.chars().count() > 100 {
        return Err(Error::BadRequest("give the token a name of 1 to 100 characters".into()));
    }
    if n.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "the token name cannot contain control characters".into(),
        ));
    }
    Ok(n.to_string())
}

/// An expiry must be in the future and within two years.
pub fn validate_expiry(expires_at: Option<OffsetDateTime>) -> Result<Option<OffsetDateTime>, Error> {
    if let Some(e) = expires_at {
        let now = OffsetDateTime::now_utc();
        if e <= now {
            return Err(Error::Unprocessable("the expiry must be in the future".into()));
        }
        if e > now + time::Duration::days(731) {
            return Err(Error::Unprocessable("the expiry must be within two years".into()));
        }
    }
    Ok(expires_at)
}

/// The caller tokens a member may see: their own, or everyone's for an admin.
pub async fn list(state: &AppState, by: &TenantMember) -> Result<Vec<CallerToken>, Error> {
    let owner = (!by.role.is_admin()).then_some(by.user);
    list_caller_tokens(&mut by.begin(state).await?, owner).await
}

/// Mints a caller token for the member; the secret is shown once.
pub async fn create(
    state: &AppState,
    by: &TenantMember,
    name: &str,
    expires_at: Option<OffsetDateTime>,
) -> Result<(CallerToken, Secret), Error> {
    let mut tx = by.begin(state).await?;
    let created = create_caller_token(
        &mut tx,
        &state.config.keys.pepper,
        Actor::from(by),
        by.user,
        name,
        expires_at,
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Revokes a token: a member their own, an admin anyone's.
pub async fn revoke(state: &AppState, by: &TenantMember, id: CallerTokenId) -> Result<CallerToken, Error> {
    let mut tx = by.begin(state).await?;
    let revoked = revoke_caller_token(&mut tx, Actor::from(by), by.role, id).await?;
    tx.commit().await?;
    Ok(revoked)
}

const TOKEN_COLS: &str = "t.id, t.user_id, u.login AS user_login, t.name, t.display_prefix, t.created_at,
    t.expires_at, t.last_used_at, t.revoked_at";

/// Mints a caller token for `owner`. The returned secret is shown once and never stored.
pub async fn create_caller_token(
    tx: &mut TenantTx,
    pepper: &Pepper,
    actor: Actor,
    owner: UserId,
    name: &str,
    expires_at: Option<OffsetDateTime>,
) -> Result<(CallerToken, Secret), Error> {
    let name = validate_token_name(name)?;
    let expires_at = validate_expiry(expires_at)?;
    let secret = generate_token()?;
    let hash = hash_token(pepper, secret.expose());
    let prefix = display_prefix(secret.expose())?;
    let id = CallerTokenId::new();
    sqlx::query(
        "INSERT INTO caller_tokens (id, tenant_id, user_id, name, token_hash, display_prefix, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.as_uuid())
    .bind(tx.tenant().as_uuid())
    .bind(owner.as_uuid())
    .bind(&name)
    .bind(&hash.as_bytes()[..])
    .bind(&prefix)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    bump_bundle(tx).await?;
    audit::record(
        tx,
        actor,
        "token.create",
        &format!("{name} ({prefix}…)"),
        serde_json::json!({ "token_id": id, "owner": owner }),
    )
    .await?;
    let token = find_caller_token(tx, id).await?.ok_or(Error::NotFound)?;
    Ok((token, secret))
}

/// One token of this tenant.
pub async fn find_caller_token(tx: &mut TenantTx, id: CallerTokenId) -> Result<Option<CallerToken>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TOKEN_COLS} FROM caller_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.tenant_id = $1 AND t.id = $2"
    ))
    .bind(tx.tenant().as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut **tx)
    .await?)
}

/// Tokens of one owner, or of everyone (`None`, for admins), newest first.
pub async fn list_caller_tokens(tx: &mut TenantTx, owner: Option<UserId>) -> Result<Vec<CallerToken>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TOKEN_COLS} FROM caller_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.tenant_id = $1 AND ($2::uuid IS NULL OR t.user_id = $2)
         ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC"
    ))
    .bind(tx.tenant().as_uuid())
    .bind(owner.map(|o| o.as_uuid()))
    .fetch_all(&mut **tx)
    .await?)
}

/// Revokes a token. Members may revoke only their own; admins anyone's. Another tenant's token
/// is not found.
pub async fn revoke_caller_token(
    tx: &mut TenantTx,
    actor: Actor,
    actor_role: Role,
    id: CallerTokenId,
) -> Result<CallerToken, Error> {
    let token = find_caller_token(tx, id).await?.ok_or(Error::NotFound)?;
    if !actor_role.is_admin() && Some(token.user_id) != actor.user {
        return Err(Error::Forbidden(
            "only an admin can revoke another member's token".into(),
        ));
    }
    if token.revoked_at.is_none() {
        sqlx::query("UPDATE caller_tokens SET revoked_at = now() WHERE tenant_id = $1 AND id = $2")
            .bind(tx.tenant().as_uuid())
            .bind(id.as_uuid())
            .execute(&mut **tx)
            .await?;
        bump_bundle(tx).await?;
        audit::record(
            tx,
            actor,
            "token.revoke",
            &format!("{} ({}…)", token.name, token.display_prefix),
            serde_json::json!({ "token_id": id, "owner": token.user_id }),
        )
        .await?;
    }
    find_caller_token(tx, id).await?.ok_or(Error::NotFound)
}
