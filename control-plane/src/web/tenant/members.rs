//! `/t/{slug}/members`: the members (and, for admins, the people they removed), with role
//! changes, removal and letting someone back in.

use super::When as _;
use super::{TenantNav, admin_action};
use crate::access::TenantMember;
use crate::http::{Confirm, CsrfForm, Layout, PageError};
use crate::state::AppState;
use crate::tenants::Role;
use crate::tenants::members::{self, Member, Removed};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shoal_common::UserId;
use tower_sessions::Session;
use uuid::Uuid;

#[derive(Template, WebTemplate)]
#[template(path = "members.html")]
struct MembersPage {
    layout: Layout,
    nav: TenantNav,
    me: UserId,
    members: Vec<Member>,
    removed: Vec<Removed>,
}

pub(super) async fn list_members(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    let members = members::list(&state, &member).await?;
    let removed = match member.clone().admin() {
        Ok(admin) => members::list_removals(&state, &admin).await?,
        Err(_) => Vec::new(),
    };
    Ok(MembersPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &member, "members"),
        me: member.user,
        members,
        removed,
    }
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct RoleIn {
    role: String,
}

pub(super) async fn update_member_role(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Path((_, user)): Path<(String, Uuid)>,
    CsrfForm(input): CsrfForm<RoleIn>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "members", async |admin| {
        let role = Role::parse(&input.role)?;
        members::change_role(&state, admin, UserId(user), role).await?;
        Ok(format!("Role changed to {role}."))
    })
    .await
}

pub(super) async fn remove_member(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Path((_, user)): Path<(String, Uuid)>,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "members", async |admin| {
        members::remove(&state, admin, UserId(user)).await?;
        Ok("Member removed; their tokens are revoked, and signing in again will not bring them back.".into())
    })
    .await
}

pub(super) async fn allow_member_back(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Path((_, user)): Path<(String, Uuid)>,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "members", async |admin| {
        members::let_back(&state, admin, UserId(user)).await?;
        Ok("They can join again by signing in.".into())
    })
    .await
}
