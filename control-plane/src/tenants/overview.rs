//! The figures on a tenant's overview page: how many members, identities and live caller tokens
//! it has, how its worker is doing, and its last 24 hours of use.

use crate::Error;
use crate::access::TenantMember;
use crate::scheduler::{DesiredState, ObservedState};
use crate::state::AppState;
use crate::tenants::usage;

/// The tenant's worker as the scheduler last recorded it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkerStatus {
    /// What the control plane wants.
    pub desired_state: DesiredState,
    /// What the scheduler last saw.
    pub observed_state: ObservedState,
    /// The bundle version the worker is told about.
    pub bundle_version: i64,
    /// Why it last exited.
    pub last_error: Option<String>,
    /// How often it was restarted.
    pub restarts: i32,
    /// Since when it sleeps (idle; woken by the next request).
    pub sleeping_since: Option<time::OffsetDateTime>,
    /// How often the edge woke it.
    pub wakes: i64,
}

impl WorkerStatus {
    /// Why the worker last exited, while it is not running.
    pub fn error_while_down(&self) -> Option<&str> {
        self.last_error
            .as_deref()
            .filter(|_| self.observed_state != ObservedState::Running)
    }
}

/// Everything the overview shows.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Members.
    pub members: i64,
    /// Enabled identities.
    pub identities: i64,
    /// Caller tokens neither revoked nor expired.
    pub active_tokens: i64,
    /// The worker.
    pub worker: WorkerStatus,
    /// Totals of the last 24 hours.
    pub usage: usage::Summary,
    /// Each identity's health and spend.
    pub identity_usage: Vec<usage::IdentityUsage>,
    /// The busiest live caller tokens.
    pub callers: Vec<usage::CallerUsage>,
    /// Requests per route class.
    pub routes: Vec<usage::RouteUsage>,
}

impl Overview {
    /// Why no identity can serve, when the worker reports every enabled identity quarantined:
    /// each one's name and what GitHub answered.
    pub fn pool_unavailable(&self) -> Option<String> {
        let enabled: Vec<_> = self.identity_usage.iter().filter(|i| i.enabled).collect();
        if enabled.is_empty() || enabled.iter().any(|i| i.state.as_deref() != Some("quarantined")) {
            return None;
        }
        let why: Vec<String> = enabled
            .iter()
            .map(|i| format!("{}: {}", i.name, i.reason.as_deref().unwrap_or("quarantined")))
            .collect();
        Some(why.join("; "))
    }
}

/// The overview of the member's tenant.
pub async fn get(state: &AppState, by: &TenantMember) -> Result<Overview, Error> {
    let mut tx = by.begin(state).await?;
    let t = by.tenant.id.as_uuid();
    let (members, identities, active_tokens): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM memberships WHERE tenant_id = $1),
                (SELECT count(*) FROM identities WHERE tenant_id = $1 AND enabled),
                (SELECT count(*) FROM caller_tokens WHERE tenant_id = $1 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > now()))",
    )
    .bind(t)
    .fetch_one(&mut *tx)
    .await?;
    let worker: WorkerStatus = sqlx::query_as(
        "SELECT desired_state, observed_state, bundle_version, last_error, restarts, sleeping_since, wakes
         FROM workers WHERE tenant_id = $1",
    )
    .bind(t)
    .fetch_one(&mut *tx)
    .await?;
    Ok(Overview {
        members,
        identities,
        active_tokens,
        worker,
        usage: usage::summary(&mut tx).await?,
        identity_usage: usage::identities(&mut tx).await?,
        callers: usage::callers(&mut tx).await?,
        routes: usage::routes(&mut tx).await?,
    })
}
