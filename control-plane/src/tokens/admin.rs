//! Admin API tokens: let scripts and `shoal admin` call the admin JSON API of one tenant as the
//! admin who created them. Shown once, stored as HMAC-SHA256(pepper, token); they stop working
//! when revoked or when their owner is no longer an admin.

use crate::Error;
use crate::access::{TenantAdmin, find_role};
use crate::audit::{self, Actor};
use crate::db::TenantTx;
use crate::state::AppState;
use crate::tenants::Role;
use serde::Serialize;
use shoal_common::token::{Pepper, display_prefix, generate_token, hash_token};
use shoal_common::{Secret, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

/// An admin API token as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AdminToken {
    /// Its id.
    pub id: Uuid,
    /// Owner's GitHub login.
    pub user_login: String,
    /// What it is for.
    pub name: String,
    /// `shoal_` and the first 6 characters.
    pub display_prefix: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last used.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Revoked, if set.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Mints an admin API token for an admin.
pub async fn create_admin_token(
    tx: &mut TenantTx,
    pepper: &Pepper,
    actor: Actor,
    owner: UserId,
    name: &str,
) -> Result<Secret, Error> {
    let name = super::validate_token_name(name)?;
    if find_role(tx, owner).await? != Some(Role::Admin) {
        return Err(Error::Forbidden("only admins can have admin API tokens".into()));
    }
    let secret = generate_token()?;
    let prefix = display_prefix(secret.expose())?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO admin_api_tokens (id, tenant_id, user_id, name, token_hash, display_prefix)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(tx.tenant().as_uuid())
    .bind(owner.as_uuid())
    .bind(&name)
    .bind(&hash_token(pepper, secret.expose()).as_bytes()[..])
    .bind(&prefix)
    .execute(&mut **tx)
    .await?;
    audit::record(
        tx,
        actor,
        "admin_token.create",
        &format!("{name} ({prefix}…)"),
        serde_json::json!({ "admin_token_id": id }),
    )
    .await?;
    Ok(secret)
}

/// The tenant's admin API tokens.
pub async fn list_admin_tokens(tx: &mut TenantTx) -> Result<Vec<AdminToken>, Error> {
    Ok(sqlx::query_as(
        "SELECT t.id, u.login AS user_login, t.name, t.display_prefix, t.created_at, t.last_used_at, t.revoked_at
         FROM admin_api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.tenant_id = $1 ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC",
    )
    .bind(tx.tenant().as_uuid())
    .fetch_all(&mut **tx)
    .await?)
}

/// Revokes an admin API token of this tenant.
pub async fn revoke_admin_token(tx: &mut TenantTx, actor: Actor, id: Uuid) -> Result<(), Error> {
    let n = sqlx::query(
        "UPDATE admin_api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tx.tenant().as_uuid())
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    audit::record(tx, actor, "admin_token.revoke", &id.to_string(), serde_json::json!({})).await
}

/// The tenant's admin API tokens.
pub async fn list(state: &AppState, admin: &TenantAdmin) -> Result<Vec<AdminToken>, Error> {
    list_admin_tokens(&mut admin.begin(state).await?).await
}

/// Mints an admin API token for the admin; the secret is shown once.
pub async fn create(state: &AppState, admin: &TenantAdmin, name: &str) -> Result<Secret, Error> {
    let mut tx = admin.begin(state).await?;
    let secret = create_admin_token(&mut tx, &state.config.keys.pepper, Actor::from(admin), admin.user, name).await?;
    tx.commit().await?;
    Ok(secret)
}

/// Revokes one of the tenant's admin API tokens.
pub async fn revoke(state: &AppState, admin: &TenantAdmin, id: Uuid) -> Result<(), Error> {
    let mut tx = admin.begin(state).await?;
    revoke_admin_token(&mut tx, Actor::from(admin), id).await?;
    tx.commit().await
}
