//! Account-level pages: the start page (sign in, or your tenants) and creating a tenant.

use crate::Error;
use crate::audit::Actor;
use crate::http::{ClientIp, CsrfForm, Layout, PageError, SignedIn, form_result};
use crate::state::AppState;
use crate::tenants::{self, NewTenant, Plan, Slug, TenantWithRole, VerifiedAdminOrg};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tower_sessions::Session;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(get_home))
        .route("/tenants/new", get(new_tenant).post(create_tenant))
}

#[derive(Template, WebTemplate)]
#[template(path = "landing.html")]
struct LandingPage {
    layout: Layout,
    oauth_configured: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    tenants: Vec<TenantWithRole>,
    can_create: bool,
}

async fn get_home(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let layout = Layout::load(&session).await?;
    let Some(user) = layout.user.clone() else {
        return Ok(LandingPage {
            layout,
            oauth_configured: state.config.github.client_id.is_some(),
        }
        .into_response());
    };
    let tenants = tenants::list_tenants_for_user(&state.pool, user.id).await?;
    Ok(DashboardPage {
        layout,
        tenants,
        can_create: user.admin_orgs().next().is_some(),
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "tenant_new.html")]
struct NewTenantPage {
    layout: Layout,
    orgs: Vec<String>,
}

async fn new_tenant(signed: SignedIn) -> Result<Response, PageError> {
    let layout = Layout::load(&signed.session).await?;
    Ok(NewTenantPage {
        layout,
        orgs: signed.user.admin_orgs().map(|o| o.login.clone()).collect(),
    }
    .into_response())
}

#[derive(Deserialize)]
struct CreateTenantIn {
    org: String,
    slug: String,
    #[serde(default)]
    plan: String,
}

async fn create_tenant(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    signed: SignedIn,
    CsrfForm(input): CsrfForm<CreateTenantIn>,
) -> Result<Response, PageError> {
    let result = async {
        let org = signed
            .user
            .admin_orgs()
            .find(|o| o.login.eq_ignore_ascii_case(input.org.trim()))
            .ok_or_else(|| {
                Error::Forbidden(format!(
                    "GitHub does not list you as an admin of {:?}; only org admins can create its tenant (sign in again if that changed)",
                    input.org
                ))
            })?;
        let new = NewTenant {
            slug: Slug::parse(&input.slug)?,
            plan: Plan::parse(&input.plan)?,
        };
        let t = tenants::create_tenant(
            &state.pool,
            &state.config.keys,
            Actor::user(signed.user.id, ip),
            signed.user.id,
            &VerifiedAdminOrg {
                login: org.login.clone(),
                id: org.id,
            },
            new,
        )
        .await?;
        Ok(t.slug)
    }
    .await;
    match result {
        Ok(slug) => {
            form_result(
                &signed.session,
                Ok(format!("Tenant {slug} created. Add an identity to start relaying.")),
                &format!("/t/{slug}"),
                "/tenants/new",
            )
            .await
        }
        Err(e) => form_result(&signed.session, Err(e), "/", "/tenants/new").await,
    }
}
