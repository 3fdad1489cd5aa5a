//! A tenant's numbers over a [`Range`]: what the dashboard draws, `GET
//! /api/v1/tenants/{slug}/stats` answers, `usage.csv` exports and `shoal stats` prints, all from
//! one [`TenantStats`] built by [`get`]. Sums come from the hourly tables (kept 35 days, which
//! covers the longest range) read by tenant and hour; the month headline reads the daily rollup.
//! A read "saved" a rate-limit unit when the relay answered it without spending one: a cache
//! hit, a stale answer, or a revalidation GitHub answered 304 (free).

mod queries;
mod range;

pub use range::{Range, Window};

use crate::Error;
use crate::access::TenantMember;
use crate::state::AppState;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Requests by how the relay answered them (`X-Shoal-Cache`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusCounts {
    /// Answered from the cache, fresh.
    pub hit: i64,
    /// Revalidated with GitHub, which answered 304 (free).
    pub revalidated: i64,
    /// Fetched from GitHub, spending a unit.
    pub miss: i64,
    /// Answered from a stale entry while GitHub or the pool could not.
    pub stale: i64,
    /// Not cacheable; passed through.
    pub bypass: i64,
}

impl StatusCounts {
    /// Adds `n` requests answered with `status` (`HIT`, `MISS`, ...).
    fn add(&mut self, status: &str, n: i64) {
        match status {
            "HIT" => self.hit += n,
            "REVALIDATED" => self.revalidated += n,
            "MISS" => self.miss += n,
            "STALE" => self.stale += n,
            _ => self.bypass += n,
        }
    }

    /// Every request.
    pub fn total(&self) -> i64 {
        self.hit + self.revalidated + self.miss + self.stale + self.bypass
    }

    /// Requests answered without spending a unit.
    pub fn from_cache(&self) -> i64 {
        self.hit + self.revalidated + self.stale
    }
}

/// One bucket of the charts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bucket {
    /// Where the bucket starts (its length is the range's bucket size).
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// Requests by cache status.
    pub requests: StatusCounts,
    /// Requests answered with an error (not in `requests`).
    pub errors: i64,
    /// Calls to GitHub.
    pub upstream_calls: i64,
    /// Rate-limit units spent.
    pub units: i64,
    /// Units the same reads would have cost direct but did not (hits, stale answers, free 304s).
    pub units_saved: i64,
}

/// One account bucket as the identity's worker last reported it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct BudgetOut {
    /// `core`, `search`, `code_search`, `graphql`.
    pub resource: String,
    /// The window's limit.
    pub limit: i64,
    /// Units left.
    pub remaining: i64,
    /// When the window resets.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub reset: Option<OffsetDateTime>,
}

/// One identity's remaining budget on one resource over the range's buckets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetHistory {
    /// The resource.
    pub resource: String,
    /// The limit last reported.
    pub limit: i64,
    /// The remaining budget at the end of each bucket (`null`: no report in it).
    pub remaining: Vec<Option<i64>>,
    /// The reset last reported.
    #[serde(with = "time::serde::rfc3339::option")]
    pub reset: Option<OffsetDateTime>,
}

/// One pooled identity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityStats {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// `pat` or `github_app`.
    pub kind: String,
    /// Whether it may serve.
    pub enabled: bool,
    /// `healthy`, `cooling_down` or `quarantined`; `null` before its worker reported.
    pub state: Option<String>,
    /// Why it is quarantined (what GitHub answered; never a secret).
    pub reason: Option<String>,
    /// Until when it cools down.
    #[serde(with = "time::serde::rfc3339::option")]
    pub cooling_until: Option<OffsetDateTime>,
    /// When its worker last reported on it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub reported_at: Option<OffsetDateTime>,
    /// Budget left per resource, as last reported.
    pub budgets: Vec<BudgetOut>,
    /// Its budgets over the range.
    pub history: Vec<BudgetHistory>,
    /// Calls to GitHub in the range.
    pub calls: i64,
    /// Units spent in the range.
    pub units: i64,
    /// Free 304 answers in the range.
    pub not_modified: i64,
}

/// Requests of one member (all their caller tokens).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct MemberStats {
    /// GitHub login.
    pub login: String,
    /// Requests in the range.
    pub requests: i64,
    /// Of which answered without spending.
    pub from_cache: i64,
}

/// Requests of one caller token.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TokenStats {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The first characters of the token, as shown when it was created.
    pub prefix: String,
    /// Its member's GitHub login.
    pub login: String,
    /// Whether it is revoked or expired.
    pub revoked: bool,
    /// Requests in the range.
    pub requests: i64,
    /// Of which answered without spending.
    pub from_cache: i64,
}

/// Requests of one route class.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct RouteStats {
    /// `pulls`, `issues`, `actions`, `graphql`, ...
    pub route_class: String,
    /// Requests in the range.
    pub requests: i64,
    /// Of which answered without spending.
    pub from_cache: i64,
}

/// Reads of one repository (`(other)`: the rest, beyond the names workers report).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct RepositoryStats {
    /// `owner/name`, lower-cased.
    pub repository: String,
    /// Reads in the range.
    pub requests: i64,
}

