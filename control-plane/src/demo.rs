//! `shoal-control-plane demo`: the whole product offline. It starts the fake GitHub
//! (`shoal-fake-github`, next to this executable or `SHOAL_FAKE_GITHUB_BIN`) and the fake Stripe
//! (`shoal-fake-stripe`, or `SHOAL_FAKE_STRIPE_BIN`, its webhooks sent back here), points the
//! control plane at them, and seeds a tenant `demo` for the org `octo-org` with its admin `octocat`, one
//! pooled identity and a caller token, which it prints (`caller token: shoal_...`). The tenant starts every run
//! on the free plan.

use crate::audit::Actor;
use crate::config::Config;
use crate::github::GithubClient;
use crate::identities::{self, NewPat};
use crate::service::{self, Seeder};
use crate::tenants::{self, NewTenant, Plan, Slug, VerifiedAdminOrg};
use crate::{Error, db, tokens, users};
use shoal_common::Secret;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncBufReadExt;

const ORG: &str = "octo-org";
const ADMIN: &str = "octocat";
const BOT: &str = "octo-bot";
const SLUG: &str = "demo";
/// The API key `shoal-fake-stripe` accepts by default.
const FAKE_STRIPE_KEY: &str = "sk_test_fake_shoal";
/// The secret `shoal-fake-stripe` signs webhooks with by default.
const FAKE_STRIPE_WEBHOOK_SECRET: &str = "whsec_fake_shoal";

fn demo_err(msg: impl std::fmt::Display) -> Error {
    Error::Config(format!("demo: {msg}"))
}

/// Starts a fake (`shoal-fake-github`, `shoal-fake-stripe`): the binary named by `bin_env`, or
/// `name` next to this executable. Returns it (killed on drop) with its URL.
async fn start_fake(bin_env: &str, name: &str) -> Result<(tokio::process::Child, String), Error> {
    let bin = std::env::var_os(bin_env).map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join(name)))
            .unwrap_or_default()
    });
    let mut child = tokio::process::Command::new(&bin)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            demo_err(format!(
                "cannot start {} ({e}); build it with `cargo build -p {name}`",
                bin.display()
            ))
        })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| demo_err(format!("no stdout from {name}")))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = lines.next_line().await.map_err(demo_err)?.unwrap_or_default();
    let url = first
        .strip_prefix("listening on ")
        .ok_or_else(|| demo_err(format!("unexpected first line from {name}: {first:?}")))?
        .to_string();
    // Keep draining its stdout so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

async fn fake_post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, Error> {
    let resp = http
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .map_err(demo_err)?;
    if !resp.status().is_success() {
        return Err(demo_err(format!("{base}{path} answered {}", resp.status())));
    }
    Ok(resp.json().await.unwrap_or(serde_json::Value::Null))
}

async fn new_pat(http: &reqwest::Client, base: &str, login: &str) -> Result<Secret, Error> {
    let v = fake_post(http, base, "/_fake/tokens", serde_json::json!({ "login": login })).await?;
    v["token"]
        .as_str()
        .map(Secret::new)
        .ok_or_else(|| demo_err("the fake GitHub did not return a token"))
}

