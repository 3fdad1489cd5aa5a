//! Keeping tenant membership in step with GitHub org membership: at sign-in (join the tenants of
//! your orgs, leave the ones whose org you left), at login exchange, and periodically with one of
//! the tenant's own identities (`/orgs/{org}/members/{user}`). Leaving the org revokes tokens.

use crate::Error;
use crate::access::find_role;
use crate::audit::{self, Actor};
use crate::config::{BillingConfig, Keys};
use crate::db::begin_tenant;
use crate::github::GithubClient;
use crate::identities;
use crate::tenants::members;
use crate::tenants::{self, TENANT_COLS, Tenant, TenantStatus, data_key};
use shoal_common::{IdentityId, UserId};
use sqlx::PgPool;

/// A GitHub org membership, as GitHub reported it.
#[derive(Debug, Clone)]
pub struct OrgRole {
    /// GitHub org id.
    pub org_id: i64,
    /// Whether the user administers the org.
    pub admin: bool,
}

/// What signing in did to the user's tenants.
#[derive(Debug, Default)]
pub struct Joined {
    /// Slugs newly joined.
    pub joined: Vec<String>,
    /// Why a tenant refused them (its plan's member cap), one message per tenant.
    pub refused: Vec<String>,
}

/// Joins the user to every tenant of an org GitHub lists them in (refreshing `verified_at` where
/// they already are a member). A tenant whose plan is full refuses them without failing the rest.
pub async fn join_org_tenants(
    pool: &PgPool,
    billing: &BillingConfig,
    user: UserId,
    orgs: &[OrgRole],
    actor: Actor,
) -> Result<Joined, Error> {
    let ids: Vec<i64> = orgs.iter().map(|o| o.org_id).collect();
    let mut out = Joined::default();
    for t in tenants::list_tenants_of_orgs(pool, &ids).await? {
        let admin = orgs.iter().any(|o| o.org_id == t.github_org_id && o.admin);
        let mut tx = begin_tenant(pool, t.id).await?;
        let was_member = find_role(&mut tx, user).await?.is_some();
        let joined_now = match members::join_tenant(&mut tx, billing, actor, user, admin).await {
            Ok(role) => role.is_some(),
            Err(Error::PlanLimit(msg)) => {
                out.refused.push(format!("{} could not add you: {msg}", t.slug));
                continue;
            }
            Err(e) => return Err(e),
        };
        tx.commit().await?;
        if joined_now && !was_member {
            out.joined.push(t.slug);
        }
    }
    Ok(out)
}

/// Removes the user from tenants whose org GitHub definitively says they left (404 or not
/// active), asking with the user's own token. Tenants GitHub will not answer about are kept.
/// Returns the slugs left.
pub async fn leave_departed_tenants(
    pool: &PgPool,
    github: &GithubClient,
    token: &str,
    user: UserId,
    active_org_ids: &[i64],
) -> Result<Vec<String>, Error> {
    let mut left = Vec::new();
    for t in tenants::list_tenants_for_user(pool, user).await? {
        if active_org_ids.contains(&t.tenant.github_org_id) {
            continue;
        }
        match github.org_membership(token, &t.tenant.github_org).await {
            Ok(Some(m)) if m.is_active() => {}
            Ok(_) => {
                leave(pool, &t.tenant, user).await?;
                left.push(t.tenant.slug);
            }
            Err(Error::GithubRejected(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(left)
}

/// Removes a user who is no longer in the tenant's GitHub org, revoking their tokens.
pub async fn leave(pool: &PgPool, tenant: &Tenant, user: UserId) -> Result<(), Error> {
    let mut tx = begin_tenant(pool, tenant.id).await?;
    if find_role(&mut tx, user).await?.is_none() {
        return Ok(());
    }
    let revoked = members::drop_member(&mut tx, user).await?;
    let login: Option<String> = sqlx::query_scalar("SELECT login FROM users WHERE id = $1")
        .bind(user.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Actor::system(),
        "member.left_org",
        login.as_deref().unwrap_or_default(),
        serde_json::json!({ "user_id": user, "revoked_tokens": revoked }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %tenant.slug, user.id = %user, revoked, "member left the GitHub org: removed");
    Ok(())
}

/// What a periodic re-check did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecheckOutcome {
    /// Members asked about.
    pub checked: usize,
    /// Members removed because GitHub no longer lists them.
    pub removed: usize,
    /// Whether the check ran (it needs an enabled PAT identity).
    pub ran: bool,
}

/// Asks GitHub, with the tenant's first enabled PAT, whether each member is still in the org,
/// and removes those who are not. Skips (ran = false) when the tenant has no PAT.
#[tracing::instrument(skip(pool, keys, github, tenant), fields(tenant.slug = %tenant.slug))]
pub async fn recheck_tenant_members(
    pool: &PgPool,
    keys: &Keys,
    github: &GithubClient,
    tenant: &Tenant,
) -> Result<RecheckOutcome, Error> {
    let mut tx = begin_tenant(pool, tenant.id).await?;
    let pat: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT id FROM identities WHERE tenant_id = $1 AND kind = 'pat' AND enabled ORDER BY created_at LIMIT 1",
    )
    .bind(tenant.id.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(pat) = pat else {
        return Ok(RecheckOutcome::default());
    };
    let dk = data_key(&mut tx, keys).await?;
    let token = identities::open_secret(&mut tx, &dk, IdentityId(pat)).await?;
    let list = members::list_members(&mut tx).await?;
    drop(tx);
    let mut out = RecheckOutcome {
        ran: true,
        ..Default::default()
    };
    for m in list {
        out.checked += 1;
        if github
            .is_org_member(token.expose(), &tenant.github_org, &m.login)
            .await?
        {
            let mut tx = begin_tenant(pool, tenant.id).await?;
            sqlx::query("UPDATE memberships SET verified_at = now() WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant.id.as_uuid())
                .bind(m.user_id.as_uuid())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        } else {
            leave(pool, tenant, m.user_id).await?;
            out.removed += 1;
        }
    }
    Ok(out)
}

/// Re-checks every active tenant once; errors are logged per tenant and do not stop the others.
pub async fn recheck_all(pool: &PgPool, keys: &Keys, github: &GithubClient) -> Result<(), Error> {
    let all: Vec<Tenant> = sqlx::query_as(&format!("SELECT {TENANT_COLS} FROM tenants WHERE status = $1"))
        .bind(TenantStatus::Active)
        .fetch_all(pool)
        .await?;
    for t in &all {
        if let Err(e) = recheck_tenant_members(pool, keys, github, t).await {
            tracing::warn!(tenant.slug = %t.slug, error = %e, "membership re-check failed");
        }
    }
    Ok(())
}
