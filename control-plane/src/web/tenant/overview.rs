//! `/t/{slug}?range=`: the tenant's dashboard. The month's headline, the range's numbers and
//! charts (requests by cache status, units spent against saved, hit rate, each identity's budget),
//! identities, the worker card with an admin's Restart, and use per member, caller token, route
//! class and repository; `/t/{slug}/usage.csv?range=` exports the same.

use super::TenantNav;
use super::When as _;
use crate::access::TenantMember;
use crate::http::{Confirm, CsrfForm, Layout, PageError};
use crate::state::AppState;
use crate::tenants::overview::{self, WorkerStatus};
use crate::tenants::stats::{Range, TenantStats};
use crate::tenants::{Tenant, worker};
use crate::web::charts::{Chart, Series, short_number};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;

/// `?range=` of the dashboard and the CSV.
#[derive(Deserialize)]
pub(super) struct RangeIn {
    range: Option<String>,
}

/// One choice of the range picker.
struct RangeChoice {
    value: &'static str,
    label: &'static str,
    current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tenant_overview.html")]
struct OverviewPage {
    layout: Layout,
    nav: TenantNav,
    tenant: Tenant,
    members: i64,
    identities: i64,
    active_tokens: i64,
    worker: WorkerStatus,
    uptime: Option<String>,
    /// Why the worker last exited, when it is restarting or failed.
    worker_error: Option<String>,
    /// Why no identity can serve (every enabled one quarantined).
    pool_unavailable: Option<String>,
    public_url: String,
    ranges: Vec<RangeChoice>,
    range_label: &'static str,
    stats: TenantStats,
    charts: Vec<Chart>,
    budget_chart: Option<Chart>,
}

/// What each bucket of `range` is called on the time axis.
fn bucket_label(range: Range, t: OffsetDateTime) -> String {
    match range {
        Range::Hour | Range::Day => format!("{:02}:00", t.hour()),
        Range::Week => format!("{:02}-{:02} {:02}h", u8::from(t.month()), t.day(), t.hour()),
        Range::Month => format!("{:02}-{:02}", u8::from(t.month()), t.day()),
    }
}

/// The dashboard's charts over the range.
fn charts(s: &TenantStats) -> (Vec<Chart>, Option<Chart>) {
    let labels: Vec<String> = s.series.iter().map(|b| bucket_label(s.range, b.start)).collect();
    let per = if s.bucket_hours == 1 {
        "per hour".to_string()
    } else {
        format!("per {} hours", s.bucket_hours)
    };
    let col = |f: &dyn Fn(&crate::tenants::stats::Bucket) -> i64| s.series.iter().map(f).collect::<Vec<_>>();
    let requests = Chart::stacked(
        "requests",
        "Requests by cache status",
        &format!("requests {per}"),
        &labels,
        vec![
            Series::counts("HIT", "s-hit", col(&|b| b.requests.hit)),
            Series::counts("REVALIDATED", "s-revalidated", col(&|b| b.requests.revalidated)),
            Series::counts("STALE", "s-stale", col(&|b| b.requests.stale)),
            Series::counts("MISS", "s-miss", col(&|b| b.requests.miss)),
            Series::counts("BYPASS", "s-bypass", col(&|b| b.requests.bypass)),
            Series::counts("errors", "s-error", col(&|b| b.errors)),
        ],
    );
    let units = Chart::stacked(
        "units",
        "GitHub units spent and saved",
        &format!("rate-limit units {per}"),
        &labels,
        vec![
            Series::counts("spent", "s-miss", col(&|b| b.units)),
            Series::counts("saved", "s-hit", col(&|b| b.units_saved)),
        ],
    );
    let hit_rate = Chart::lines(
        "hit-rate",
        "Hit rate",
        "% of requests answered without spending",
        &labels,
        vec![Series {
            label: "hit rate".into(),
            class: "s-hit",
            values: s
                .series
                .iter()
                .map(|b| {
                    let total = b.requests.total();
                    (total > 0).then(|| (b.requests.from_cache() * 100) as f64 / total as f64)
                })
                .collect(),
        }],
        Some(100.0),
        &|v| format!("{v:.0}%"),
    );
    const LINES: [&str; 6] = ["l-0", "l-1", "l-2", "l-3", "l-4", "l-5"];
    let budget_series: Vec<Series> = s
        .identities
        .iter()
        .flat_map(|i| {
            i.history.iter().map(move |h| {
                let reset = h
                    .reset
                    .map(|r| format!(", resets {:02}:{:02} UTC", r.hour(), r.minute()));
                (
                    format!(
                        "{} · {} (of {}{})",
                        i.name,
                        h.resource,
                        h.limit,
                        reset.unwrap_or_default()
                    ),
                    h.remaining.iter().map(|v| v.map(|v| v as f64)).collect::<Vec<_>>(),
                )
            })
        })
        .take(LINES.len())
        .enumerate()
        .map(|(n, (label, values))| Series {
            label,
            class: LINES[n],
            values,
        })
        .collect();
    let budget = (!budget_series.is_empty()).then(|| {
        Chart::lines(
            "budget",
            "Budget left per identity and resource",
            "rate-limit units remaining",
            &labels,
            budget_series,
            None,
            &short_number,
        )
    });
    (vec![requests, units, hit_rate], budget)
}

pub(super) async fn get_overview(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Query(q): Query<RangeIn>,
) -> Result<Response, PageError> {
    let range = Range::parse(q.range.as_deref())?;
    let o = overview::get(&state, &member, range).await?;
    let (charts, budget_chart) = charts(&o.stats);
    Ok(OverviewPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &member, "overview"),
        public_url: format!("https://{}", state.tenant_host(&member.tenant.slug)),
        worker_error: o.worker.error_while_down().map(str::to_string),
        uptime: o.worker.uptime(OffsetDateTime::now_utc()),
        pool_unavailable: o.pool_unavailable(),
        tenant: member.tenant,
        members: o.members,
        identities: o.identities,
        active_tokens: o.active_tokens,
        ranges: Range::ALL
            .into_iter()
            .map(|r| RangeChoice {
                value: r.as_str(),
                label: r.label(),
                current: r == range,
            })
            .collect(),
        range_label: range.label(),
        worker: o.worker,
        stats: o.stats,
        charts,
        budget_chart,
    }
    .into_response())
}

/// Restarts the tenant's worker (admins; audited): the scheduler carries it out.
pub(super) async fn restart_worker(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    let back = format!("/t/{}", member.tenant.slug);
    let result = async { worker::request_restart(&state, &member.admin()?).await }.await;
    crate::http::form_result(&session, result, &back, &back).await
}

/// `/t/{slug}/usage.csv?range=`: the range's use, one line per hour bucket and per member, caller
/// token, route class, repository and identity, as `section,key,requests,from_cache,units`.
pub(super) async fn export_usage_csv(
    State(state): State<AppState>,
    member: TenantMember,
    Query(q): Query<RangeIn>,
) -> Result<Response, PageError> {
    let range = Range::parse(q.range.as_deref())?;
    let s = crate::tenants::stats::get(&state, &member, range).await?;
    let csv = super::usage_csv::render(&s);
    let name = format!("attachment; filename=\"shoal-{}-usage-{}.csv\"", s.tenant, range);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        csv,
    )
        .into_response())
}
