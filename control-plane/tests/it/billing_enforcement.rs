//! Billing enforced with real processes: the scheduler starts the real `shoal-worker`, curl reads
//! through the edge over TLS, GitHub is the fake. An unpaid subscription stops the worker and the
//! edge answers 402 in GitHub's shape while the data is kept; `active` again serves within
//! seconds; `past_due` serves through the grace period (a banner on every tenant page) and is
//! suspended when it ends, with no event; with billing off no subscription state stops a worker.
//! The free plan's allowance is served exactly, then 429 + fallback_local, across a kill -9.

use crate::support::workers::{Answer, Seed, curl_answer, launcher, reconcile_billing, seed, worker_state};
use crate::support::{TestApp, app_against, until};
use shoal_control_plane::config::BillingConfig;
use shoal_control_plane::edge::proxy::{EdgeState, router as edge_router};
use shoal_control_plane::edge::serve::serve_tls;
use shoal_control_plane::edge::tls::{DevCa, dev_server_config};
use shoal_control_plane::scheduler::WorkerRuntime;
use shoal_control_plane::scheduler::process::{Isolation, ProcessRuntime};
use shoal_control_plane::scheduler::reconcile::Reconciler;
use shoal_fake_github::{FakeGithub, Options};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tenant `acme` on `plan` behind an edge that applies `billing`; its workers are started by
/// whoever drives [`Env::runtime`].
pub struct Env {
    pub pool: PgPool,
    pub app: TestApp,
    _gh: FakeGithub,
    pub seed: Seed,
    pub runtime: Arc<ProcessRuntime>,
    pub billing: BillingConfig,
    ca: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Env {
    pub async fn start(pool: PgPool, billing: BillingConfig, plan: &str) -> Self {
        let gh = FakeGithub::start(Options::default()).await;
        let pat = gh.add_token("octo-bot");
        let b = billing.clone();
        let app = app_against(pool.clone(), &gh, |c| c.billing = b).await;
        let seed = seed(&pool, &app.config.keys, &pat).await;
        sqlx::query("UPDATE tenants SET plan = $2 WHERE id = $1")
            .bind(seed.tenant.as_uuid())
            .bind(plan)
            .execute(&pool)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::load_or_create(dir.path()).unwrap();
        let ca_path = ca.cert_path().to_path_buf();
        let edge = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = edge.local_addr().unwrap().port();
        let state = EdgeState::new(pool.clone(), "localhost", "https")
            .with_billing(billing.clone(), url::Url::parse(&app.url).unwrap());
        tokio::spawn(serve_tls(
            edge,
            dev_server_config(ca, "localhost").unwrap(),
            edge_router(state),
        ));
        let runtime = Arc::new(ProcessRuntime::new(
            launcher(app.url.clone(), 200),
            dir.path(),
            Isolation::Plain,
        ));
        Self {
            pool,
            app,
            _gh: gh,
            seed,
            runtime,
            billing,
            ca: ca_path,
            port,
            _dir: dir,
        }
    }

    /// The reconciler loop (every 100 ms) with this env's billing; send `true` to stop it.
    pub fn reconcile(&self) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        reconcile_billing(
            &self.pool,
            self.runtime.clone(),
            self.app.config.keys.clone(),
            self.billing.clone(),
        )
    }

    /// A reconciler driven by hand with [`Reconciler::reconcile_once`].
    pub fn reconciler(&self) -> Reconciler<ProcessRuntime> {
        Reconciler::new(
            self.pool.clone(),
            self.runtime.clone(),
            self.app.config.keys.clone(),
            Duration::from_millis(100),
        )
        .with_billing(self.billing.clone())
    }

    /// A read of `path` through the edge with the seeded caller token.
    pub async fn read(&self, path: &str) -> Answer {
        let (ca, port, token, path) = (self.ca.clone(), self.port, self.seed.token.clone(), path.to_string());
        tokio::task::spawn_blocking(move || curl_answer(&ca, port, token.expose(), &path))
            .await
            .unwrap()
    }

