//! Pages inside one tenant (`/t/{slug}/...`): overview, members, caller tokens, identities,
//! policy, admin API tokens and the audit log. Non-members get a 404; members who are not admins
//! get a clear "admins only" for admin actions.

use crate::Error;
use crate::audit::{self, Actor, AuditEntry};
use crate::db::{TenantTx, begin_tenant};
use crate::identities::{self, Identity, NewApp, NewPat, parse_scopes};
use crate::tenants::members::{self, Member, Removed, Role};
use crate::tenants::policy::{self, PolicySettings, parse_ttl_lines};
use crate::tenants::{self, Tenant, data_key, usage};
use crate::tokens::admin::{self as admin_tokens, AdminToken};
use crate::tokens::{self, CallerToken};
use crate::web::auth::{self, ClientIp, SignedIn};
use crate::web::pages::{Layout, form_result};
use crate::web::{AppState, PageError};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use shoal_common::{CallerTokenId, IdentityId, Secret, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/t/{slug}", get(get_overview))
        .route("/t/{slug}/members", get(list_members))
        .route("/t/{slug}/members/{user}/role", post(update_member_role))
        .route("/t/{slug}/members/{user}/remove", post(remove_member))
        .route("/t/{slug}/members/{user}/allow", post(allow_member_back))
        .route("/t/{slug}/tokens", get(list_caller_tokens).post(create_caller_token))
        .route("/t/{slug}/tokens/{id}/revoke", post(revoke_caller_token))
        .route("/t/{slug}/identities", get(list_identities))
        .route("/t/{slug}/identities/pat", post(create_pat_identity))
        .route("/t/{slug}/identities/app", post(create_app_identity))
        .route("/t/{slug}/identities/{id}/scopes", post(update_identity_scopes))
        .route("/t/{slug}/identities/{id}/enabled", post(update_identity_enabled))
        .route("/t/{slug}/identities/{id}/delete", post(delete_identity))
        .route("/t/{slug}/policy", get(get_policy).post(update_policy))
        .route("/t/{slug}/api-tokens", get(list_admin_tokens).post(create_admin_token))
        .route("/t/{slug}/api-tokens/{id}/revoke", post(revoke_admin_token))
        .route("/t/{slug}/audit", get(list_audit))
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
}

struct Ctx {
    tenant: Tenant,
    role: Role,
    tx: TenantTx,
}

/// Finds the tenant and the viewer's role in it; not a member (or no such tenant) is a 404.
async fn enter(state: &AppState, user: UserId, slug: &str) -> Result<Ctx, Error> {
    let tenant = tenants::find_tenant_by_slug(&state.pool, slug)
        .await?
        .ok_or(Error::NotFound)?;
    let mut tx = begin_tenant(&state.pool, tenant.id).await?;
    let role = members::find_role(&mut tx, user).await?.ok_or(Error::NotFound)?;
    Ok(Ctx { tenant, role, tx })
}

fn require_admin(role: Role) -> Result<(), Error> {
    if role.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden("only admins of this tenant can do that".into()))
    }
}

fn nav(state: &AppState, ctx: &Ctx, active: &'static str) -> TenantNav {
    TenantNav {
        slug: ctx.tenant.slug.clone(),
        org: ctx.tenant.github_org.clone(),
        host: state.tenant_host(&ctx.tenant.slug),
        is_admin: ctx.role.is_admin(),
        active,
    }
}

fn actor(signed: &SignedIn, ip: ClientIp) -> Actor {
    Actor::user(signed.user.id, ip.0)
}

/// An admin's form post on `/t/{slug}/{page}`: checks the CSRF token and the role, runs `action`
/// in the tenant's transaction, commits, and shows its message (or the error) back on the page.
async fn admin_form(
    state: &AppState,
    signed: &SignedIn,
    ip: ClientIp,
    (slug, page): (&str, &str),
    csrf: &str,
    action: impl AsyncFnOnce(&mut TenantTx, Actor) -> Result<String, Error>,
) -> Result<Response, PageError> {
    auth::verify_csrf(&signed.session, csrf).await?;
    let back = format!("/t/{slug}/{page}");
    let result = async {
        let mut ctx = enter(state, signed.user.id, slug).await?;
        require_admin(ctx.role)?;
        let message = action(&mut ctx.tx, actor(signed, ip)).await?;
        ctx.tx.commit().await?;
        Ok(message)
    }
    .await;
    form_result(&signed.session, result, &back, &back).await
}

