//! The audit trail: every admin action writes one row (actor, action, target, time, IP). Details
//! never carry a secret: names, ids and prefixes only.

use crate::Error;
use crate::access::{TenantAdmin, TenantMember};
use crate::db::TenantTx;
use crate::state::AppState;
use serde::Serialize;
use shoal_common::UserId;
use std::net::IpAddr;
use time::OffsetDateTime;

/// Who did something, and from where.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// The signed-in user, or `None` for the system (the membership re-check).
    pub user: Option<UserId>,
    /// The client address, when the action came over HTTP.
    pub ip: Option<IpAddr>,
}

impl Actor {
    /// A person acting over HTTP.
    pub fn user(user: UserId, ip: Option<IpAddr>) -> Self {
        Self { user: Some(user), ip }
    }
    /// shoal itself.
    pub fn system() -> Self {
        Self { user: None, ip: None }
    }
}

impl From<&TenantMember> for Actor {
    fn from(m: &TenantMember) -> Self {
        Actor::user(m.user, m.ip)
    }
}

impl From<&TenantAdmin> for Actor {
    fn from(a: &TenantAdmin) -> Self {
        Actor::from(&**a)
    }
}

/// Writes one audit row in the tenant's transaction, so it commits (or not) with the action.
pub async fn record(
    tx: &mut TenantTx,
    actor: Actor,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), Error> {
    let tenant = tx.tenant().as_uuid();
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor_user_id, action, target, ip, details)
         VALUES ($1, $2, $3, $4, $5::inet, $6)",
    )
    .bind(tenant)
    .bind(actor.user.map(|u| u.as_uuid()))
    .bind(action)
    .bind(target)
    .bind(actor.ip.map(|ip| ip.to_string()))
    .bind(details)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One audit row as shown to admins.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// GitHub login of the actor; `None` for shoal itself.
    pub actor: Option<String>,
    /// `token.create`, `member.remove`, ...
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// Client address.
    pub ip: Option<String>,
}

/// How many audit rows the audit page and `GET .../audit` show: the latest ones.
pub const AUDIT_LIMIT: i64 = 500;

/// The tenant's latest [`AUDIT_LIMIT`] audit rows, newest first.
pub async fn list(state: &AppState, admin: &TenantAdmin) -> Result<Vec<AuditEntry>, Error> {
    list_audit(&mut admin.begin(state).await?, AUDIT_LIMIT).await
}

/// The tenant's latest audit rows, newest first.
pub async fn list_audit(tx: &mut TenantTx, limit: i64) -> Result<Vec<AuditEntry>, Error> {
    Ok(sqlx::query_as(
        "SELECT a.created_at, u.login AS actor, a.action, a.target, host(a.ip) AS ip
         FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id
         ORDER BY a.created_at DESC, a.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?)
}

/// Writes an audit row that belongs to no tenant (sign-in, sign-out).
pub async fn record_global(pool: &sqlx::PgPool, actor: Actor, action: &str, target: &str) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor_user_id, action, target, ip) VALUES (NULL, $1, $2, $3, $4::inet)",
    )
    .bind(actor.user.map(|u| u.as_uuid()))
    .bind(action)
    .bind(target)
    .bind(actor.ip.map(|ip| ip.to_string()))
    .execute(pool)
    .await?;
    Ok(())
}
