//! `/t/{slug}/audit` (admins): the audit log filtered by action, actor and dates, newest first,
//! a page at a time (keyset pagination: `?before=` names the previous page's last row).

use super::TenantNav;
use super::When as _;
use crate::Error;
use crate::access::TenantMember;
use crate::audit::{self, AuditCursor, AuditEntry, AuditFilter};
use crate::http::{Layout, PageError};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;

/// The filter form's fields, as given.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

fn date(field: &str, s: &str) -> Result<Option<time::Date>, Error> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &format)
        .map(Some)
        .map_err(|_| Error::BadRequest(format!("{field} must be a date like 2026-12-03")))
}

fn optional(s: &str, max: usize, what: &str) -> Result<Option<String>, Error> {
    let s = s.trim();
    if s.len() > max {
        return Err(Error::BadRequest(format!("{what} is at most {max} characters")));
    }
    Ok((!s.is_empty()).then(|| s.trim_start_matches('@').to_string()))
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, Error> {
        Ok(AuditFilter {
            action: optional(&self.action, 64, "the action")?,
            actor: optional(&self.actor, 40, "the actor")?,
            from: date("from", &self.from)?,
            to: date("to", &self.to)?,
            before: match self.before.trim() {
                "" => None,
                b => Some(AuditCursor::parse(b)?),
            },
        })
    }

    /// This filter's query string with `before` set to `cursor`.
    fn next_link(&self, cursor: &AuditCursor) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("action", &self.action),
            ("actor", &self.actor),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.append_pair("before", &cursor.encode());
        q.finish()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    nav: TenantNav,
    entries: Vec<AuditEntry>,
    actions: Vec<String>,
    q: AuditQuery,
    /// Query string of the next (older) page.
    next: Option<String>,
    paged: bool,
}

pub(super) async fn list_audit(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let admin = member.admin()?;
    let filter = q.filter()?;
    let (entries, next) = audit::list_filtered(&state, &admin, &filter).await?;
    let actions = audit::list_actions(&state, &admin).await?;
    Ok(AuditPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &admin, "audit"),
        entries,
        actions,
        next: next.map(|c| q.next_link(&c)),
        paged: filter.before.is_some(),
        q,
    }
    .into_response())
}
