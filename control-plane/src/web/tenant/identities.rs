//! `/t/{slug}/identities`: the pooled identities; admins add PATs and GitHub Apps (checked with
//! GitHub first), change scopes, disable and delete them.

use super::When as _;
use super::{TenantNav, admin_action};
use crate::Error;
use crate::access::TenantMember;
use crate::http::{Confirm, CsrfForm, Layout, PageError};
use crate::identities::{self, Identity, IdentityPatch, NewCredential, NewIdentity};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shoal_common::{IdentityId, Secret};
use tower_sessions::Session;
use uuid::Uuid;

#[derive(Template, WebTemplate)]
#[template(path = "identities.html")]
struct IdentitiesPage {
    layout: Layout,
    nav: TenantNav,
    identities: Vec<Identity>,
}

pub(super) async fn list_identities(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    let identities = identities::list(&state, &member).await?;
    Ok(IdentitiesPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &member, "identities"),
        identities,
    }
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct PatIn {
    name: String,
    token: String,
    #[serde(default)]
    scopes: String,
}

pub(super) async fn create_pat_identity(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<PatIn>,
) -> Result<Response, PageError> {
    let new = NewIdentity {
        name: input.name,
        scopes: vec![input.scopes],
        credential: NewCredential::Pat {
            token: Secret::new(input.token),
        },
    };
    admin_action(&session, member, "identities", async |admin| {
        let ident = identities::add(&state, admin, new).await?;
        Ok(format!(
            "Identity {} added for GitHub account {}.",
            ident.name,
            ident.account_login.unwrap_or_default()
        ))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct AppIn {
    name: String,
    app_id: String,
    installation_id: String,
    private_key: String,
    #[serde(default)]
    scopes: String,
}

fn parse_id(text: &str, what: &str) -> Result<i64, Error> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::BadRequest(format!("the {what} is a positive number")))
}

pub(super) async fn create_app_identity(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<AppIn>,
) -> Result<Response, PageError> {
    let private_key = Secret::new(input.private_key);
    admin_action(&session, member, "identities", async |admin| {
        let new = NewIdentity {
            name: input.name,
            scopes: vec![input.scopes],
            credential: NewCredential::GithubApp {
                app_id: parse_id(&input.app_id, "app id")?,
                installation_id: parse_id(&input.installation_id, "installation id")?,
                private_key,
            },
        };
        let ident = identities::add(&state, admin, new).await?;
        Ok(format!("GitHub App identity {} added.", ident.name))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct ScopesIn {
    #[serde(default)]
    scopes: String,
}

pub(super) async fn update_identity_scopes(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Path((_, id)): Path<(String, Uuid)>,
    CsrfForm(input): CsrfForm<ScopesIn>,
) -> Result<Response, PageError> {
    let patch = IdentityPatch {
        scopes: Some(vec![input.scopes]),
        enabled: None,
    };
    admin_action(&session, member, "identities", async |admin| {
        identities::update(&state, admin, IdentityId(id), patch).await?;
        Ok("Scopes saved.".into())
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct EnabledIn {
    enabled: String,
}

pub(super) async fn update_identity_enabled(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Path((_, id)): Path<(String, Uuid)>,
    CsrfForm(input): CsrfForm<EnabledIn>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "identities", async |admin| {
        let enabled = match input.enabled.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(Error::BadRequest("enabled must be true or false".into())),
        };
        let patch = IdentityPatch {
            scopes: None,
            enabled: Some(enabled),
        };
        identities::update(&state, admin, IdentityId(id), patch).await?;
        Ok(if enabled {
            "Identity enabled."
        } else {
            "Identity disabled."
        }
        .into())
    })
    .await
}

pub(super) async fn delete_identity(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    Path((_, id)): Path<(String, Uuid)>,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "identities", async |admin| {
        identities::delete(&state, admin, IdentityId(id)).await?;
        Ok("Identity deleted; its secret is gone.".into())
    })
    .await
}
