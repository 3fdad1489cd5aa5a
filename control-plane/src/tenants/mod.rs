//! Org tenants: the slug rules, creating a tenant (its data key, worker record, default policy and
//! first admin, atomically), finding tenants, and what they own: [`members`], [`policy`], the
//! [`overview`] page's figures and [`usage`]; [`sync`] keeps members in step with GitHub and
//! [`bundle`] is what the tenant's worker is given.

pub mod bundle;
pub mod members;
pub mod overview;
pub mod policy;
pub mod policy_module;
pub mod stats;
pub mod sync;
pub mod usage;
pub mod worker;

use crate::Error;
use crate::audit::{self, Actor};
pub use crate::billing::Plan;
use crate::config::Keys;
use crate::db::{self, TenantTx};
use crate::scheduler::DesiredState;
use serde::{Deserialize, Serialize};
use shoal_common::crypto::{DataKey, WrappedDataKey};
use shoal_common::{TenantId, UserId, WorkerId};
use sqlx::PgPool;
use time::OffsetDateTime;

/// Subdomains shoal keeps for itself.
pub const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "console",
    "dashboard",
    "docs",
    "edge",
    "github",
    "help",
    "internal",
    "login",
    "mail",
    "root",
    "shoal",
    "static",
    "status",
    "support",
    "system",
    "www",
];

/// A valid tenant slug: the subdomain `<slug>.<base domain>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    /// Lowercase letters, digits and inner dashes, 3-32 characters, not reserved.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let s = text.trim();
        if !(3..=32).contains(&s.len()) {
            return Err(Error::BadRequest("the slug must be 3 to 32 characters long".into()));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::BadRequest(
                "the slug may contain only lowercase letters, digits and dashes".into(),
            ));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(Error::BadRequest("the slug cannot start or end with a dash".into()));
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err(Error::BadRequest(format!("the slug {s:?} is reserved; pick another")));
        }
        Ok(Self(s.to_string()))
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a tenant is served (`tenants.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum TenantStatus {
    /// Its worker runs and its members sign in.
    Active,
    /// Its worker is stopped; its data is kept.
    Suspended,
}

/// A member's role in a tenant (`memberships.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    /// Manages identities, members, tokens and policy.
    Admin,
    /// Creates and revokes their own caller tokens.
    Member,
}

impl Role {
    /// Parses `admin` / `member`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text.trim() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(Error::BadRequest(format!(
                "unknown role {other:?}; use admin or member"
            ))),
        }
    }
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
    /// Whether this role may administer the tenant.
    pub fn is_admin(&self) -> bool {
        *self == Role::Admin
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An org tenant.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Tenant {
    /// Its id.
    #[sqlx(try_from = "uuid::Uuid")]
    pub id: TenantId,
    /// Its subdomain.
    pub slug: String,
    /// The GitHub org it belongs to.
    pub github_org: String,
    /// GitHub's id of that org.
    pub github_org_id: i64,
    /// `free`, `team`, `business`.
    pub plan: String,
    /// Whether it is served.
    pub status: TenantStatus,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Stripe's subscription status as last applied (see [`Tenant::account`]).
    #[serde(skip)]
    pub subscription_status: String,
    /// When the subscription became `past_due`.
    #[serde(skip)]
    pub past_due_since: Option<OffsetDateTime>,
}

impl Tenant {
    /// What its standing is computed from.
    pub fn account(&self) -> crate::billing::Account {
        crate::billing::Account {
            status: self.status,
            subscription_status: self.subscription_status.clone(),
            past_due_since: self.past_due_since,
        }
    }
}

pub(crate) const TENANT_COLS: &str =
    "id, slug, github_org, github_org_id, plan, status, created_at, subscription_status, past_due_since";

/// An org the user administers, as verified with GitHub (`/user/memberships/orgs/{org}`).
#[derive(Debug, Clone)]
pub struct VerifiedAdminOrg {
    /// Org login.
    pub login: String,
    /// GitHub's org id.
    pub id: i64,
}

/// What creating a tenant needs besides the verified org.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// The subdomain.
    pub slug: Slug,
    /// The plan.
    pub plan: Plan,
}

