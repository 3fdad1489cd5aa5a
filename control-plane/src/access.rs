//! Who may act inside a tenant. A [`TenantMember`] or [`TenantAdmin`] is proof that the caller was
//! checked: the use cases in `identities`, `tokens`, `tenants` and `audit` take one, so the pages
//! and the JSON API reach them only through the same checks. The `http` module builds them from
//! requests (a session, or an admin API token).

use crate::Error;
use crate::db::{TenantTx, begin_tenant};
use crate::state::AppState;
use crate::tenants::{Role, Tenant};
use shoal_common::UserId;
use shoal_common::token::{Pepper, TokenHash, hash_token, looks_like_token};
use std::net::IpAddr;
use std::ops::Deref;
use uuid::Uuid;

/// A member of a tenant, acting from `ip`.
#[derive(Debug, Clone)]
pub struct TenantMember {
    /// The tenant.
    pub tenant: Tenant,
    /// The member.
    pub user: UserId,
    /// Their role.
    pub role: Role,
    /// The client address, for the audit log.
    pub ip: Option<IpAddr>,
}

/// An admin of a tenant: a [`TenantMember`] whose role is admin.
#[derive(Debug, Clone)]
pub struct TenantAdmin(TenantMember);

impl Deref for TenantAdmin {
    type Target = TenantMember;
    fn deref(&self) -> &TenantMember {
        &self.0
    }
}

impl TenantMember {
    /// A signed-in user entering `tenant` (found with [`crate::tenants::resolve`]). Not a member: not
    /// found, as if there were no such tenant.
    pub async fn enter(state: &AppState, tenant: Tenant, user: UserId, ip: Option<IpAddr>) -> Result<Self, Error> {
        let mut tx = begin_tenant(&state.pool, tenant.id).await?;
        let role = find_role(&mut tx, user).await?.ok_or(Error::NotFound)?;
        Ok(Self { tenant, user, role, ip })
    }

    /// The same member as an admin, or "admins only".
    pub fn admin(self) -> Result<TenantAdmin, Error> {
        match self.role {
            Role::Admin => Ok(TenantAdmin(self)),
            Role::Member => Err(Error::Forbidden("only admins of this tenant can do that".into())),
        }
    }

    /// A transaction scoped to this member's tenant.
    pub async fn begin(&self, state: &AppState) -> Result<TenantTx, Error> {
        begin_tenant(&state.pool, self.tenant.id).await
    }
}

impl TenantAdmin {
    /// The admin an admin API token belongs to, in `tenant`. A token of another tenant, a revoked
    /// one, or one whose owner is no longer an admin is refused.
    pub async fn by_token(state: &AppState, tenant: Tenant, token: &str, ip: Option<IpAddr>) -> Result<Self, Error> {
        let mut tx = begin_tenant(&state.pool, tenant.id).await?;
        let user = authenticate_admin_token(&mut tx, &state.config.keys.pepper, token)
            .await?
            .ok_or_else(|| Error::Unauthorized("unknown or revoked admin API token for this tenant".into()))?;
        tx.commit().await?;
        Ok(TenantAdmin(TenantMember {
            tenant,
            user,
            role: Role::Admin,
            ip,
        }))
    }
}

/// The user's role in this tenant, if they are a member.
pub async fn find_role(tx: &mut TenantTx, user: UserId) -> Result<Option<Role>, Error> {
    Ok(
        sqlx::query_scalar("SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2")
            .bind(tx.tenant().as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// The admin a presented token belongs to, if it is a live token of this tenant whose owner is
/// still an admin, and records its use. The lookup is by hash (an index probe), and the stored
/// hash is compared again in constant time.
pub async fn authenticate_admin_token(
    tx: &mut TenantTx,
    pepper: &Pepper,
    token: &str,
) -> Result<Option<UserId>, Error> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    let hash = hash_token(pepper, token);
    let row: Option<(Uuid, Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT t.id, t.user_id, t.token_hash FROM admin_api_tokens t
         JOIN memberships m ON m.tenant_id = t.tenant_id AND m.user_id = t.user_id AND m.role = $3
         WHERE t.tenant_id = $1 AND t.token_hash = $2 AND t.revoked_at IS NULL",
    )
    .bind(tx.tenant().as_uuid())
    .bind(&hash.as_bytes()[..])
    .bind(Role::Admin)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, user, stored)) = row else {
        return Ok(None);
    };
    if TokenHash::from_slice(&stored)? != hash {
        return Ok(None);
    }
    sqlx::query("UPDATE admin_api_tokens SET last_used_at = now() WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant().as_uuid())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(Some(UserId(user)))
}
