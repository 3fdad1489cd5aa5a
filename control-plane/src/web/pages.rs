//! Account-level pages: the start page (sign in, or your tenants) and creating a tenant.

use crate::Error;
use crate::audit::Actor;
use crate::tenants::{self, NewTenant, Plan, Slug, TenantWithRole, VerifiedAdminOrg};
use crate::web::auth::{self, ClientIp, Flash, SessionUser, SignedIn};
use crate::web::{AppState, PageError};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(get_home))
        .route("/tenants/new", get(new_tenant).post(create_tenant))
}

/// What every page's frame needs: who is signed in, the form token, a one-shot message.
pub struct Layout {
    /// Signed-in user.
    pub user: Option<SessionUser>,
    /// CSRF token for forms on this page.
    pub csrf: String,
    /// Message from the previous action.
    pub flash: Option<Flash>,
}

impl Layout {
    /// The frame for this session.
    pub async fn load(session: &Session) -> Result<Self, Error> {
        let user = auth::current_user(session).await?;
        // Anonymous visitors get no form token, so a drive-by visit stores no session row.
        let csrf = match user {
            Some(_) => auth::csrf_token(session).await?,
            None => String::new(),
        };
        Ok(Self {
            user,
            csrf,
            flash: auth::take_flash(session).await?,
        })
    }

    /// A frame with nobody signed in (error pages).
    pub fn anonymous() -> Self {
        Self {
            user: None,
            csrf: String::new(),
            flash: None,
        }
    }
}

/// Ends a form post: success goes to `ok_to` with a message; a client error goes back to
/// `err_to` with the reason (nothing was changed); anything else is an error page.
pub(crate) async fn form_result(
    session: &Session,
    result: Result<String, Error>,
    ok_to: &str,
    err_to: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(msg) => {
            auth::flash(session, "ok", msg).await?;
            Ok(Redirect::to(ok_to).into_response())
        }
        Err(e) if e.status().is_client_error() && !matches!(e, Error::Unauthorized(_) | Error::NotFound) => {
            auth::flash(session, "error", e.public_message()).await?;
            Ok(Redirect::to(err_to).into_response())
        }
        Err(e) => Err(PageError(e)),
    }
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
    csrf: String,
    org: String,
    slug: String,
    #[serde(default)]
    plan: String,
}

async fn create_tenant(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    signed: SignedIn,
    Form(input): Form<CreateTenantIn>,
) -> Result<Response, PageError> {
    auth::verify_csrf(&signed.session, &input.csrf).await?;
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
