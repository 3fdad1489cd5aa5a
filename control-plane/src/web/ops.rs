//! `/ops`, the operator console (logins in `SHOAL_OPERATORS`; everyone else gets a 404): every
//! tenant with plan, status, worker and this month's use, failed workers first; suspend and resume
//! with a reason; the platform's requests, hit rate, units and active tenants per day as charts,
//! and workers by state.

use super::charts::{Chart, Series, short_number};
use crate::Error;
use crate::http::{ClientIp, Layout, PageError, form_result};
use crate::ops::{self, Operator, platform};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops", get(get_ops))
        .route("/ops/tenants/{slug}/suspend", post(suspend_tenant))
        .route("/ops/tenants/{slug}/resume", post(resume_tenant))
}

/// Days the platform charts cover.
const DAYS: i32 = 30;

/// The operator behind a request, or a 404 for anyone else (signed in or not).
async fn operator(state: &AppState, session: &Session, ip: ClientIp) -> Result<Operator, Error> {
    let user = crate::http::session::current_user(session).await?;
    Operator::of(state, user.as_ref(), ip.0)
}

#[derive(Template, WebTemplate)]
#[template(path = "ops.html")]
struct OpsPage {
    layout: Layout,
    tenants: Vec<platform::TenantRow>,
    workers: Vec<(String, i64)>,
    charts: Vec<Chart>,
    month_requests: i64,
    month_units: i64,
}

fn charts(days: &[platform::DayTotals]) -> Vec<Chart> {
    let labels: Vec<String> = days
        .iter()
        .map(|d| format!("{:02}-{:02}", u8::from(d.day.month()), d.day.day()))
        .collect();
    let col = |f: &dyn Fn(&platform::DayTotals) -> i64| days.iter().map(f).collect::<Vec<_>>();
    vec![
        Chart::stacked(
            "ops-requests",
            "Requests relayed",
            "requests per day",
            &labels,
            vec![
                Series::counts("without spending", "s-hit", col(&|d| d.from_cache)),
                Series::counts("spent upstream", "s-miss", col(&|d| d.requests - d.from_cache)),
            ],
        ),
        Chart::lines(
            "ops-hit-rate",
            "Hit rate",
            "% of requests answered without spending",
            &labels,
            vec![Series {
                label: "hit rate".into(),
                class: "s-hit",
                values: days
                    .iter()
                    .map(|d| (d.requests > 0).then(|| (d.from_cache * 100) as f64 / d.requests as f64))
                    .collect(),
            }],
            Some(100.0),
            &|v| format!("{v:.0}%"),
        ),
        Chart::stacked(
            "ops-units",
            "GitHub units spent",
            "rate-limit units per day",
            &labels,
            vec![Series::counts("units", "s-miss", col(&|d| d.units))],
        ),
        Chart::lines(
            "ops-active",
            "Active tenants",
            "tenants with a read that day",
            &labels,
            vec![Series {
                label: "active tenants".into(),
                class: "l-0",
                values: days.iter().map(|d| Some(d.active_tenants as f64)).collect(),
            }],
            None,
            &short_number,
        ),
    ]
}

async fn get_ops(State(state): State<AppState>, session: Session, ip: ClientIp) -> Result<Response, PageError> {
    operator(&state, &session, ip).await?;
    let tenants = platform::tenants(&state.pool).await?;
    let days = platform::days(&state.pool, DAYS).await?;
    Ok(OpsPage {
        layout: Layout::load(&session).await?,
        month_requests: tenants.iter().map(|t| t.month_requests).sum(),
        month_units: tenants.iter().map(|t| t.month_units).sum(),
        workers: platform::workers_by_state(&state.pool).await?,
        charts: charts(&days),
        tenants,
    }
    .into_response())
}

/// The console's forms: the CSRF token, and a reason when suspending.
#[derive(Deserialize)]
struct OpsFormIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// The operator behind a form post, checked before its CSRF token so that anyone else learns
/// nothing (404) about the console.
async fn operator_form(
    state: &AppState,
    session: &Session,
    ip: ClientIp,
    input: &OpsFormIn,
) -> Result<Operator, Error> {
    let by = operator(state, session, ip).await?;
    crate::http::csrf::verify_csrf(session, &input.csrf).await?;
    Ok(by)
}

async fn suspend_tenant(
    State(state): State<AppState>,
    session: Session,
    ip: ClientIp,
    Path(slug): Path<String>,
    Form(input): Form<OpsFormIn>,
) -> Result<Response, PageError> {
    let by = operator_form(&state, &session, ip, &input).await?;
    let result = ops::suspend(&state, &by, &slug, &input.reason).await;
    form_result(&session, result, "/ops", "/ops").await
}

async fn resume_tenant(
    State(state): State<AppState>,
    session: Session,
    ip: ClientIp,
    Path(slug): Path<String>,
    Form(input): Form<OpsFormIn>,
) -> Result<Response, PageError> {
    let by = operator_form(&state, &session, ip, &input).await?;
    let result = ops::resume(&state, &by, &slug).await;
    form_result(&session, result, "/ops", "/ops").await
}
