//! `/t/{slug}/tokens`: caller tokens. Members see and revoke their own, admins everyone's; a new
//! token is shown once.

use super::When as _;
use super::{TenantNav, token_created};
use crate::Error;
use crate::access::TenantMember;
use crate::http::{Confirm, CsrfForm, Layout, PageError, form_result};
use crate::state::AppState;
use crate::tokens::{self, CallerToken};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shoal_common::{CallerTokenId, UserId};
use time::OffsetDateTime;
use tower_sessions::Session;
use uuid::Uuid;

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    nav: TenantNav,
    me: UserId,
    tokens: Vec<CallerToken>,
}

pub(super) async fn list_caller_tokens(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    let tokens = tokens::list(&state, &member).await?;
    Ok(TokensPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &member, "tokens"),
        me: member.user,
        tokens,
    }
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct CreateTokenIn {
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

/// The expiry a form's "days" field asks for: empty or `never` for none, else 1 to 730 days.
fn expiry_from_days(days: &str) -> Result<Option<OffsetDateTime>, Error> {
    match days.trim() {
        "" | "never" => Ok(None),
        d => {
            let n: i64 = d
                .parse()
                .map_err(|_| Error::BadRequest("choose how many days the token lasts".into()))?;
            if !(1..=730).contains(&n) {
                return Err(Error::BadRequest("a token lasts between 1 and 730 days".into()));
            }
            Ok(Some(OffsetDateTime::now_utc() + time::Duration::days(n)))
        }
    }
}

pub(super) async fn create_caller_token(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<CreateTokenIn>,
) -> Result<Response, PageError> {
    let created = async {
        let expires = expiry_from_days(&input.expires_in_days)?;
        let (tok, secret) = tokens::create(&state, &member, &input.name, expires).await?;
        Ok((tok.name, secret))
    }
    .await;
    let back = format!("/t/{}/tokens", member.tenant.slug);
    token_created(
        &session,
        TenantNav::new(&state, &member, "tokens"),
        "caller token",
        back,
        created,
    )
    .await
}

pub(super) async fn revoke_caller_token(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Path((_, id)): Path<(String, Uuid)>,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    let back = format!("/t/{}/tokens", member.tenant.slug);
    let result = tokens::revoke(&state, &member, CallerTokenId(id))
        .await
        .map(|tok| format!("Token {} ({}) revoked.", tok.name, tok.display_prefix));
    form_result(&session, result, &back, &back).await
}
