//! Members of a tenant: joining (any verified member of the GitHub org), promoting, demoting and
//! removing, with the rule that the last admin can be neither demoted nor removed. Removing a
//! member revokes their caller tokens.

use crate::Error;
use crate::access::{TenantAdmin, TenantMember, find_role};
use crate::audit::{self, Actor};
use crate::billing::{self, Capped};
use crate::config::BillingConfig;
use crate::db::TenantTx;
use crate::state::AppState;
use crate::tenants::{Role, bump_bundle};
use serde::Serialize;
use shoal_common::UserId;
use time::OffsetDateTime;

/// A member as listed to the tenant.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    /// Our user id.
    #[sqlx(try_from = "uuid::Uuid")]
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    /// GitHub login.
    pub login: String,
    /// Display name.
    pub name: Option<String>,
    /// Their role.
    pub role: Role,
    /// When they joined.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When their org membership was last confirmed with GitHub.
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
}

/// A user's GitHub login, for audit targets people can read.
async fn login_of(tx: &mut TenantTx, user: UserId) -> Result<String, Error> {
    let login: Option<String> = sqlx::query_scalar("SELECT login FROM users WHERE id = $1")
        .bind(user.as_uuid())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(login.unwrap_or_else(|| user.to_string()))
}

/// Adds a verified org member (or refreshes `verified_at` of an existing one). The first member
/// of a tenant that has no admin left becomes admin when GitHub says they administer the org.
/// Returns their role, or `None` for someone an admin removed and has not let back in; a newcomer
/// beyond the plan's member cap is refused ([`Error::PlanLimit`]).
pub async fn join_tenant(
    tx: &mut TenantTx,
    billing: &BillingConfig,
    actor: Actor,
    user: UserId,
    github_admin: bool,
) -> Result<Option<Role>, Error> {
    if let Some(role) = find_role(tx, user).await? {
        sqlx::query("UPDATE memberships SET verified_at = now() WHERE tenant_id = $1 AND user_id = $2")
            .bind(tx.tenant().as_uuid())
            .bind(user.as_uuid())
            .execute(&mut **tx)
            .await?;
        return Ok(Some(role));
    }
    let removed: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM member_removals WHERE tenant_id = $1 AND user_id = $2")
            .bind(tx.tenant().as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&mut **tx)
            .await?;
    if removed.is_some() {
        return Ok(None);
    }
    billing::ensure_room(tx, billing, Capped::Members).await?;
    let role = if github_admin && count_admins(tx).await? == 0 {
        Role::Admin
    } else {
        Role::Member
    };
    sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(tx.tenant().as_uuid())
        .bind(user.as_uuid())
        .bind(role)
        .execute(&mut **tx)
        .await?;
    audit::record(
        tx,
        actor,
        "member.join",
        &user.to_string(),
        serde_json::json!({ "role": role.as_str() }),
    )
    .await?;
    Ok(Some(role))
}

/// Someone an admin removed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = RemovedMember)]
pub struct Removed {
    /// Our user id.
    #[sqlx(try_from = "uuid::Uuid")]
    #[schema(value_type = uuid::Uuid)]
    pub user_id: UserId,
    /// GitHub login.
    pub login: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub removed_at: OffsetDateTime,
}

/// Every member with their GitHub login, admins first.
pub async fn list_members(tx: &mut TenantTx) -> Result<Vec<Member>, Error> {
    Ok(sqlx::query_as(
        "SELECT m.user_id, u.login, u.name, m.role, m.created_at, m.verified_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.tenant_id = $1 ORDER BY m.role, u.login",
    )
    .bind(tx.tenant().as_uuid())
    .fetch_all(&mut **tx)
    .await?)
}

/// Locks the admin rows and counts them, so two admins demoting each other at once cannot leave
/// the tenant without one.
async fn count_admins(tx: &mut TenantTx) -> Result<usize, Error> {
    let admins: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT user_id FROM memberships WHERE tenant_id = $1 AND role = $2 FOR UPDATE")
            .bind(tx.tenant().as_uuid())
            .bind(Role::Admin)
            .fetch_all(&mut **tx)
            .await?;
    Ok(admins.len())
}

