//! Pages inside one tenant (`/t/{slug}/...`), one module per page: [`overview`], [`members`],
//! caller [`tokens`], [`identities`], [`policy`], admin [`api_tokens`], the [`audit`] log and
//! [`billing`].
//! Every page takes a [`TenantMember`] (non-members get a 404); admin actions turn it into a
//! [`TenantAdmin`], so a member gets a clear "admins only". Each handler calls one use case of
//! the domain, the same one the admin API calls.

mod api_tokens;
mod audit;
mod billing;
mod identities;
mod members;
mod overview;
mod policy;
mod tokens;
mod usage_csv;

use crate::Error;
use crate::access::{TenantAdmin, TenantMember};
use crate::billing::Standing;
use crate::http::{Layout, PageError, form_result};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shoal_common::Secret;
use time::OffsetDateTime;
use tower_sessions::Session;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/t/{slug}", get(overview::get_overview))
        .route("/t/{slug}/usage.csv", get(overview::export_usage_csv))
        .route("/t/{slug}/worker/restart", post(overview::restart_worker))
        .route("/t/{slug}/members", get(members::list_members))
        .route("/t/{slug}/members/{user}/role", post(members::update_member_role))
        .route("/t/{slug}/members/{user}/remove", post(members::remove_member))
        .route("/t/{slug}/members/{user}/allow", post(members::allow_member_back))
        .route(
            "/t/{slug}/tokens",
            get(tokens::list_caller_tokens).post(tokens::create_caller_token),
        )
        .route("/t/{slug}/tokens/{id}/revoke", post(tokens::revoke_caller_token))
        .route("/t/{slug}/identities", get(identities::list_identities))
        .route("/t/{slug}/identities/pat", post(identities::create_pat_identity))
        .route("/t/{slug}/identities/app", post(identities::create_app_identity))
        .route(
            "/t/{slug}/identities/{id}/scopes",
            post(identities::update_identity_scopes),
        )
        .route(
            "/t/{slug}/identities/{id}/enabled",
            post(identities::update_identity_enabled),
        )
        .route("/t/{slug}/identities/{id}/delete", post(identities::delete_identity))
        .route("/t/{slug}/policy", get(policy::get_policy).post(policy::update_policy))
        .route("/t/{slug}/policy/webhook-secret", post(policy::rotate_webhook_secret))
        .route(
            "/t/{slug}/policy/module",
            post(policy::upload_policy_module)
                .layer(DefaultBodyLimit::max(crate::tenants::policy_module::UPLOAD_BODY_LIMIT)),
        )
        .route("/t/{slug}/policy/module/restore", post(policy::restore_policy_module))
        .route(
            "/t/{slug}/policy/module/on-failure",
            post(policy::update_policy_module_on_failure),
        )
        .route("/t/{slug}/policy/module/test", post(policy::test_policy_module))
        .route(
            "/t/{slug}/api-tokens",
            get(api_tokens::list_admin_tokens).post(api_tokens::create_admin_token),
        )
        .route("/t/{slug}/api-tokens/{id}/revoke", post(api_tokens::revoke_admin_token))
        .route("/t/{slug}/audit", get(audit::list_audit))
        .route("/t/{slug}/billing", get(billing::get_billing))
        .route("/t/{slug}/billing/success", get(billing::get_billing_success))
        .route("/t/{slug}/billing/cancel", get(billing::get_billing_cancel))
        .route("/t/{slug}/billing/checkout", post(billing::create_checkout))
        .route("/t/{slug}/billing/portal", post(billing::create_portal))
}

/// Formats times for pages, in UTC.
pub(crate) trait When {
    /// `2026-11-23 01:02 UTC`, or `never`.
    fn when(&self) -> String;
}

impl When for OffsetDateTime {
    fn when(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            self.year(),
            u8::from(self.month()),
            self.day(),
            self.hour(),
            self.minute()
        )
    }
}

impl When for Option<OffsetDateTime> {
    fn when(&self) -> String {
        self.map(|t| t.when()).unwrap_or_else(|| "never".into())
    }
}

/// The tenant header and tabs.
pub struct TenantNav {
    /// Slug.
    pub slug: String,
    /// GitHub org.
    pub org: String,
    /// Relay host.
    pub host: String,
    /// Whether the viewer is an admin.
    pub is_admin: bool,
    /// Which tab is open.
    pub active: &'static str,
    /// While a failed payment's grace period runs: when it ends (the banner on every page).
    pub grace_until: Option<String>,
}

impl TenantNav {
    fn new(state: &AppState, member: &TenantMember, active: &'static str) -> Self {
        TenantNav {
            slug: member.tenant.slug.clone(),
            org: member.tenant.github_org.clone(),
            host: state.tenant_host(&member.tenant.slug),
            is_admin: member.role.is_admin(),
            active,
            grace_until: match member
                .tenant
                .account()
                .standing(&state.config.billing, OffsetDateTime::now_utc())
            {
                Standing::Grace { until } => Some(until.when()),
                _ => None,
            },
        }
    }
}

/// Ends an admin's form post on `/t/{slug}/{page}`: runs `action` as an admin (a member is told
/// it is for admins) and shows its message, or what was wrong, back on the page.
async fn admin_action(
    session: &Session,
    member: TenantMember,
    page: &str,
    action: impl AsyncFnOnce(&TenantAdmin) -> Result<String, Error>,
) -> Result<Response, PageError> {
    let back = format!("/t/{}/{page}", member.tenant.slug);
    let result = async { action(&member.admin()?).await }.await;
    form_result(session, result, &back, &back).await
}

#[derive(Template, WebTemplate)]
#[template(path = "token_created.html")]
struct TokenCreatedPage {
    layout: Layout,
    nav: TenantNav,
    kind: &'static str,
    name: String,
    token: String,
    back: String,
    host: String,
}

/// Shows a new token (its name and secret) once, or what was wrong back on the form's page,
/// `back`.
async fn token_created(
    session: &Session,
    nav: TenantNav,
    kind: &'static str,
    back: String,
    created: Result<(String, Secret), Error>,
) -> Result<Response, PageError> {
    match created {
        Ok((name, secret)) => Ok(TokenCreatedPage {
            layout: Layout::load(session).await?,
            host: nav.host.clone(),
            nav,
            kind,
            name,
            token: secret.expose().to_string(),
            back,
        }
        .into_response()),
        Err(e) => form_result(session, Err(e), &back, &back).await,
    }
}