// ---------------------------------------------------------------- overview

#[derive(Template, WebTemplate)]
#[template(path = "tenant_overview.html")]
struct OverviewPage {
    layout: Layout,
    nav: TenantNav,
    tenant: Tenant,
    members: i64,
    identities: i64,
    active_tokens: i64,
    worker_desired: String,
    worker_observed: String,
    bundle_version: i64,
    /// Why the worker last exited, when it is restarting or failed.
    worker_error: Option<String>,
    worker_restarts: i32,
    public_url: String,
    usage: usage::Summary,
    identity_usage: Vec<usage::IdentityUsage>,
    callers: Vec<usage::CallerUsage>,
    routes: Vec<usage::RouteUsage>,
}

async fn get_overview(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let mut ctx = enter(&state, signed.user.id, &slug).await?;
    let t = ctx.tenant.id.as_uuid();
    let (members, identities, active_tokens): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM memberships WHERE tenant_id = $1),
                (SELECT count(*) FROM identities WHERE tenant_id = $1 AND enabled),
                (SELECT count(*) FROM caller_tokens WHERE tenant_id = $1 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > now()))",
    )
    .bind(t)
    .fetch_one(&mut *ctx.tx)
    .await
    .map_err(Error::from)?;
    let (worker_desired, worker_observed, bundle_version, worker_error, worker_restarts): (
        String,
        String,
        i64,
        Option<String>,
        i32,
    ) = sqlx::query_as(
        "SELECT desired_state, observed_state, bundle_version, last_error, restarts FROM workers WHERE tenant_id = $1",
    )
    .bind(t)
    .fetch_one(&mut *ctx.tx)
    .await
    .map_err(Error::from)?;
    let usage = usage::summary(&mut ctx.tx).await?;
    let identity_usage = usage::identities(&mut ctx.tx).await?;
    let callers = usage::callers(&mut ctx.tx).await?;
    let routes = usage::routes(&mut ctx.tx).await?;
    Ok(OverviewPage {
        usage,
        identity_usage,
        callers,
        routes,
        layout: Layout::load(&signed.session).await?,
        nav: nav(&state, &ctx, "overview"),
        public_url: format!("https://{}", state.tenant_host(&ctx.tenant.slug)),
        tenant: ctx.tenant,
        members,
        identities,
        active_tokens,
        worker_desired,
        worker_error: worker_error.filter(|_| worker_observed != "running"),
        worker_observed,
        bundle_version,
        worker_restarts,
    }
    .into_response())
}

// ---------------------------------------------------------------- members

#[derive(Template, WebTemplate)]
#[template(path = "members.html")]
struct MembersPage {
    layout: Layout,
    nav: TenantNav,
    me: UserId,
    members: Vec<Member>,
    removed: Vec<Removed>,
}

async fn list_members(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let mut ctx = enter(&state, signed.user.id, &slug).await?;
    let members = members::list_members(&mut ctx.tx).await?;
    let removed = match ctx.role {
        Role::Admin => members::list_removed(&mut ctx.tx).await?,
        Role::Member => Vec::new(),
    };
    Ok(MembersPage {
        layout: Layout::load(&signed.session).await?,
        nav: nav(&state, &ctx, "members"),
        me: signed.user.id,
        members,
        removed,
    }
    .into_response())
}

#[derive(Deserialize)]
struct RoleIn {
    csrf: String,
    role: String,
}

async fn update_member_role(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path((slug, user)): Path<(String, Uuid)>,
    Form(input): Form<RoleIn>,
) -> Result<Response, PageError> {
    admin_form(&state, &signed, ip, (&slug, "members"), &input.csrf, async |tx, by| {
        let role = Role::parse(&input.role)?;
        members::set_role(tx, by, UserId(user), role).await?;
        Ok(format!("Role changed to {}.", role.as_str()))
    })
    .await
}

#[derive(Deserialize)]
struct CsrfIn {
    csrf: String,
}

async fn remove_member(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path((slug, user)): Path<(String, Uuid)>,
    Form(input): Form<CsrfIn>,
) -> Result<Response, PageError> {
    admin_form(&state, &signed, ip, (&slug, "members"), &input.csrf, async |tx, by| {
        members::remove_member(tx, by, UserId(user)).await?;
        Ok("Member removed; their tokens are revoked, and signing in again will not bring them back.".into())
    })
    .await
}

