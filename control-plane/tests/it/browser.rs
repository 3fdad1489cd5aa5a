//! A real browser through the admin's first session: headless Chromium over WebDriver
//! (chromedriver) against the real server and the fake GitHub: sign in -> create org tenant ->
//! add identity -> create caller token -> revoke, with a screenshot of each page (laptop width,
//! then phone width) under `$CARGO_TARGET_TMPDIR/browser-screenshots/`.

use crate::flows::app_with_github;
use fantoccini::{Client, ClientBuilder, Locator};
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

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_admin_signs_in_creates_a_tenant_adds_an_identity_and_creates_then_revokes_a_token_in_chromium(
    pool: PgPool,
) {
    let (app, gh) = app_with_github(pool.clone()).await;
    gh.add_org_member("octo-org", "alice", "admin");
    gh.set_oauth_approver("alice");
    let bot_pat = gh.add_token("octo-bot");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let mut shots = Shots { dir: dir.clone(), n: 0 };
    let (_driver, webdriver) = start_chromedriver().await;
    let c = connect(&webdriver).await;

    // Sign in.
    c.goto(&app.url).await.unwrap();
    shots.take(&c, "landing").await;
    c.find(Locator::Id("sign-in")).await.unwrap().click().await.unwrap();
    assert_eq!(path_of(&c).await, "/");
    assert!(text_of(&c, ".flash").await.contains("Signed in as alice"));
    shots.take(&c, "dashboard-empty").await;

    // Create the org tenant.
    c.find(Locator::Id("new-tenant")).await.unwrap().click().await.unwrap();
    assert_eq!(path_of(&c).await, "/tenants/new");
    fill(&c, "#slug", "octo").await;
    shots.take(&c, "create-tenant").await;
    c.find(Locator::Css("#create-tenant button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(path_of(&c).await, "/t/octo");
    assert!(text_of(&c, ".flash").await.contains("Tenant octo created"));
    shots.take(&c, "tenant-overview").await;

    // Add a PAT identity.
    c.goto(&format!("{}/t/octo/identities", app.url)).await.unwrap();
    fill(&c, "#pat-name", "octo bot").await;
    fill(&c, "#pat-token", &bot_pat).await;
    fill(&c, "#pat-scopes", "octo-org").await;
    c.find(Locator::Css("#add-pat button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(path_of(&c).await, "/t/octo/identities");
    assert!(text_of(&c, ".flash").await.contains("for GitHub account octo-bot"));
    assert!(text_of(&c, "#identities").await.contains("@octo-bot"));
    assert!(!c.source().await.unwrap().contains(&bot_pat));
    shots.take(&c, "identity-added").await;

    // Create a caller token: shown once.
    c.goto(&format!("{}/t/octo/tokens", app.url)).await.unwrap();
    fill(&c, "#token-name", "alice-laptop").await;
    c.find(Locator::Css("#create-token button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
    c.find(Locator::LinkText("Done")).await.unwrap().click().await.unwrap();
    let listed = text_of(&c, "#tokens").await;
    assert!(listed.contains("alice-laptop") && listed.contains(&token[..12]) && !listed.contains(&token));
    shots.take(&c, "token-listed").await;

    // Revoke it.
    c.find(Locator::Css("#tokens button.btn-danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&c, ".flash").await.contains("revoked"));
    assert!(text_of(&c, "#tokens").await.contains("revoked"));
    shots.take(&c, "token-revoked").await;
    let revoked: i64 = sqlx::query_scalar("SELECT count(*) FROM caller_tokens WHERE revoked_at IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(revoked, 1);

    // The same pages at a phone's width.
    c.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/t/octo", "phone-overview"),
        ("/t/octo/identities", "phone-identities"),
        ("/t/octo/tokens", "phone-tokens"),
    ] {
        c.goto(&format!("{}{path}", app.url)).await.unwrap();
        shots.take(&c, name).await;
    }
    c.close().await.unwrap();
    eprintln!("screenshots in {}", dir.display());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), shots.n);
}
