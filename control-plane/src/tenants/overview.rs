//! The figures on a tenant's overview page: how many members, identities and live caller tokens
//! it has, how its worker is doing, and its use over the chosen range ([`stats`]).

use crate::Error;
use crate::access::TenantMember;
use crate::scheduler::{DesiredState, ObservedState};
use crate::state::AppState;
use crate::tenants::stats::{self, Range, TenantStats};
use time::OffsetDateTime;

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
    /// The `shoal-worker` version it last reported.
    pub version: Option<String>,
    /// When its observed state last changed (while running: since when it runs).
    pub updated_at: OffsetDateTime,
    /// An admin asked for a restart the scheduler has not carried out yet.
    pub restart_requested_at: Option<OffsetDateTime>,
    /// Since when it sleeps (idle; woken by the next request).
    pub sleeping_since: Option<OffsetDateTime>,
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

    /// How long it has been running, as `3 h 12 min`; `None` while it is not.
    pub fn uptime(&self, now: OffsetDateTime) -> Option<String> {
        if self.observed_state != ObservedState::Running {
            return None;
        }
        let secs = (now - self.updated_at).whole_seconds().max(0);
        Some(match secs {
            s if s < 60 => format!("{s} s"),
            s if s < 3600 => format!("{} min", s / 60),
            s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
            s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
        })
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
    /// Use over the range.
    pub stats: TenantStats,
}

impl Overview {
    /// Why no identity can serve, when the worker reports every enabled identity quarantined:
    /// each one's name and what GitHub answered.
    pub fn pool_unavailable(&self) -> Option<String> {
        let enabled: Vec<_> = self.stats.identities.iter().filter(|i| i.enabled).collect();
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

/// The tenant's worker row.
pub async fn worker(state: &AppState, by: &TenantMember) -> Result<WorkerStatus, Error> {
    let mut tx = by.begin(state).await?;
    Ok(sqlx::query_as(
        "SELECT desired_state, observed_state, bundle_version, last_error, restarts, version, updated_at,
                restart_requested_at, sleeping_since, wakes
         FROM workers WHERE tenant_id = $1",
    )
    .bind(by.tenant.id.as_uuid())
    .fetch_one(&mut *tx)
    .await?)
}

/// The overview of the member's tenant over `range`.
pub async fn get(state: &AppState, by: &TenantMember, range: Range) -> Result<Overview, Error> {
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
    drop(tx);
    Ok(Overview {
        members,
        identities,
        active_tokens,
        worker: worker(state, by).await?,
        stats: stats::get(state, by, range).await?,
    })
}