/// Creates (once) the demo tenant, gives it an identity the running fake GitHub knows, and mints a
/// fresh caller token.
async fn seed(pool: sqlx::PgPool, config: Arc<Config>, fake: String, stripe: String) -> Result<Vec<String>, Error> {
    let http = reqwest::Client::new();
    let github = GithubClient::new(&config.github);
    let admin_token = new_pat(&http, &fake, ADMIN).await?;
    let admin = users::upsert_user(&pool, &github.user(admin_token.expose()).await?).await?;
    let tenant = match tenants::resolve(&pool, SLUG).await {
        Ok(t) => t,
        Err(Error::NotFound) => {
            let membership = github
                .org_membership(admin_token.expose(), ORG)
                .await?
                .filter(|m| m.is_admin())
                .ok_or_else(|| demo_err(format!("{ADMIN} is not an admin of {ORG} in the fake GitHub")))?;
            let org = VerifiedAdminOrg {
                login: membership.organization.login,
                id: membership.organization.id,
            };
            let new = NewTenant {
                slug: Slug::parse(SLUG)?,
                plan: Plan::parse("free")?,
            };
            tenants::create_tenant(&pool, &config.keys, Actor::system(), admin.id, &org, new).await?
        }
        Err(e) => return Err(e),
    };
    // The fake GitHub is new on every run and knows none of the last run's tokens: the demo
    // identity gets a fresh one each time.
    let bot = new_pat(&http, &fake, BOT).await?;
    let account = identities::validate_pat(&github, &bot).await?;
    let mut tx = db::begin_tenant(&pool, tenant.id).await?;
    // The fake Stripe is new on every run too and knows no earlier customer: back to free.
    sqlx::query(
        "UPDATE tenants SET plan = 'free', subscription_status = 'none', stripe_customer_id = NULL,
             stripe_subscription_id = NULL, subscription_applied_at = NULL, past_due_since = NULL,
             current_period_end = NULL
         WHERE id = $1",
    )
    .bind(tenant.id.as_uuid())
    .execute(&mut *tx)
    .await?;
    for old in identities::list_identities(&mut tx).await? {
        identities::delete_identity(&mut tx, Actor::system(), old.id).await?;
    }
    let data_key = tenants::data_key(&mut tx, &config.keys).await?;
    let pat = NewPat {
        name: "octo-bot",
        token: &bot,
        scopes: Vec::new(),
        account,
    };
    identities::insert_pat(&mut tx, &data_key, Actor::system(), admin.id, pat).await?;
    let (_, token) =
        tokens::create_caller_token(&mut tx, &config.keys.pepper, Actor::system(), admin.id, "demo", None).await?;
    let admin_token =
        tokens::admin::create_admin_token(&mut tx, &config.keys.pepper, Actor::system(), admin.id, "demo").await?;
    tx.commit().await?;
    Ok(vec![
        format!("github (fake) on {fake}"),
        format!("stripe (fake) on {stripe}"),
        format!("tenant {} at https://{}", tenant.slug, config.tenant_host(&tenant.slug)),
        format!("caller token: {}", token.expose()),
        format!("admin token: {}", admin_token.expose()),
    ])
}

/// Runs the demo until Ctrl-C.
pub async fn run(state_dir: PathBuf) -> Result<(), Error> {
    let (_fake, fake_url) = start_fake("SHOAL_FAKE_GITHUB_BIN", "shoal-fake-github").await?;
    let (_stripe, stripe_url) = start_fake("SHOAL_FAKE_STRIPE_BIN", "shoal-fake-stripe").await?;
    let http = reqwest::Client::new();
    let client_secret = hex::encode(shoal_common::token::generate_token()?.expose().as_bytes());
    fake_post(
        &http,
        &fake_url,
        "/_fake/oauth/apps",
        serde_json::json!({ "client_id": "shoal-demo", "client_secret": client_secret }),
    )
    .await?;
    fake_post(
        &http,
        &fake_url,
        "/_fake/oauth/approver",
        serde_json::json!({ "login": ADMIN }),
    )
    .await?;

    let mut config = Config::from_env_in(Some(state_dir))?;
    let fake = url::Url::parse(&fake_url).map_err(demo_err)?;
    // The API on its GitHub Enterprise path, so API URLs in bodies are told apart from web URLs
    // on the same host (the relay re-roots the former at each caller's base).
    config.github.api_url = fake.join("api/v3").map_err(demo_err)?;
    config.github.web_url = fake;
    config.github.client_id = Some("shoal-demo".into());
    config.github.client_secret = Some(Secret::new(client_secret));
    // Billing against the fake Stripe; the grace period and allowance stay as configured.
    config.billing.stripe_secret_key = Some(Secret::new(FAKE_STRIPE_KEY));
    config.billing.stripe_webhook_secret = Some(Secret::new(FAKE_STRIPE_WEBHOOK_SECRET));
    config.billing.stripe_api_base = url::Url::parse(&stripe_url).map_err(demo_err)?;
    let seeder: Seeder = Box::new(move |pool, config| {
        Box::pin(async move {
            let webhook = config
                .public_url
                .as_ref()
                .ok_or_else(|| demo_err("no public URL to receive Stripe's webhooks at"))?
                .join("webhooks/stripe")
                .map_err(demo_err)?;
            let http = reqwest::Client::new();
            fake_post(
                &http,
                &stripe_url,
                "/_fake/webhook",
                serde_json::json!({ "url": webhook.as_str() }),
            )
            .await?;
            seed(pool, config, fake_url, stripe_url).await
        })
    });
    service::run(config, Some(seeder)).await
}