    /// Waits until the worker is running and the edge routes to it.
    pub async fn serving(&self, secs: u64) {
        until(secs, "the tenant serving", async || {
            (self.read(REPO).await.status == "200").then_some(())
        })
        .await;
    }

    pub async fn set(&self, assignments: &str) {
        sqlx::query(&format!("UPDATE tenants SET {assignments} WHERE id = $1"))
            .bind(self.seed.tenant.as_uuid())
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// Waits (up to `secs`) for the worker process `pid` to exit, then for the edge's 402.
    pub async fn suspended(&self, pid: u32, secs: u64) -> Answer {
        until(secs, "the suspended tenant's worker stopping", async || {
            (!Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| st.contains(") Z ")))
            .then_some(())
        })
        .await;
        until(3, "402 at the edge", async || {
            let a = self.read(REPO).await;
            (a.status == "402").then_some(a)
        })
        .await
    }
}

pub const REPO: &str = "/api/v3/repos/octo-org/hello-world";

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_unpaid_tenant_is_stopped_answers_402_keeps_its_data_and_serves_again_within_seconds_of_paying(
    pool: PgPool,
) {
    let env = Env::start(pool.clone(), BillingConfig::on_for_tests(), "team").await;
    env.set("subscription_status = 'active'").await;
    let (stop, reconciler) = env.reconcile();
    env.serving(20).await;
    let pid = env.runtime.pid(env.seed.tenant).await.unwrap();

    env.set("subscription_status = 'unpaid'").await;
    let refused = env.suspended(pid, 5).await;
    let body = refused.json();
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("subscription is unpaid"), "{message}");
    assert!(
        message.contains(&format!("{}/t/acme/billing", env.app.url)),
        "{message}"
    );
    assert_eq!(body["documentation_url"], "https://docs.github.com/rest");
    assert_eq!(refused.retry_after, None, "suspension is not a wait-and-retry");
    assert_eq!(worker_state(&pool, env.seed.tenant).await.0, "stopped");
    assert_eq!(
        (count(&pool, "caller_tokens").await, count(&pool, "identities").await),
        (1, 1),
        "a suspended tenant's data is kept"
    );
    // The caller-token login refuses before asking GitHub anything.
    let login = reqwest::Client::new()
        .post(format!("{}/api/v1/login/exchange", env.app.url))
        .json(&serde_json::json!({ "github_token": "gho_any", "tenant": "acme", "device_name": "laptop" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    let login: serde_json::Value = login.json().await.unwrap();
    assert!(
        login["message"]
            .as_str()
            .unwrap()
            .contains("suspended: its subscription is unpaid"),
        "{login}"
    );

    env.set("subscription_status = 'active'").await;
    let paid_at = Instant::now();
    env.serving(5).await;
    assert!(paid_at.elapsed() < Duration::from_secs(5));

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn past_due_serves_through_the_grace_period_and_is_suspended_when_it_ends_without_any_event(pool: PgPool) {
    let billing = BillingConfig {
        grace: time::Duration::seconds(4),
        ..BillingConfig::on_for_tests()
    };
    let env = Env::start(pool.clone(), billing, "team").await;
    env.set("subscription_status = 'active'").await;
    let (stop, reconciler) = env.reconcile();
    env.serving(20).await;
    let pid = env.runtime.pid(env.seed.tenant).await.unwrap();

    // The last write: from here only time passes.
    env.set("subscription_status = 'past_due', past_due_since = now()")
        .await;
    let a = env.read(REPO).await;
    assert_eq!(
        (a.status.as_str(), a.cache.as_str()),
        ("200", "HIT"),
        "in grace the tenant is served"
    );
    assert_eq!(env.runtime.pid(env.seed.tenant).await, Some(pid));

    let refused = env.suspended(pid, 15).await;
    let message = refused.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("grace period is over"), "{message}");

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn with_billing_off_no_subscription_state_stops_a_worker_or_refuses_at_the_edge(pool: PgPool) {
    let env = Env::start(pool.clone(), BillingConfig::default(), "free").await;
    let reconciler = env.reconciler();
    until(20, "the worker running", async || {
        reconciler.reconcile_once().await.unwrap();
        (worker_state(&pool, env.seed.tenant).await.0 == "running").then_some(())
    })
    .await;
    env.serving(5).await;
    let pid = env.runtime.pid(env.seed.tenant).await.unwrap();
    for state in [
        "subscription_status = 'canceled'",
        "subscription_status = 'unpaid'",
        "subscription_status = 'past_due', past_due_since = now() - interval '400 days'",
    ] {
        env.set(state).await;
        reconciler.reconcile_once().await.unwrap();
        assert_eq!(env.runtime.pid(env.seed.tenant).await, Some(pid), "{state}");
        assert_eq!(worker_state(&pool, env.seed.tenant).await.0, "running", "{state}");
        // The edge reuses a route for a second: wait it out by polling for a fresh 200.
        until(3, "a read", async || {
            (env.read(REPO).await.status == "200").then_some(())
        })
        .await;
    }
    env.runtime.stop(env.seed.tenant).await;
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn every_tenant_page_shows_the_grace_banner_while_past_due_and_none_otherwise(pool: PgPool) {
    use crate::support::github::octo_tenant_and;
    let (_app, _gh, alice) = octo_tenant_and(pool.clone(), |c| c.billing = BillingConfig::on_for_tests()).await;
    let pages = [
        "",
        "/tokens",
        "/identities",
        "/members",
        "/policy",
        "/api-tokens",
        "/audit",
    ];
    let banner = "Payment failed; service continues until";
    for page in pages {
        let (status, html) = alice.get_text(&format!("/t/octo{page}")).await;
        assert_eq!(status, 200, "{page}");
        assert!(!html.contains(banner), "banner on {page} while active");
    }
    let since: time::OffsetDateTime = sqlx::query_scalar(
        "UPDATE tenants SET subscription_status = 'past_due', past_due_since = now() - interval '1 day'
         WHERE slug = 'octo' RETURNING past_due_since",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let until = since + time::Duration::days(7);
    let until = format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        until.year(),
        u8::from(until.month()),
        until.day(),
        until.hour(),
        until.minute()
    );
    for page in pages {
        let (status, html) = alice.get_text(&format!("/t/octo{page}")).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            html.contains(&format!("{banner} <strong>{until}</strong>"))
                && html.contains(r#"<a href="/t/octo/billing">billing</a>"#),
            "no grace banner on {page}"
        );
    }
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_free_tenant_gets_exactly_its_allowance_then_429_fallback_local_even_after_a_worker_restart(pool: PgPool) {
    let billing = BillingConfig {
        free_reads_per_month: Some(3),
        ..BillingConfig::on_for_tests()
    };
    let env = Env::start(pool.clone(), billing, "free").await;
    let (stop, reconciler) = env.reconcile();
    // The edge may see the worker as starting for a moment (503, not counted).
    let first = until(20, "a first answer", async || {
        let a = env.read(REPO).await;
        (a.status != "503").then_some(a)
    })
    .await;
    let mut served = vec![(first.status, first.cache)];
    for _ in 0..2 {
        let a = env.read(REPO).await;
        served.push((a.status, a.cache));
    }
    let ok = |cache: &str| ("200".to_string(), cache.to_string());
    assert_eq!(served, [ok("MISS"), ok("HIT"), ok("HIT")]);

    let assert_capped = |a: &Answer| {
        assert_eq!(a.status, "429", "{}", a.body);
        assert!(
            a.retry_after.is_some_and(|s| s > 0 && s <= 31 * 24 * 3600),
            "{:?}",
            a.retry_after
        );
        let body = a.json();
        assert_eq!(body["shoal"], "fallback_local");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("the free plan's 3 relayed reads for this month are used up")
                && message.contains(&format!("{}/t/acme/billing", env.app.url)),
            "{message}"
        );
    };
    assert_capped(&env.read(REPO).await);

    // Once the usage is reported, a worker killed and restarted starts from the spent count.
    until(10, "the usage reported", async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(requests), 0)::bigint FROM usage_requests_hourly WHERE tenant_id = $1",
        )
        .bind(env.seed.tenant.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
        (n == 3).then_some(())
    })
    .await;
    let pid = env.runtime.pid(env.seed.tenant).await.unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let after_restart = until(10, "the restarted worker answering", async || {
        let restarted = env.runtime.pid(env.seed.tenant).await.is_some_and(|p| p != pid);
        let a = env.read(REPO).await;
        (restarted && a.status != "503").then_some(a)
    })
    .await;
    assert_capped(&after_restart);

    // Upgrading changes the plan, which bumps the bundle: the cap is gone within seconds.
    env.set("plan = 'team', subscription_status = 'active'").await;
    until(3, "the upgraded tenant served", async || {
        (env.read(REPO).await.status == "200").then_some(())
    })
    .await;

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn with_billing_off_a_free_tenant_is_never_capped(pool: PgPool) {
    let billing = BillingConfig {
        free_reads_per_month: Some(1),
        ..BillingConfig::default()
    };
    let env = Env::start(pool.clone(), billing, "free").await;
    let (stop, reconciler) = env.reconcile();
    env.serving(20).await;
    for _ in 0..3 {
        assert_eq!(env.read(REPO).await.status, "200");
    }
    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

/// The whole payment lifecycle driven by the fake Stripe's signed webhooks, end to end: free ->
/// Checkout -> `team` active and serving; payment fails -> past_due, still serving through the
/// grace period; the grace ends -> worker stopped, 402 at the edge; paying -> serving again.
#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_failed_payment_runs_through_grace_to_suspension_and_paying_through_stripe_resumes(pool: PgPool) {
    use shoal_control_plane::billing::{Plan, Stripe};
    use shoal_fake_stripe::FakeStripe;

    let stripe = FakeStripe::start(shoal_fake_stripe::Options::default()).await;
    let billing = BillingConfig {
        stripe_secret_key: Some(shoal_common::Secret::new(stripe.secret_key())),
        stripe_webhook_secret: Some(shoal_common::Secret::new(stripe.webhook_secret())),
        stripe_api_base: url::Url::parse(&stripe.url()).unwrap(),
        grace: time::Duration::seconds(4),
        ..BillingConfig::default()
    };
    let env = Env::start(pool.clone(), billing.clone(), "free").await;
    stripe.set_webhook_url(&format!("{}/webhooks/stripe", env.app.url));
    let (stop, reconciler) = env.reconcile();
    env.serving(20).await;

    // What the billing page's Upgrade does, then the customer pays on Stripe's page.
    let client = Stripe::from_config(&billing).unwrap().unwrap();
    let tenant = env.seed.tenant;
    let customer = client.create_customer(tenant, "acme").await.unwrap();
    env.set(&format!("stripe_customer_id = '{customer}'")).await;
    let url = client
        .checkout_url(tenant, &customer, Plan::Team, "https://x/ok", "https://x/cancel")
        .await
        .unwrap();
    let sub = stripe.complete_checkout(url.rsplit('/').next().unwrap()).await.unwrap();
    let state = async || -> (String, String) {
        sqlx::query_as("SELECT plan, subscription_status FROM tenants WHERE id = $1")
            .bind(tenant.as_uuid())
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(state().await, ("team".into(), "active".into()));
    env.serving(5).await;
    let pid = env.runtime.pid(tenant).await.unwrap();

    stripe.fail_payment(&sub).await.unwrap();
    assert_eq!(state().await.1, "past_due");
    assert_eq!(env.read(REPO).await.status, "200", "served through the grace period");
    let refused = env.suspended(pid, 15).await;
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("grace period is over"),
        "{}",
        refused.json()
    );

    stripe.pay(&sub).await.unwrap();
    assert_eq!(state().await, ("team".into(), "active".into()));
    let paid_at = Instant::now();
    env.serving(5).await;
    assert!(paid_at.elapsed() < Duration::from_secs(5));

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}
