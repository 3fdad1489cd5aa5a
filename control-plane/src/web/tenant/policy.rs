//! `/t/{slug}/policy`: which owners may be read, the public-only guard, search, token-free reads
//! and TTL overrides, the WebAssembly policy module (upload with its dry run, restore the
//! previous one, failure setting, test a request, reported failures and log lines), and the
//! GitHub webhook to register (its URL, events and, for admins, its secret). Members read it;
//! admins change it and rotate the webhook secret.

use super::{TenantNav, admin_action};
use crate::Error;
use crate::access::TenantMember;
use crate::http::{Confirm, CsrfForm, Layout, PageError};
use crate::state::AppState;
use crate::tenants::policy::{self, PolicySettings, parse_ttl_lines};
use crate::tenants::policy_module::{self, ModuleState};
use crate::webhooks;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shoal_common::protocol::OnFailure;
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "policy.html")]
struct PolicyPage {
    layout: Layout,
    nav: TenantNav,
    owners: String,
    policy: PolicySettings,
    ttl_lines: String,
    ttl_classes: String,
    webhook_url: String,
    webhook_events: String,
    /// Admins only.
    webhook_secret: Option<String>,
    webhook_last: Option<String>,
    webhook_live: bool,
    module: ModuleState,
}

pub(super) async fn get_policy(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
) -> Result<Response, PageError> {
    let policy = policy::get(&state, &member).await?;
    let webhook = webhooks::settings(&state, &member).await?;
    let module = policy_module::get(&state, &member).await?;
    Ok(PolicyPage {
        layout: Layout::load(&session).await?,
        nav: TenantNav::new(&state, &member, "policy"),
        owners: policy.allowed_owners.join("\n"),
        ttl_lines: policy
            .ttl_overrides
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        ttl_classes: policy::TTL_CLASSES.join(", "),
        policy,
        webhook_url: webhook.url,
        webhook_events: webhooks::EVENTS.join(", "),
        webhook_secret: webhook.secret.map(|s| s.expose().to_string()),
        webhook_last: webhook.last_delivery,
        webhook_live: webhook.live,
        module,
    }
    .into_response())
}

#[derive(Deserialize)]
pub(super) struct PolicyIn {
    #[serde(default)]
    allowed_owners: String,
    #[serde(default)]
    public_only: Option<String>,
    #[serde(default)]
    search_allowed: Option<String>,
    #[serde(default)]
    token_free_reads: Option<String>,
    #[serde(default)]
    ttl_overrides: String,
}

pub(super) async fn update_policy(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<PolicyIn>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "policy", async |admin| {
        let settings = PolicySettings {
            allowed_owners: input
                .allowed_owners
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            public_only: input.public_only.is_some(),
            search_allowed: input.search_allowed.is_some(),
            token_free_reads: input.token_free_reads.is_some(),
            ttl_overrides: parse_ttl_lines(&input.ttl_overrides)?,
        };
        policy::update(&state, admin, settings).await?;
        Ok("Policy saved; the worker picks it up with its next bundle.".into())
    })
    .await
}

pub(super) async fn rotate_webhook_secret(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "policy", async |admin| {
        webhooks::rotate(&state, admin).await?;
        Ok("Webhook secret rotated: save the new one on GitHub; the previous one works for 24 hours.".into())
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct ModuleIn {
    /// `.wat` text, or a `.wasm` file in base64.
    #[serde(default)]
    module: String,
}

pub(super) async fn upload_policy_module(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<ModuleIn>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "policy", async |admin| {
        use base64::Engine as _;
        let text = input.module.trim();
        let source = if text.starts_with('(') || text.starts_with(";;") {
            text.as_bytes().to_vec()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text.split_whitespace().collect::<String>())
                .map_err(|_| Error::BadRequest("paste the module's .wat text, or the .wasm file in base64".into()))?
        };
        let dry_run = policy_module::upload(&state, admin, &source).await?;
        let decisions: Vec<String> = dry_run
            .iter()
            .map(|d| format!("{} → {}", d.request, d.decision))
            .collect();
        Ok(format!(
            "Policy module in force; the worker picks it up with its next bundle. Dry run: {}",
            decisions.join("; ")
        ))
    })
    .await
}

pub(super) async fn restore_policy_module(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "policy", async |admin| {
        policy_module::restore(&state, admin).await?;
        Ok("The previous policy module is in force again.".into())
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct OnFailureIn {
    on_failure: String,
}

pub(super) async fn update_policy_module_on_failure(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<OnFailureIn>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "policy", async |admin| {
        let mode = OnFailure::parse(&input.on_failure)
            .ok_or_else(|| Error::BadRequest("choose serve or fallback_local".into()))?;
        policy_module::set_on_failure(&state, admin, mode).await?;
        Ok(format!("When the module fails, requests now get: {}.", mode.as_str()))
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct TestRequestIn {
    method: String,
    path: String,
}

pub(super) async fn test_policy_module(
    State(state): State<AppState>,
    member: TenantMember,
    session: Session,
    CsrfForm(input): CsrfForm<TestRequestIn>,
) -> Result<Response, PageError> {
    admin_action(&session, member, "policy", async |admin| {
        let method = input.method.trim().to_ascii_uppercase();
        let d = policy_module::test_request(&state, admin, &method, input.path.trim()).await?;
        Ok(format!("The module decides {} → {}", d.request, d.decision))
    })
    .await
}
