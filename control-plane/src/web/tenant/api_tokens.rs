//! `/t/{slug}/api-tokens` (admins): tokens for the admin JSON API; a new one is shown once.

use super::When as _;
use super::{TenantNav, admin_action, token_created};
use crate::access::TenantMember;
use crate::http::{Confirm, CsrfForm, Layout, PageError};
use crate::state::AppState;
use crate::tokens::admin::{self as admin_tokens, AdminToken};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

#[derive(Template, WebTemplate)]
#[template(path = "api_tokens.html")]
struct AdminTokensPage {
    layout: Layout,
    nav: TenantNav,
    tokens: Vec<AdminToken>,
    api_base: String,
}

pub(super) async fn list_admin_tokens(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    let admin = member.admin()?;
    let tokens = admin_tokens::list(&state, &admin).await?;
    Ok(AdminTokensPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &admin, "api"),
        api_base: format!(
            "{}/api/v1/tenants/{}",
            state.public_url.as_str().trim_end_matches('/'),
            admin.tenant.slug
        ),
        tokens,
    }
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct AdminTokenIn {
    name: String,
}

pub(super) async fn create_admin_token(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<AdminTokenIn>,
) -> Result<Response, PageError> {
    let nav = TenantNav::new(&state, &member, "api");
    let back = format!("/t/{}/api-tokens", member.tenant.slug);
    let created = async {
        let admin = member.admin()?;
        let secret = admin_tokens::create(&state, &admin, &input.name).await?;
        Ok((input.name.trim().to_string(), secret))
    }
    .await;
    token_created(&session, nav, "admin API token", back, created).await
}

pub(super) async fn revoke_admin_token(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Path((_, id)): Path<(String, Uuid)>,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "api-tokens", async |admin| {
        admin_tokens::revoke(&state, admin, id).await?;
        Ok("Admin API token revoked.".into())
    })
    .await
}