/// Creates a tenant: its row with a fresh data key wrapped by the master key, the creator as
/// admin, the default policy (reads allowed for the org's own repos) and the worker record
/// (desired: running), in one transaction.
#[tracing::instrument(skip(pool, keys), fields(tenant.slug = %new.slug.as_str()))]
pub async fn create_tenant(
    pool: &PgPool,
    keys: &Keys,
    actor: Actor,
    creator: UserId,
    org: &VerifiedAdminOrg,
    new: NewTenant,
) -> Result<Tenant, Error> {
    let id = TenantId::new();
    let data_key = DataKey::generate()?;
    let wrapped = keys.keyring.current().wrap(&data_key, id)?;
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query_as::<_, Tenant>(&format!(
        "INSERT INTO tenants (id, slug, github_org, github_org_id, plan, wrapped_data_key)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TENANT_COLS}"
    ))
    .bind(id.as_uuid())
    .bind(new.slug.as_str())
    .bind(&org.login)
    .bind(org.id)
    .bind(new.plan.as_str())
    .bind(wrapped.as_bytes())
    .fetch_one(&mut *tx)
    .await;
    let tenant = match inserted {
        Ok(t) => t,
        Err(e) if db::is_unique_violation(&e) => {
            return Err(Error::Conflict(format!(
                "the slug {:?} is taken; pick another",
                new.slug.as_str()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let mut tx = db::enter_tenant(tx, id).await?;
    sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(id.as_uuid())
        .bind(creator.as_uuid())
        .bind(Role::Admin)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO policies (tenant_id, allowed_owners) VALUES ($1, $2)")
        .bind(id.as_uuid())
        .bind(vec![org.login.clone()])
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO workers (tenant_id, id, desired_state) VALUES ($1, $2, $3)")
        .bind(id.as_uuid())
        .bind(WorkerId::new().as_uuid())
        .bind(DesiredState::Running)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "tenant.create",
        new.slug.as_str(),
        serde_json::json!({ "github_org": org.login, "plan": new.plan.as_str() }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %id, "tenant created");
    Ok(tenant)
}

/// The tenant named by `slug`, or not found. Cross-tenant by nature: it is how every request (a
/// page, the admin API, the login exchange) finds its tenant.
pub async fn resolve(pool: &PgPool, slug: &str) -> Result<Tenant, Error> {
    sqlx::query_as(&format!("SELECT {TENANT_COLS} FROM tenants WHERE slug = $1"))
        .bind(slug.trim())
        .fetch_optional(pool)
        .await?
        .ok_or(Error::NotFound)
}

/// Tenants of the given GitHub orgs (the ones a signing-in user may join). Cross-tenant.
pub async fn list_tenants_of_orgs(pool: &PgPool, org_ids: &[i64]) -> Result<Vec<Tenant>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TENANT_COLS} FROM tenants WHERE github_org_id = ANY($1) ORDER BY slug"
    ))
    .bind(org_ids)
    .fetch_all(pool)
    .await?)
}

/// A tenant with the user's role in it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TenantWithRole {
    /// The tenant.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub tenant: Tenant,
    /// Their role in it.
    pub role: Role,
}

/// The tenants a user belongs to. Cross-tenant by nature (the dashboard), filtered by user.
pub async fn list_tenants_for_user(pool: &PgPool, user: UserId) -> Result<Vec<TenantWithRole>, Error> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.slug, t.github_org, t.github_org_id, t.plan, t.status, t.created_at,
                t.subscription_status, t.past_due_since, m.role
         FROM memberships m JOIN tenants t ON t.id = m.tenant_id
         WHERE m.user_id = $1 ORDER BY t.slug",
    )
    .bind(user.as_uuid())
    .fetch_all(pool)
    .await?)
}

/// The tenant's data key, unwrapped with the master keyring.
pub async fn data_key(tx: &mut TenantTx, keys: &Keys) -> Result<DataKey, Error> {
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT wrapped_data_key FROM tenants WHERE id = $1")
        .bind(tx.tenant().as_uuid())
        .fetch_one(&mut **tx)
        .await?;
    Ok(keys
        .keyring
        .unwrap_key(&WrappedDataKey::from_bytes(wrapped), tx.tenant())?)
}

/// Tells the tenant's worker something in its bundle changed (tokens, identities, policy).
pub async fn bump_bundle(tx: &mut TenantTx) -> Result<(), Error> {
    sqlx::query("UPDATE workers SET bundle_version = bundle_version + 1, updated_at = now() WHERE tenant_id = $1")
        .bind(tx.tenant().as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
