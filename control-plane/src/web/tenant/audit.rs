//! `/t/{slug}/audit` (admins): the latest audit rows.

use super::TenantNav;
use super::When as _;
use crate::access::TenantMember;
use crate::audit::{self, AuditEntry};
use crate::http::{Layout, PageError};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    nav: TenantNav,
    entries: Vec<AuditEntry>,
}

pub(super) async fn list_audit(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    let admin = member.admin()?;
    let entries = audit::list(&state, &admin).await?;
    Ok(AuditPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &admin, "audit"),
        entries,
    }
    .into_response())
}
