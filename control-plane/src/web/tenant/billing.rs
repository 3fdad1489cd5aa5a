//! `/t/{slug}/billing` (admins): plan, subscription status, this month's reads against the
//! allowance, identities and members against their caps, the next invoice date, and the ways
//! into Stripe: Upgrade (a Checkout session) and Manage billing (the customer portal), with the
//! pages Checkout returns to. With billing off the page says so.

use super::TenantNav;
use super::When as _;
use crate::Error;
use crate::access::TenantMember;
use crate::billing::checkout::{open_portal, start_checkout};
use crate::billing::plans::thousands;
use crate::billing::summary::{self, Summary};
use crate::billing::{Plan, PlanLimits};
use crate::http::{Confirm, CsrfForm, Layout, PageError, form_result};
use crate::state::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

/// Where the billing page's forms may lead: ourselves and Stripe's hosted pages (Checkout and the
/// portal), which a form post is redirected to.
fn form_action(state: &AppState) -> String {
    let base = &state.config.billing.stripe_api_base;
    if base.host_str() == Some("api.stripe.com") {
        "'self' https://checkout.stripe.com https://billing.stripe.com".into()
    } else {
        format!("'self' {}", base.origin().ascii_serialization())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "billing.html")]
struct BillingPage {
    layout: Layout,
    nav: TenantNav,
    enabled: bool,
    account: Summary,
    limits: PlanLimits,
    outcome: Option<&'static str>,
}

impl BillingPage {
    fn reads(&self) -> String {
        format!(
            "{} of {}",
            thousands(self.account.reads_this_month.max(0) as u64),
            self.limits.included_reads_display()
        )
    }
    fn identities(&self) -> String {
        Summary::against(self.account.identities, self.limits.identities)
    }
    fn members(&self) -> String {
        Summary::against(self.account.members, self.limits.members)
    }
    fn next_invoice(&self) -> String {
        match (self.account.status.as_str(), self.account.current_period_end) {
            ("active" | "trialing" | "past_due", Some(t)) => t.when(),
            _ => "none".into(),
        }
    }
}

async fn page(
    state: &AppState,
    member: TenantMember,
    session: &Session,
    outcome: Option<&'static str>,
) -> Result<Response, PageError> {
    let admin = member.admin()?;
    let account = summary::load(state, &admin).await?;
    let mut resp = BillingPage {
        layout: Layout::load(session).await?,
        nav: TenantNav::new(state, &admin, "billing"),
        enabled: state.stripe.is_some(),
        limits: account.plan.limits(),
        account,
        outcome,
    }
    .into_response();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        form_action(state)
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(resp)
}

pub(super) async fn get_billing(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    page(&state, member, &session, None).await
}

/// Where Checkout returns after paying. The plan itself changes when Stripe's webhook arrives.
pub(super) async fn get_billing_success(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    page(&state, member, &session, Some("success")).await
}

/// Where Checkout returns when the admin gives up.
pub(super) async fn get_billing_cancel(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    page(&state, member, &session, Some("cancel")).await
}

#[derive(Deserialize)]
pub(super) struct UpgradeIn {
    plan: String,
}

/// Starts Checkout and sends the browser to it.
pub(super) async fn create_checkout(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<UpgradeIn>,
) -> Result<Response, PageError> {
    let back = format!("/t/{}/billing", member.tenant.slug);
    let started = async {
        let plan = Plan::from_stored(input.plan.trim())
            .map_err(|_| Error::BadRequest(format!("unknown plan {:?}; choose team or business", input.plan)))?;
        start_checkout(&state, &member.admin()?, plan).await
    }
    .await;
    to_stripe(&session, started, &back).await
}

/// Opens the customer portal.
pub(super) async fn create_portal(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    let back = format!("/t/{}/billing", member.tenant.slug);
    let opened = async { open_portal(&state, &member.admin()?).await }.await;
    to_stripe(&session, opened, &back).await
}

async fn to_stripe(session: &Session, url: Result<String, Error>, back: &str) -> Result<Response, PageError> {
    match url {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => form_result(session, Err(e), back, back).await,
    }
}
