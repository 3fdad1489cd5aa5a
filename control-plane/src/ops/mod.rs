//! The operator console's domain: who runs the hosted service ([`Operator`], named by GitHub
//! login in `SHOAL_OPERATORS`), every tenant at a glance and the platform's totals over time
//! ([`platform`]), and suspending or resuming a tenant with a reason, audited in that tenant's
//! log. Everyone else is told the console does not exist (404). These read every tenant, so they
//! run as the schema owner, like the scheduler: the system, not a request on behalf of a tenant.

pub mod platform;

use crate::Error;
use crate::audit::{self, Actor};
use crate::db::begin_tenant;
use crate::http::session::SessionUser;
use crate::state::AppState;
use shoal_common::{TenantId, UserId};
use std::net::IpAddr;
use uuid::Uuid;

/// A signed-in operator, acting from `ip`.
#[derive(Debug, Clone)]
pub struct Operator {
    pub user: UserId,
    pub login: String,
    pub ip: Option<IpAddr>,
}

impl Operator {
    /// The operator this signed-in user is, or not found.
    pub fn of(state: &AppState, user: Option<&SessionUser>, ip: Option<IpAddr>) -> Result<Self, Error> {
        match user {
            Some(u) if state.config.is_operator(&u.login) => Ok(Operator {
                user: u.id,
                login: u.login.clone(),
                ip,
            }),
            _ => Err(Error::NotFound),
        }
    }
}

/// Longest suspension reason.
pub const MAX_REASON: usize = 500;

/// Suspends `slug` (its worker stops, the edge answers 402, its data is kept), audited in its log
/// as `tenant.suspend` with the reason.
pub async fn suspend(state: &AppState, by: &Operator, slug: &str, reason: &str) -> Result<String, Error> {
    let reason = reason.trim();
    if reason.chars().count() < 3 || reason.len() > MAX_REASON || reason.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!(
            "say why the tenant is suspended (3 to {MAX_REASON} characters, one line)"
        )));
    }
    set_status(state, by, slug, "suspended", Some(reason)).await?;
    Ok(format!("Tenant {slug} suspended: its worker stops within seconds."))
}

/// Resumes `slug`, audited as `tenant.resume`.
pub async fn resume(state: &AppState, by: &Operator, slug: &str) -> Result<String, Error> {
    set_status(state, by, slug, "active", None).await?;
    Ok(format!("Tenant {slug} resumed: its worker starts within seconds."))
}

async fn set_status(
    state: &AppState,
    by: &Operator,
    slug: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<(), Error> {
    let id: Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| Error::Missing(format!("no tenant {slug}")))?;
    let mut tx = begin_tenant(&state.pool, TenantId(id)).await?;
    let changed = sqlx::query(
        "UPDATE tenants SET status = $2, suspended_reason = $3 WHERE id = $1 AND status IS DISTINCT FROM $2",
    )
    .bind(id)
    .bind(status)
    .bind(reason)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(Error::Conflict(format!("tenant {slug} is already {status}")));
    }
    let action = if status == "active" {
        "tenant.resume"
    } else {
        "tenant.suspend"
    };
    let details = serde_json::json!({ "reason": reason, "operator": by.login });
    audit::record(&mut tx, Actor::user(by.user, by.ip), action, slug, details).await?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %slug, operator = %by.login, action, "operator changed a tenant's status");
    Ok(())
}
