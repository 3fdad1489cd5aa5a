//! What a tenant's worker is given: its bundle (live caller-token hashes, enabled identities with
//! their secrets opened, the policy, the token pepper, the upstream URL, the plan and its monthly
//! allowance) and its version, which every change to one of those bumps (a plan or subscription
//! change by a trigger). The allowance's count is not a reason to bump: the worker counts its
//! own reads on from the count it started with.

use crate::billing::{self, Plan};
use crate::config::{BillingConfig, Keys};
use crate::db::begin_tenant;
use crate::tenants::{data_key, policy, policy_module};
use crate::{Error, identities};
use shoal_common::protocol::{self, Bundle, CallerTokenEntry, Credential, IdentityEntry, Policy, TenantRef};
use shoal_common::{CallerTokenId, Secret, TenantId};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct CallerRow {
    id: Uuid,
    token_hash: Vec<u8>,
    name: String,
    login: String,
    expires_at: Option<OffsetDateTime>,
}

/// The tenant's bundle version now.
pub async fn current_version(pool: &PgPool, tenant: TenantId) -> Result<u64, Error> {
    let mut tx = begin_tenant(pool, tenant).await?;
    let v: i64 = sqlx::query_scalar("SELECT bundle_version FROM workers WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
    Ok(v as u64)
}

/// Where the bundle's upstream and billing come from.
pub struct BundleContext<'a> {
    pub keys: &'a Keys,
    /// The GitHub API base the worker calls.
    pub upstream: &'a str,
    pub billing: &'a BillingConfig,
    /// The control plane's public URL (the upgrade link of a spent allowance).
    pub public_url: &'a url::Url,
}

/// Everything the tenant's worker needs: live caller-token hashes, enabled identities with their
/// secrets opened, the policy, the token pepper, the upstream URL, the plan and its monthly
/// allowance with the reads counted so far.
pub async fn build_bundle(pool: &PgPool, ctx: &BundleContext<'_>, tenant: TenantId) -> Result<Bundle, Error> {
    let keys = ctx.keys;
    let mut tx = begin_tenant(pool, tenant).await?;
    // The version is read first: the content read after it is at least that new, so a worker
    // never holds content older than the version it reports.
    let (slug, plan, version): (String, String, i64) = sqlx::query_as(
        "SELECT t.slug, t.plan, w.bundle_version FROM tenants t JOIN workers w ON w.tenant_id = t.id WHERE t.id = $1",
    )
    .bind(tenant.as_uuid())
    .fetch_one(&mut *tx)
    .await?;
    let callers: Vec<CallerRow> = sqlx::query_as(
        "SELECT ct.id, ct.token_hash, ct.name, u.login, ct.expires_at
         FROM caller_tokens ct JOIN users u ON u.id = ct.user_id
         WHERE ct.tenant_id = $1 AND ct.revoked_at IS NULL AND (ct.expires_at IS NULL OR ct.expires_at > now())
         ORDER BY ct.created_at",
    )
    .bind(tenant.as_uuid())
    .fetch_all(&mut *tx)
    .await?;
    let data_key = data_key(&mut tx, keys).await?;
    let mut entries = Vec::new();
    for i in identities::list_identities(&mut tx)
        .await?
        .into_iter()
        .filter(|i| i.enabled)
    {
        let secret = identities::open_secret(&mut tx, &data_key, i.id).await?;
        let credential = match (i.kind.as_str(), i.app_id, i.installation_id) {
            ("github_app", Some(app), Some(inst)) => Credential::GithubApp {
                app_id: app as u64,
                installation_id: inst as u64,
                private_key: secret,
            },
            _ => Credential::Pat { token: secret },
        };
        entries.push(IdentityEntry {
            id: i.id,
            name: i.name,
            credential,
            scopes: i.scopes,
            account: i.account_login,
            enabled: true,
        });
    }
    let p = policy::get_policy(&mut tx).await?;
    let plan = Plan::from_stored(&plan)?;
    let upgrade_url = billing::billing_page(ctx.public_url, &slug);
    let allowance = billing::allowance::monthly_allowance(&mut tx, ctx.billing, plan, upgrade_url).await?;
    let policy_module = policy_module::for_bundle(&mut tx).await?;
    tx.commit().await?;
    Ok(Bundle {
        protocol_version: protocol::PROTOCOL_VERSION,
        version: version as u64,
        tenant: TenantRef { id: tenant, slug },
        caller_tokens: callers
            .into_iter()
            .map(|c| CallerTokenEntry {
                id: CallerTokenId(c.id),
                hash: hex::encode(c.token_hash),
                name: c.name,
                user_login: c.login,
                expires_at: c.expires_at,
            })
            .collect(),
        identities: entries,
        policy: Policy {
            allowed_owners: p.allowed_owners,
            public_only: p.public_only,
            search_allowed: p.search_allowed,
            token_free_reads: p.token_free_reads,
            ttl_overrides: p.ttl_overrides,
        },
        token_pepper: Secret::new(hex::encode(keys.pepper.as_bytes())),
        upstream: ctx.upstream.to_string(),
        plan: plan.as_str().to_string(),
        allowance,
        policy_module,
    })
}