async fn allow_member_back(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path((slug, user)): Path<(String, Uuid)>,
    Form(input): Form<CsrfIn>,
) -> Result<Response, PageError> {
    admin_form(&state, &signed, ip, (&slug, "members"), &input.csrf, async |tx, by| {
        members::allow_back(tx, by, UserId(user)).await?;
        Ok("They can join again by signing in.".into())
    })
    .await
}

// ---------------------------------------------------------------- caller tokens

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    nav: TenantNav,
    me: UserId,
    tokens: Vec<CallerToken>,
}

async fn list_caller_tokens(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let mut ctx = enter(&state, signed.user.id, &slug).await?;
    let owner = (!ctx.role.is_admin()).then_some(signed.user.id);
    let tokens = tokens::list_caller_tokens(&mut ctx.tx, owner).await?;
    Ok(TokensPage {
        layout: Layout::load(&signed.session).await?,
        nav: nav(&state, &ctx, "tokens"),
        me: signed.user.id,
        tokens,
    }
    .into_response())
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

#[derive(Deserialize)]
struct CreateTokenIn {
    csrf: String,
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

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

async fn create_caller_token(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path(slug): Path<String>,
    Form(input): Form<CreateTokenIn>,
) -> Result<Response, PageError> {
    auth::verify_csrf(&signed.session, &input.csrf).await?;
    let back = format!("/t/{slug}/tokens");
    let result = async {
        let mut ctx = enter(&state, signed.user.id, &slug).await?;
        let expires = expiry_from_days(&input.expires_in_days)?;
        let (tok, secret) = tokens::create_caller_token(
            &mut ctx.tx,
            &state.config.keys.pepper,
            actor(&signed, ip),
            signed.user.id,
            &input.name,
            expires,
        )
        .await?;
        let nav = nav(&state, &ctx, "tokens");
        ctx.tx.commit().await?;
        Ok((nav, tok.name, secret))
    }
    .await;
    token_created(&signed, result, "caller token", back).await
}

/// Shows a new token once, or the error back on the form's page.
async fn token_created(
    signed: &SignedIn,
    result: Result<(TenantNav, String, Secret), Error>,
    kind: &'static str,
    back: String,
) -> Result<Response, PageError> {
    match result {
        Ok((nav, name, secret)) => Ok(TokenCreatedPage {
            layout: Layout::load(&signed.session).await?,
            host: nav.host.clone(),
            nav,
            kind,
            name,
            token: secret.expose().to_string(),
            back,
        }
        .into_response()),
        Err(e) => form_result(&signed.session, Err(e), &back, &back).await,
    }
}

async fn revoke_caller_token(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path((slug, id)): Path<(String, Uuid)>,
    Form(input): Form<CsrfIn>,
) -> Result<Response, PageError> {
    auth::verify_csrf(&signed.session, &input.csrf).await?;
    let back = format!("/t/{slug}/tokens");
    let result = async {
        let mut ctx = enter(&state, signed.user.id, &slug).await?;
        let tok = tokens::revoke_caller_token(&mut ctx.tx, actor(&signed, ip), ctx.role, CallerTokenId(id)).await?;
        ctx.tx.commit().await?;
        Ok(format!("Token {} ({}) revoked.", tok.name, tok.display_prefix))
    }
    .await;
    form_result(&signed.session, result, &back, &back).await
}

// ---------------------------------------------------------------- identities

#[derive(Template, WebTemplate)]
#[template(path = "identities.html")]
struct IdentitiesPage {
    layout: Layout,
    nav: TenantNav,
    identities: Vec<Identity>,
}

async fn list_identities(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let mut ctx = enter(&state, signed.user.id, &slug).await?;
    let identities = identities::list_identities(&mut ctx.tx).await?;
    Ok(IdentitiesPage {
        layout: Layout::load(&signed.session).await?,
        nav: nav(&state, &ctx, "identities"),
        identities,
    }
    .into_response())
}

#[derive(Deserialize)]
struct PatIn {
    csrf: String,
    name: String,
    token: String,
    #[serde(default)]
    scopes: String,
}

async fn create_pat_identity(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path(slug): Path<String>,
    Form(input): Form<PatIn>,
) -> Result<Response, PageError> {
    auth::verify_csrf(&signed.session, &input.csrf).await?;
    let back = format!("/t/{slug}/identities");
    let token = Secret::new(input.token);
    let result = async {
        let ctx = enter(&state, signed.user.id, &slug).await?;
        require_admin(ctx.role)?;
        let tenant = ctx.tenant.id;
        // No transaction is held open while GitHub is asked about the token.
        drop(ctx);
        identities::validate_name(&input.name)?;
        let scopes = parse_scopes(&input.scopes)?;
        let account = identities::validate_pat(&state.github, &token).await?;
        let mut tx = begin_tenant(&state.pool, tenant).await?;
        let dk = data_key(&mut tx, &state.config.keys).await?;
        let ident = identities::insert_pat(
            &mut tx,
            &dk,
            actor(&signed, ip),
            signed.user.id,
            NewPat {
                name: &input.name,
                token: &token,
                scopes,
                account,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(format!(
            "Identity {} added for GitHub account {}.",
            ident.name,
            ident.account_login.unwrap_or_default()
        ))
    }
    .await;
    form_result(&signed.session, result, &back, &back).await
}

#[derive(Deserialize)]
struct AppIn {
    csrf: String,
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

async fn create_app_identity(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path(slug): Path<String>,
    Form(input): Form<AppIn>,
) -> Result<Response, PageError> {
    auth::verify_csrf(&signed.session, &input.csrf).await?;
    let back = format!("/t/{slug}/identities");
    let key = Secret::new(input.private_key);
    let result = async {
        let ctx = enter(&state, signed.user.id, &slug).await?;
        require_admin(ctx.role)?;
        let tenant = ctx.tenant.id;
        drop(ctx);
        identities::validate_name(&input.name)?;
        let app_id = parse_id(&input.app_id, "app id")?;
        let installation_id = parse_id(&input.installation_id, "installation id")?;
        let scopes = parse_scopes(&input.scopes)?;
        identities::validate_app(&state.github, app_id, installation_id, &key).await?;
        let mut tx = begin_tenant(&state.pool, tenant).await?;
        let dk = data_key(&mut tx, &state.config.keys).await?;
        let ident = identities::insert_app(
            &mut tx,
            &dk,
            actor(&signed, ip),
            signed.user.id,
            NewApp {
                name: &input.name,
                app_id,
                installation_id,
                private_key: &key,
                scopes,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(format!("GitHub App identity {} added.", ident.name))
    }
    .await;
    form_result(&signed.session, result, &back, &back).await
}

#[derive(Deserialize)]
struct ScopesIn {
    csrf: String,
    #[serde(default)]
    scopes: String,
}

async fn update_identity_scopes(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path((slug, id)): Path<(String, Uuid)>,
    Form(input): Form<ScopesIn>,
) -> Result<Response, PageError> {
    admin_form(
        &state,
        &signed,
        ip,
        (&slug, "identities"),
        &input.csrf,
        async |tx, by| {
            identities::update_scopes(tx, by, IdentityId(id), parse_scopes(&input.scopes)?).await?;
            Ok("Scopes saved.".into())
        },
    )
    .await
}

#[derive(Deserialize)]
struct EnabledIn {
    csrf: String,
    enabled: String,
}

async fn update_identity_enabled(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path((slug, id)): Path<(String, Uuid)>,
    Form(input): Form<EnabledIn>,
) -> Result<Response, PageError> {
    admin_form(
        &state,
        &signed,
        ip,
        (&slug, "identities"),
        &input.csrf,
        async |tx, by| {
            let enabled = match input.enabled.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(Error::BadRequest("enabled must be true or false".into())),
            };
            identities::set_enabled(tx, by, IdentityId(id), enabled).await?;
            Ok(if enabled {
                "Identity enabled."
            } else {
                "Identity disabled."
            }
            .into())
        },
    )
    .await
}

async fn delete_identity(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path((slug, id)): Path<(String, Uuid)>,
    Form(input): Form<CsrfIn>,
) -> Result<Response, PageError> {
    admin_form(
        &state,
        &signed,
        ip,
        (&slug, "identities"),
        &input.csrf,
        async |tx, by| {
            identities::delete_identity(tx, by, IdentityId(id)).await?;
            Ok("Identity deleted; its secret is gone.".into())
        },
    )
    .await
}

// ---------------------------------------------------------------- policy

#[derive(Template, WebTemplate)]
#[template(path = "policy.html")]
struct PolicyPage {
    layout: Layout,
    nav: TenantNav,
    owners: String,
    policy: PolicySettings,
    ttl_lines: String,
    ttl_classes: String,
}

async fn get_policy(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let mut ctx = enter(&state, signed.user.id, &slug).await?;
    let policy = policy::get_policy(&mut ctx.tx).await?;
    Ok(PolicyPage {
        layout: Layout::load(&signed.session).await?,
        nav: nav(&state, &ctx, "policy"),
        owners: policy.allowed_owners.join("\n"),
        ttl_lines: policy
            .ttl_overrides
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        ttl_classes: policy::TTL_CLASSES.join(", "),
        policy,
    }
    .into_response())
}

#[derive(Deserialize)]
struct PolicyIn {
    csrf: String,
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

async fn update_policy(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path(slug): Path<String>,
    Form(input): Form<PolicyIn>,
) -> Result<Response, PageError> {
    admin_form(&state, &signed, ip, (&slug, "policy"), &input.csrf, async |tx, by| {
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
        policy::update_policy(tx, by, settings).await?;
        Ok("Policy saved; the worker picks it up with its next bundle.".into())
    })
    .await
}

// ---------------------------------------------------------------- admin API tokens

#[derive(Template, WebTemplate)]
#[template(path = "api_tokens.html")]
struct AdminTokensPage {
    layout: Layout,
    nav: TenantNav,
    tokens: Vec<AdminToken>,
    api_base: String,
}

async fn list_admin_tokens(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let mut ctx = enter(&state, signed.user.id, &slug).await?;
    require_admin(ctx.role)?;
    let tokens = admin_tokens::list_admin_tokens(&mut ctx.tx).await?;
    Ok(AdminTokensPage {
        layout: Layout::load(&signed.session).await?,
        nav: nav(&state, &ctx, "api"),
        api_base: format!(
            "{}/api/v1/tenants/{}",
            state.public_url.as_str().trim_end_matches('/'),
            ctx.tenant.slug
        ),
        tokens,
    }
    .into_response())
}

#[derive(Deserialize)]
struct AdminTokenIn {
    csrf: String,
    name: String,
}

async fn create_admin_token(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path(slug): Path<String>,
    Form(input): Form<AdminTokenIn>,
) -> Result<Response, PageError> {
    auth::verify_csrf(&signed.session, &input.csrf).await?;
    let back = format!("/t/{slug}/api-tokens");
    let result = async {
        let mut ctx = enter(&state, signed.user.id, &slug).await?;
        require_admin(ctx.role)?;
        let secret = admin_tokens::create_admin_token(
            &mut ctx.tx,
            &state.config.keys.pepper,
            actor(&signed, ip),
            signed.user.id,
            &input.name,
        )
        .await?;
        let nav = nav(&state, &ctx, "api");
        ctx.tx.commit().await?;
        Ok((nav, input.name.trim().to_string(), secret))
    }
    .await;
    token_created(&signed, result, "admin API token", back).await
}

async fn revoke_admin_token(
    State(state): State<AppState>,
    ip: ClientIp,
    signed: SignedIn,
    Path((slug, id)): Path<(String, Uuid)>,
    Form(input): Form<CsrfIn>,
) -> Result<Response, PageError> {
    admin_form(
        &state,
        &signed,
        ip,
        (&slug, "api-tokens"),
        &input.csrf,
        async |tx, by| {
            admin_tokens::revoke_admin_token(tx, by, id).await?;
            Ok("Admin API token revoked.".into())
        },
    )
    .await
}

// ---------------------------------------------------------------- audit

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    nav: TenantNav,
    entries: Vec<AuditEntry>,
}

async fn list_audit(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let mut ctx = enter(&state, signed.user.id, &slug).await?;
    require_admin(ctx.role)?;
    let entries = audit::list_audit(&mut ctx.tx, 200).await?;
    Ok(AuditPage {
        layout: Layout::load(&signed.session).await?,
        nav: nav(&state, &ctx, "audit"),
        entries,
    }
    .into_response())
}
