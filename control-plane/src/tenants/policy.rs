//! Tenant policy: which owners may be read through pooled identities, the public-only guard,
//! search, token-free reads and cache TTL overrides per freshness class.

use crate::Error;
use crate::access::{TenantAdmin, TenantMember};
use crate::audit::{self, Actor};
use crate::db::TenantTx;
use crate::github::is_valid_login;
use crate::state::AppState;
use crate::tenants::bump_bundle;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Freshness classes a TTL can be overridden for.
pub const TTL_CLASSES: &[&str] = &["immutable", "slow", "fast", "list", "search", "graphql"];
/// The longest TTL override: one week.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// The tenant's policy settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Policy)]
pub struct PolicySettings {
    /// GitHub owners whose repos may be read. Empty refuses every repo route.
    pub allowed_owners: Vec<String>,
    /// Check a repo is public before spending a pooled identity on it.
    pub public_only: bool,
    /// Allow search endpoints.
    pub search_allowed: bool,
    /// Serve public raw contents without an identity.
    pub token_free_reads: bool,
    /// TTL in seconds per freshness class.
    pub ttl_overrides: BTreeMap<String, u64>,
}

impl PolicySettings {
    /// Checks every field; the message names the bad value.
    pub fn validate(mut self) -> Result<Self, Error> {
        let mut owners = Vec::new();
        for o in &self.allowed_owners {
            let o = o.trim();
            if o.is_empty() {
                continue;
            }
            if !is_valid_login(o) {
                return Err(Error::BadRequest(format!(
                    "{o:?} is not a GitHub owner name (letters, digits and dashes, up to 39)"
                )));
            }
            if !owners.iter().any(|x: &String| x.eq_ignore_ascii_case(o)) {
                owners.push(o.to_string());
            }
        }
        if owners.len() > 100 {
            return Err(Error::BadRequest("at most 100 allowed owners".into()));
        }
        self.allowed_owners = owners;
        for (class, secs) in &self.ttl_overrides {
            if !TTL_CLASSES.contains(&class.as_str()) {
                return Err(Error::BadRequest(format!(
                    "unknown TTL class {class:?}; use one of {}",
                    TTL_CLASSES.join(", ")
                )));
            }
            if *secs > MAX_TTL_SECS {
                return Err(Error::BadRequest(format!(
                    "the TTL for {class} must be at most {MAX_TTL_SECS} seconds"
                )));
            }
        }
        Ok(self)
    }
}

/// Parses TTL overrides written one per line as `class=seconds` (the policy form).
pub fn parse_ttl_lines(text: &str) -> Result<BTreeMap<String, u64>, Error> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (class, secs) = line
            .split_once('=')
            .ok_or_else(|| Error::BadRequest(format!("write TTL overrides as class=seconds, got {line:?}")))?;
        let secs: u64 = secs
            .trim()
            .parse()
            .map_err(|_| Error::BadRequest(format!("the TTL in {line:?} must be a whole number of seconds")))?;
        out.insert(class.trim().to_string(), secs);
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    allowed_owners: Vec<String>,
    public_only: bool,
    search_allowed: bool,
    token_free_reads: bool,
    ttl_overrides: sqlx::types::Json<BTreeMap<String, u64>>,
}

/// The tenant's policy.
pub async fn get_policy(tx: &mut TenantTx) -> Result<PolicySettings, Error> {
    let row: PolicyRow = sqlx::query_as(
        "SELECT allowed_owners, public_only, search_allowed, token_free_reads, ttl_overrides
         FROM policies WHERE tenant_id = $1",
    )
    .bind(tx.tenant().as_uuid())
    .fetch_one(&mut **tx)
    .await?;
    Ok(PolicySettings {
        allowed_owners: row.allowed_owners,
        public_only: row.public_only,
        search_allowed: row.search_allowed,
        token_free_reads: row.token_free_reads,
        ttl_overrides: row.ttl_overrides.0,
    })
}

/// Validates and saves the policy, and tells the worker.
pub async fn update_policy(tx: &mut TenantTx, actor: Actor, settings: PolicySettings) -> Result<PolicySettings, Error> {
    let s = settings.validate()?;
    sqlx::query(
        "UPDATE policies SET allowed_owners = $2, public_only = $3, search_allowed = $4,
                token_free_reads = $5, ttl_overrides = $6, updated_at = now()
         WHERE tenant_id = $1",
    )
    .bind(tx.tenant().as_uuid())
    .bind(&s.allowed_owners)
    .bind(s.public_only)
    .bind(s.search_allowed)
    .bind(s.token_free_reads)
    .bind(sqlx::types::Json(&s.ttl_overrides))
    .execute(&mut **tx)
    .await?;
    bump_bundle(tx).await?;
    audit::record(
        tx,
        actor,
        "policy.update",
        "policy",
        serde_json::to_value(&s).unwrap_or_default(),
    )
    .await?;
    Ok(s)
}

/// The tenant's policy, for any member.
pub async fn get(state: &AppState, by: &TenantMember) -> Result<PolicySettings, Error> {
    get_policy(&mut by.begin(state).await?).await
}

/// Validates and saves the tenant's policy; returns what was saved.
pub async fn update(state: &AppState, admin: &TenantAdmin, settings: PolicySettings) -> Result<PolicySettings, Error> {
    let mut tx = admin.begin(state).await?;
    let saved = update_policy(&mut tx, Actor::from(admin), settings).await?;
    tx.commit().await?;
    Ok(saved)
}
