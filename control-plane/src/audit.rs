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

/// Rows per page of the filtered audit log.
pub const AUDIT_PAGE: i64 = 50;

/// What the audit page filters by; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action (`worker.restart`) or a prefix ending in `.` (`token.`).
    pub action: Option<String>,
    /// GitHub login of the actor.
    pub actor: Option<String>,
    /// First day shown (UTC).
    pub from: Option<time::Date>,
    /// Last day shown (UTC).
    pub to: Option<time::Date>,
    /// Show rows older than this one: the keyset of the previous page's last row.
    pub before: Option<AuditCursor>,
}

/// Where a page of the audit log ends: its last row's time and id. Written as
/// `<unix microseconds>.<id>` in `?before=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub created_at: OffsetDateTime,
    pub id: i64,
}

impl AuditCursor {
    /// Parses [`AuditCursor::encode`]'s form; anything else is a 400.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadRequest("that audit page link is malformed; start again from the first page".into());
        let (micros, id) = s.split_once('.').ok_or_else(bad)?;
        let micros: i128 = micros.parse().map_err(|_| bad())?;
        let created_at = OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).map_err(|_| bad())?;
        Ok(AuditCursor {
            created_at,
            id: id.parse().map_err(|_| bad())?,
        })
    }

    /// `<unix microseconds>.<id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at.unix_timestamp_nanos() / 1000, self.id)
    }
}

#[derive(sqlx::FromRow)]
struct FilteredRow {
    id: i64,
    #[sqlx(flatten)]
    entry: AuditEntry,
}

/// One page of the tenant's audit rows matching `filter`, newest first, and the cursor of the
/// next page when there is one. Pages by keyset (`(created_at, id)` below the cursor), never
/// OFFSET, so a deep page costs what the first does.
pub async fn list_filtered(
    state: &AppState,
    admin: &TenantAdmin,
    filter: &AuditFilter,
) -> Result<(Vec<AuditEntry>, Option<AuditCursor>), Error> {
    let mut tx = admin.begin(state).await?;
    let action_prefix = filter.action.as_deref().filter(|a| a.ends_with('.'));
    let action_exact = filter.action.as_deref().filter(|a| !a.ends_with('.'));
    let rows: Vec<FilteredRow> = sqlx::query_as(
        "SELECT a.id, a.created_at, u.login AS actor, a.action, a.target, host(a.ip) AS ip
         FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id
         WHERE a.tenant_id = $1
           AND ($2::text IS NULL OR a.action = $2)
           AND ($3::text IS NULL OR starts_with(a.action, $3))
           AND ($4::text IS NULL OR lower(u.login) = lower($4))
           AND ($5::date IS NULL OR a.created_at >= ($5::date)::timestamp AT TIME ZONE 'UTC')
           AND ($6::date IS NULL OR a.created_at < ($6::date + 1)::timestamp AT TIME ZONE 'UTC')
           AND ($7::timestamptz IS NULL OR (a.created_at, a.id) < ($7, $8))
         ORDER BY a.created_at DESC, a.id DESC LIMIT $9",
    )
    .bind(admin.tenant.id.as_uuid())
    .bind(action_exact)
    .bind(action_prefix)
    .bind(filter.actor.as_deref())
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.before.map(|c| c.created_at))
    .bind(filter.before.map_or(0, |c| c.id))
    .bind(AUDIT_PAGE + 1)
    .fetch_all(&mut *tx)
    .await?;
    let more = rows.len() as i64 > AUDIT_PAGE;
    let page: Vec<FilteredRow> = rows.into_iter().take(AUDIT_PAGE as usize).collect();
    let next = more.then(|| page.last()).flatten().map(|r| AuditCursor {
        created_at: r.entry.created_at,
        id: r.id,
    });
    Ok((page.into_iter().map(|r| r.entry).collect(), next))
}

/// The actions recorded in the tenant's log, for the filter's choices.
pub async fn list_actions(state: &AppState, admin: &TenantAdmin) -> Result<Vec<String>, Error> {
    let mut tx = admin.begin(state).await?;
    Ok(
        sqlx::query_scalar("SELECT DISTINCT action FROM audit_log WHERE tenant_id = $1 ORDER BY action")
            .bind(admin.tenant.id.as_uuid())
            .fetch_all(&mut *tx)
            .await?,
    )
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
