//! `/t/{slug}`: members, identities and live tokens at a glance, the worker's state, and the last
//! 24 hours of use.

use super::TenantNav;
use super::When as _;
use crate::access::TenantMember;
use crate::http::{Layout, PageError};
use crate::scheduler::{DesiredState, ObservedState};
use crate::state::AppState;
use crate::tenants::{Tenant, overview, usage};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "tenant_overview.html")]
struct OverviewPage {
    layout: Layout,
    nav: TenantNav,
    tenant: Tenant,
    members: i64,
    identities: i64,
    active_tokens: i64,
    worker_desired: DesiredState,
    worker_observed: ObservedState,
    bundle_version: i64,
    /// Why the worker last exited, when it is restarting or failed.
    worker_error: Option<String>,
    worker_restarts: i32,
    /// `sleeping since 2026-12-03 10:00 UTC`, while the worker sleeps.
    worker_sleeping: Option<String>,
    worker_wakes: i64,
    /// Why no identity can serve (every enabled one quarantined).
    pool_unavailable: Option<String>,
    public_url: String,
    usage: usage::Summary,
    identity_usage: Vec<usage::IdentityUsage>,
    callers: Vec<usage::CallerUsage>,
    routes: Vec<usage::RouteUsage>,
}

pub(super) async fn get_overview(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    let o = overview::get(&state, &member).await?;
    Ok(OverviewPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &member, "overview"),
        public_url: format!("https://{}", state.tenant_host(&member.tenant.slug)),
        worker_error: o.worker.error_while_down().map(str::to_string),
        worker_desired: o.worker.desired_state,
        worker_observed: o.worker.observed_state,
        bundle_version: o.worker.bundle_version,
        worker_restarts: o.worker.restarts,
        worker_sleeping: o.worker.sleeping_since.map(|t| format!("sleeping since {}", t.when())),
        worker_wakes: o.worker.wakes,
        pool_unavailable: o.pool_unavailable(),
        tenant: member.tenant,
        members: o.members,
        identities: o.identities,
        active_tokens: o.active_tokens,
        usage: o.usage,
        identity_usage: o.identity_usage,
        callers: o.callers,
        routes: o.routes,
    }
    .into_response())
}
