//! A real browser through the admin's first session: headless Chromium over WebDriver
//! (chromedriver) against the real server and the fake GitHub: sign in -> create org tenant ->
//! add identity -> create caller token -> revoke, with a screenshot of each page (laptop width,
//! then phone width) under `$CARGO_TARGET_TMPDIR/browser-screenshots/`; and an upgrade against the
//! fake Stripe: pricing -> billing -> Upgrade -> the fake Checkout page -> Pay -> back with the plan
//! shown, screenshots under `$CARGO_TARGET_TMPDIR/browser-screenshots-billing/`.

use crate::support::github::app_with_github_and;
use fantoccini::{Client, ClientBuilder, Locator};
use shoal_control_plane::config::BillingConfig;
use shoal_fake_stripe::FakeStripe;
use sqlx::PgPool;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_chromedriver() -> (Driver, String) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is missing: install the Debian packages chromium and chromium-driver (make test does)");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/status")).await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (driver, url)
}

async fn connect(webdriver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,900"]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a chromium session over chromedriver")
}

struct Shots {
    dir: PathBuf,
    n: usize,
}

impl Shots {
    /// An empty `$CARGO_TARGET_TMPDIR/<name>/`: only this run's screenshots, since an earlier run
    /// may have named them differently.
    fn fresh(name: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Shots { dir, n: 0 }
    }