/// Promotes or demotes a member. Demoting the last admin is refused.
pub async fn set_role(tx: &mut TenantTx, actor: Actor, target: UserId, role: Role) -> Result<(), Error> {
    let current = find_role(tx, target).await?.ok_or(Error::NotFound)?;
    if current == role {
        return Ok(());
    }
    if current == Role::Admin && count_admins(tx).await? <= 1 {
        return Err(Error::Conflict(
            "this is the last admin; promote someone else before demoting them".into(),
        ));
    }
    sqlx::query("UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2")
        .bind(tx.tenant().as_uuid())
        .bind(target.as_uuid())
        .bind(role)
        .execute(&mut **tx)
        .await?;
    let action = if role.is_admin() {
        "member.promote"
    } else {
        "member.demote"
    };
    audit::record(tx, actor, action, &target.to_string(), serde_json::json!({})).await
}

/// Removes a member and revokes their caller tokens and admin API tokens. Removing the last
/// admin is refused.
pub async fn remove_member(tx: &mut TenantTx, actor: Actor, target: UserId) -> Result<(), Error> {
    let current = find_role(tx, target).await?.ok_or(Error::NotFound)?;
    if current == Role::Admin && count_admins(tx).await? <= 1 {
        return Err(Error::Conflict(
            "this is the last admin; promote someone else before removing them".into(),
        ));
    }
    drop_member(tx, target).await?;
    sqlx::query("INSERT INTO member_removals (tenant_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(tx.tenant().as_uuid())
        .bind(target.as_uuid())
        .execute(&mut **tx)
        .await?;
    let login = login_of(tx, target).await?;
    audit::record(
        tx,
        actor,
        "member.remove",
        &login,
        serde_json::json!({ "user_id": target }),
    )
    .await
}

/// People an admin removed, with their GitHub login, most recent first.
pub async fn list_removed(tx: &mut TenantTx) -> Result<Vec<Removed>, Error> {
    Ok(sqlx::query_as(
        "SELECT r.user_id, u.login, r.removed_at
         FROM member_removals r JOIN users u ON u.id = r.user_id
         WHERE r.tenant_id = $1 ORDER BY r.removed_at DESC",
    )
    .bind(tx.tenant().as_uuid())
    .fetch_all(&mut **tx)
    .await?)
}

/// Lets a removed person join again at their next sign-in.
pub async fn allow_back(tx: &mut TenantTx, actor: Actor, target: UserId) -> Result<(), Error> {
    let deleted = sqlx::query("DELETE FROM member_removals WHERE tenant_id = $1 AND user_id = $2")
        .bind(tx.tenant().as_uuid())
        .bind(target.as_uuid())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(Error::NotFound);
    }
    let login = login_of(tx, target).await?;
    audit::record(
        tx,
        actor,
        "member.allow_back",
        &login,
        serde_json::json!({ "user_id": target }),
    )
    .await
}

/// Deletes the membership and revokes the user's tokens in this tenant, with no last-admin check
/// (GitHub said they left the org).
pub async fn drop_member(tx: &mut TenantTx, target: UserId) -> Result<u64, Error> {
    let revoked = sqlx::query(
        "UPDATE caller_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tx.tenant().as_uuid())
    .bind(target.as_uuid())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE admin_api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tx.tenant().as_uuid())
    .bind(target.as_uuid())
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(tx.tenant().as_uuid())
        .bind(target.as_uuid())
        .execute(&mut **tx)
        .await?;
    if revoked > 0 {
        bump_bundle(tx).await?;
    }
    Ok(revoked)
}

/// Every member of the admin's or member's tenant.
pub async fn list(state: &AppState, by: &TenantMember) -> Result<Vec<Member>, Error> {
    list_members(&mut by.begin(state).await?).await
}

/// People an admin removed from the tenant.
pub async fn list_removals(state: &AppState, admin: &TenantAdmin) -> Result<Vec<Removed>, Error> {
    list_removed(&mut admin.begin(state).await?).await
}

/// Promotes or demotes a member (never the last admin).
pub async fn change_role(state: &AppState, admin: &TenantAdmin, target: UserId, role: Role) -> Result<(), Error> {
    let mut tx = admin.begin(state).await?;
    set_role(&mut tx, Actor::from(admin), target, role).await?;
    tx.commit().await
}

/// Removes a member (never the last admin) and revokes their tokens.
pub async fn remove(state: &AppState, admin: &TenantAdmin, target: UserId) -> Result<(), Error> {
    let mut tx = admin.begin(state).await?;
    remove_member(&mut tx, Actor::from(admin), target).await?;
    tx.commit().await
}

/// Lets a removed person join again.
pub async fn let_back(state: &AppState, admin: &TenantAdmin, target: UserId) -> Result<(), Error> {
    let mut tx = admin.begin(state).await?;
    allow_back(&mut tx, Actor::from(admin), target).await?;
    tx.commit().await
}