/// The current UTC month so far.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct MonthStats {
    /// The first day of the month.
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// Reads relayed.
    pub requests: i64,
    /// Units spent.
    pub units: i64,
    /// Units saved.
    pub units_saved: i64,
}

impl MonthStats {
    /// Units saved as a share of what the reads would have cost direct (saved + spent), in whole
    /// percent; `None` before any.
    pub fn saved_percent(&self) -> Option<i64> {
        percent(self.units_saved, self.units_saved + self.units)
    }
}

impl MemberStats {
    /// Share answered without spending, as `87%`, or `-`.
    pub fn hit_rate(&self) -> String {
        percent_text(self.from_cache, self.requests)
    }
}

impl TokenStats {
    /// Share answered without spending, as `87%`, or `-`.
    pub fn hit_rate(&self) -> String {
        percent_text(self.from_cache, self.requests)
    }
}

impl RouteStats {
    /// Share answered without spending, as `87%`, or `-`.
    pub fn hit_rate(&self) -> String {
        percent_text(self.from_cache, self.requests)
    }
}

impl IdentityStats {
    /// `core 4,990/5,000 (resets 14:00 UTC) · graphql ...`, or `-` before GitHub told.
    pub fn budget_text(&self) -> String {
        let parts: Vec<String> = self
            .budgets
            .iter()
            .map(|b| match b.reset {
                Some(r) => format!(
                    "{} {}/{} (resets {:02}:{:02} UTC)",
                    b.resource,
                    b.remaining,
                    b.limit,
                    r.hour(),
                    r.minute()
                ),
                None => format!("{} {}/{}", b.resource, b.remaining, b.limit),
            })
            .collect();
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" · ")
        }
    }
}

/// Everything about one tenant over one range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantStats {
    /// The tenant's slug.
    pub tenant: String,
    /// The range.
    pub range: Range,
    /// Start of the range (a whole hour).
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// End of the range (the end of the current hour).
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// Hours per bucket of `series`.
    pub bucket_hours: i64,
    /// Reads relayed in the range.
    pub requests: i64,
    /// Requests by cache status.
    pub by_status: StatusCounts,
    /// Requests answered without spending a unit.
    pub from_cache: i64,
    /// `from_cache` as a whole percent of `requests`; `null` before any.
    pub hit_rate_percent: Option<i64>,
    /// Requests answered with an error (refused, fallen back, upstream failed), besides `requests`.
    pub errors: i64,
    /// Calls to GitHub.
    pub upstream_calls: i64,
    /// Rate-limit units spent.
    pub units: i64,
    /// Free 304 answers from GitHub.
    pub not_modified: i64,
    /// Units the same reads would have cost direct but did not.
    pub units_saved: i64,
    /// The range in buckets, oldest first.
    pub series: Vec<Bucket>,
    /// Every identity.
    pub identities: Vec<IdentityStats>,
    /// Members with requests in the range, busiest first.
    pub members: Vec<MemberStats>,
    /// Caller tokens with requests in the range or live, busiest first (at most 50).
    pub caller_tokens: Vec<TokenStats>,
    /// Route classes, busiest first.
    pub routes: Vec<RouteStats>,
    /// The repositories read most (at most 20), busiest first.
    pub repositories: Vec<RepositoryStats>,
    /// This month so far.
    pub month: MonthStats,
}

impl TenantStats {
    /// [`TenantStats::hit_rate_percent`] as `87%`, or `-`.
    pub fn hit_rate(&self) -> String {
        percent_text(self.from_cache, self.requests)
    }
}

/// `part` as a whole percent of `whole`, `None` when `whole` is zero.
pub fn percent(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| part * 100 / whole)
}

/// [`percent`] as `87%`, or `-`.
pub fn percent_text(part: i64, whole: i64) -> String {
    percent(part, whole).map_or_else(|| "-".into(), |p| format!("{p}%"))
}

/// The member's tenant over `range`, as of now.
pub async fn get(state: &AppState, by: &TenantMember, range: Range) -> Result<TenantStats, Error> {
    let mut tx = by.begin(state).await?;
    let window = range.window(OffsetDateTime::now_utc());
    let q = queries::Scope {
        tenant: by.tenant.id.as_uuid(),
        window,
    };
    let (by_status, mut series) = q.requests(&mut tx).await?;
    let (upstream_calls, units, not_modified) = q.upstream(&mut tx, &mut series).await?;
    let errors = q.errors(&mut tx, &mut series).await?;
    let stats = TenantStats {
        tenant: by.tenant.slug.clone(),
        range,
        from: window.start,
        to: window.end,
        bucket_hours: window.bucket_hours,
        requests: by_status.total(),
        from_cache: by_status.from_cache(),
        hit_rate_percent: percent(by_status.from_cache(), by_status.total()),
        errors,
        upstream_calls,
        units,
        not_modified,
        units_saved: by_status.from_cache(),
        by_status,
        series,
        identities: q.identities(&mut tx).await?,
        members: q.members(&mut tx).await?,
        caller_tokens: q.caller_tokens(&mut tx).await?,
        routes: q.routes(&mut tx).await?,
        repositories: q.repositories(&mut tx).await?,
        month: q.month(&mut tx).await?,
    };
    tx.commit().await?;
    Ok(stats)
}