    async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(self.dir.join(format!("{:02}-{name}.png", self.n)), png).unwrap();
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let el = c.find(Locator::Css(css)).await.unwrap();
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

async fn path_of(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

/// Clicks and waits (with a deadline) until the browser has navigated to `path` and the page
/// shows `marker`: a click returns before the navigation it starts has finished.
async fn click_to(c: &Client, locator: Locator<'_>, path: &str, marker: &str) {
    c.find(locator).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if path_of(c).await == path && c.source().await.unwrap().contains(marker) {
            return;
        }
        assert!(Instant::now() < deadline, "never reached {path} showing {marker:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// From the landing page: signs in (the fake GitHub approves alice) and creates the tenant `octo`,
/// with screenshots when `shots` is given.
async fn sign_in_and_create_octo(c: &Client, mut shots: Option<&mut Shots>) {
    click_to(c, Locator::Id("sign-in"), "/", "Signed in as alice").await;
    if let Some(s) = shots.as_deref_mut() {
        s.take(c, "dashboard-empty").await;
    }
    click_to(c, Locator::Id("new-tenant"), "/tenants/new", "Subdomain").await;
    fill(c, "#slug", "octo").await;
    if let Some(s) = shots.as_deref_mut() {
        s.take(c, "create-tenant").await;
    }
    let submit = "#create-tenant button[type=submit]";
    click_to(c, Locator::Css(submit), "/t/octo", "Tenant octo created").await;
    if let Some(s) = shots {
        s.take(c, "tenant-overview").await;
    }
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_admin_signs_in_creates_a_tenant_adds_an_identity_and_creates_then_revokes_a_token_in_chromium(
    pool: PgPool,
) {
    let (app, gh) = app_with_github_and(pool.clone(), |c| c.operators = vec!["alice".into()]).await;
    gh.add_org_member("octo-org", "alice", "admin");
    gh.set_oauth_approver("alice");
    let bot_pat = gh.add_token("octo-bot");

    let mut shots = Shots::fresh("browser-screenshots");
    let dir = shots.dir.clone();
    let (_driver, webdriver) = start_chromedriver().await;
    let c = connect(&webdriver).await;

    // Sign in.
    c.goto(&app.url).await.unwrap();
    shots.take(&c, "landing").await;
    sign_in_and_create_octo(&c, Some(&mut shots)).await;

    // Add a PAT identity.
    c.goto(&format!("{}/t/octo/identities", app.url)).await.unwrap();
    fill(&c, "#pat-name", "octo bot").await;
    fill(&c, "#pat-token", &bot_pat).await;
    fill(&c, "#pat-scopes", "octo-org").await;
    let submit = "#add-pat button[type=submit]";
    click_to(
        &c,
        Locator::Css(submit),
        "/t/octo/identities",
        "added for GitHub account octo-bot",
    )
    .await;
    assert!(text_of(&c, "#identities").await.contains("@octo-bot"));
    assert!(!c.source().await.unwrap().contains(&bot_pat));
    shots.take(&c, "identity-added").await;

    // Create a caller token: shown once.
    c.goto(&format!("{}/t/octo/tokens", app.url)).await.unwrap();
    fill(&c, "#token-name", "alice-laptop").await;
    let submit = "#create-token button[type=submit]";
    click_to(&c, Locator::Css(submit), "/t/octo/tokens", "Copy it now").await;
    let token = c
        .find(Locator::Id("new-token"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(token.starts_with("shoal_") && token.len() == 49);
    shots.take(&c, "token-created").await;
    click_to(&c, Locator::LinkText("Done"), "/t/octo/tokens", "All caller tokens").await;
    let listed = text_of(&c, "#tokens").await;
    assert!(listed.contains("alice-laptop") && listed.contains(&token[..12]) && !listed.contains(&token));
    shots.take(&c, "token-listed").await;

    // The overview as a dashboard once the tenant's worker has reported some use (written here as
    // the internal API would store it): 40 requests, 35 without spending, the identity's budget.
    sqlx::query(
        "INSERT INTO usage_requests_hourly (tenant_id, hour, caller_token_id, route_class, cache_status, requests)
         SELECT t.tenant_id, date_trunc('hour', now()), t.id, r.route, r.status, r.n
         FROM caller_tokens t, (VALUES ('pulls', 'HIT', 26), ('pulls', 'REVALIDATED', 5),
                                       ('pulls', 'MISS', 3), ('graphql', 'HIT', 4), ('graphql', 'MISS', 2)) r(route, status, n)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_upstream_hourly (tenant_id, hour, identity_id, resource, calls, units, not_modified)
         SELECT tenant_id, date_trunc('hour', now()), id, 'core', 10, 5, 5 FROM identities",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        r#"INSERT INTO identity_health (tenant_id, identity_id, state, budgets)
           SELECT tenant_id, id, 'healthy', '[{"resource": "core", "limit": 5000, "remaining": 4990}]'::jsonb FROM identities"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    c.goto(&format!("{}/t/octo", app.url)).await.unwrap();
    let usage = text_of(&c, "main").await;
    for shown in ["40", "87%", "core 4990/5000", "alice-laptop", "pulls", "graphql"] {
        assert!(usage.contains(shown), "{shown} is not on the dashboard: {usage}");
    }
    shots.take(&c, "dashboard-usage").await;

    // The charts over a day and a month: earlier hours and days of use, as the workers' reports
    // leave them (hourly rows, budget history, the daily rollup).
    sqlx::query(
        "INSERT INTO usage_requests_hourly (tenant_id, hour, caller_token_id, route_class, cache_status, requests)
         SELECT t.tenant_id, date_trunc('hour', now()) - h * interval '1 hour', t.id, 'pulls', s.status,
                (h * 13 + length(s.status) * 7) % 40 + CASE s.status WHEN 'HIT' THEN 30 ELSE 1 END
         FROM caller_tokens t, generate_series(1, 719) h, (VALUES ('HIT'), ('REVALIDATED'), ('MISS'), ('STALE')) s(status)
         WHERE h % 5 <> 3",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_upstream_hourly (tenant_id, hour, identity_id, resource, calls, units, not_modified)
         SELECT tenant_id, date_trunc('hour', now()) - h * interval '1 hour', id, 'core', 12 + h % 9, 4 + h % 7, 8
         FROM identities, generate_series(1, 719) h",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_budget_hourly (tenant_id, hour, identity_id, resource, budget_limit, remaining, reset_at)
         SELECT tenant_id, date_trunc('hour', now()) - h * interval '1 hour', id, 'core', 5000, 5000 - (h % 24) * 180, now()
         FROM identities, generate_series(0, 719) h",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_daily (tenant_id, day, requests, from_cache, units, last_request_at)
         SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date, sum(requests),
                sum(requests) FILTER (WHERE cache_status IN ('HIT', 'REVALIDATED', 'STALE')), 0, max(hour)
         FROM usage_requests_hourly GROUP BY 1, 2",
    )
    .execute(&pool)
    .await
    .unwrap();
    for range in ["24h", "30d"] {
        c.goto(&format!("{}/t/octo?range={range}", app.url)).await.unwrap();
        for chart in ["requests", "units", "hit-rate", "budget"] {
            let svg = c.find(Locator::Css(&format!("#chart-{chart} svg"))).await.unwrap();
            let rect = svg.rectangle().await.unwrap();
            assert!(
                rect.2 > 200.0 && rect.3 > 80.0,
                "{chart} is drawn at a readable size: {rect:?}"
            );
        }
        assert!(text_of(&c, "#headline").await.contains("This month shoal answered"));
        assert!(text_of(&c, "#worker").await.contains("Restarts"));
        shots.take(&c, &format!("dashboard-{range}")).await;
        c.goto(&format!("{}/t/octo?range={range}#worker", app.url))
            .await
            .unwrap();
        shots.take(&c, &format!("dashboard-{range}-worker")).await;
    }
    c.goto(&format!("{}/ops", app.url)).await.unwrap();
    assert!(text_of(&c, "#ops-tenants").await.contains("octo"));
    shots.take(&c, "ops").await;

    // Revoke it.
    c.goto(&format!("{}/t/octo/tokens", app.url)).await.unwrap();
    click_to(
        &c,
        Locator::Css("#tokens button.btn-danger"),
        "/t/octo/tokens",
        "revoked.",
    )
    .await;
    assert!(text_of(&c, "#tokens").await.contains("revoked"));
    shots.take(&c, "token-revoked").await;
    let revoked: i64 = sqlx::query_scalar("SELECT count(*) FROM caller_tokens WHERE revoked_at IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(revoked, 1);

    // The other tenant pages, for the record.
    for (path, name) in [
        ("/t/octo/members", "members"),
        ("/t/octo/policy", "policy"),
        ("/t/octo/api-tokens", "api-tokens"),
        ("/t/octo/audit", "audit"),
    ] {
        c.goto(&format!("{}{path}", app.url)).await.unwrap();
        assert_eq!(path_of(&c).await, path);
        shots.take(&c, name).await;
    }

    // The same pages at a phone's width.
    c.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/t/octo", "phone-overview"),
        ("/t/octo/identities", "phone-identities"),
        ("/t/octo/tokens", "phone-tokens"),
        ("/t/octo/audit", "phone-audit"),
    ] {
        c.goto(&format!("{}{path}", app.url)).await.unwrap();
        shots.take(&c, name).await;
    }
    for (path, name, anchor) in [
        ("/t/octo?range=24h", "phone-dashboard-24h", "chart-requests"),
        ("/t/octo?range=30d", "phone-dashboard-30d-budget", "chart-budget"),
        ("/t/octo?range=30d", "phone-dashboard-30d-worker", "worker"),
        ("/ops", "phone-ops", "ops-platform"),
        ("/ops", "phone-ops-tenants", "ops-tenants"),
    ] {
        c.goto(&format!("{}{path}#{anchor}", app.url)).await.unwrap();
        // Nothing runs wider than the phone's screen.
        let wide: bool = c
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth + 1",
                vec![],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap();
        assert!(!wide, "{path} scrolls sideways on a phone");
        shots.take(&c, name).await;
    }
    c.close().await.unwrap();
    eprintln!("screenshots in {}", dir.display());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), shots.n);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_admin_upgrades_through_the_fake_stripe_checkout_page_in_chromium(pool: PgPool) {
    let stripe = FakeStripe::start(shoal_fake_stripe::Options::default()).await;
    let billing = BillingConfig {
        stripe_secret_key: Some(shoal_common::Secret::new(stripe.secret_key())),
        stripe_webhook_secret: Some(shoal_common::Secret::new(stripe.webhook_secret())),
        stripe_api_base: url::Url::parse(&stripe.url()).unwrap(),
        ..BillingConfig::default()
    };
    let (app, gh) = app_with_github_and(pool.clone(), |c| c.billing = billing).await;
    stripe.set_webhook_url(&format!("{}/webhooks/stripe", app.url));
    gh.add_org_member("octo-org", "alice", "admin");
    gh.set_oauth_approver("alice");

    let mut shots = Shots::fresh("browser-screenshots-billing");
    let dir = shots.dir.clone();
    let (_driver, webdriver) = start_chromedriver().await;
    let c = connect(&webdriver).await;

    c.goto(&app.url).await.unwrap();
    click_to(&c, Locator::Id("pricing-link"), "/pricing", "then metered overage").await;
    shots.take(&c, "pricing").await;
    c.goto(&app.url).await.unwrap();
    sign_in_and_create_octo(&c, None).await;

    click_to(&c, Locator::Id("nav-billing"), "/t/octo/billing", "Upgrade to team").await;
    assert!(text_of(&c, "#plan").await.contains("free"));
    shots.take(&c, "billing-free").await;
    c.find(Locator::Id("upgrade-team"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .starts_with(&format!("{}/c/pay/", stripe.url()))
    {
        assert!(Instant::now() < deadline, "never reached the fake Checkout page");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(text_of(&c, "h1").await.contains("shoal_team"));
    shots.take(&c, "fake-checkout").await;
    click_to(&c, Locator::Id("pay"), "/t/octo/billing/success", "Thank you").await;
    assert!(text_of(&c, "#plan").await.contains("team"));
    assert_eq!(text_of(&c, "#status").await, "active");
    shots.take(&c, "billing-team").await;
    c.close().await.unwrap();
    eprintln!("screenshots in {}", dir.display());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), shots.n);
}
