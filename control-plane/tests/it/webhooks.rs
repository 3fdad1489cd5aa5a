//! Receiving GitHub webhooks: `POST /webhooks/github/<slug>` verified with the tenant's own
//! secret (shown to admins on the policy page, rotatable with a 24 h grace), stored once per
//! delivery id, never for another tenant's secret.

use crate::support::workers::reconcile;
use crate::support::{Browser, TestApp, location, octo_tenant, sign_in, until, workspace_bin};
use shoal_common::TenantId;
use shoal_common::github::webhook::sign;
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::scheduler::process::{Isolation, ProcessRuntime, worker_launcher};
use sqlx::PgPool;
use std::sync::Arc;

const PUSH: &str = r#"{"ref":"refs/heads/main","repository":{"full_name":"octo-org/hello-world"}}"#;

/// The webhook secret an admin sees on the tenant's policy page.
async fn secret_of(admin: &Browser, slug: &str) -> String {
    let (status, html) = admin.get_text(&format!("/t/{slug}/policy")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("/webhooks/github/{slug}")), "{html}");
    let marker = "id=\"webhook-secret\">";
    let at = html.find(marker).expect("the page shows the secret") + marker.len();
    html[at..at + html[at..].find('<').unwrap()].to_string()
}

/// Posts a delivery to `slug`'s webhook URL, signed with `secret` when given.
async fn deliver(app: &TestApp, slug: &str, event: &str, delivery: &str, body: &str, secret: Option<&str>) -> u16 {
    let mut rb = reqwest::Client::new()
        .post(format!("{}/webhooks/github/{slug}", app.url))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .body(body.to_string());
    if let Some(s) = secret {
        rb = rb.header("x-hub-signature-256", sign(s.as_bytes(), body.as_bytes()));
    }
    rb.send().await.unwrap().status().as_u16()
}

async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM webhook_events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_unsigned_or_forged_delivery_is_refused_and_stores_nothing(pool: PgPool) {
    let (app, _gh, alice) = octo_tenant(pool.clone()).await;
    let secret = secret_of(&alice, "octo").await;
    assert_eq!(secret.len(), 64);
    assert_eq!(deliver(&app, "octo", "push", "d-1", PUSH, None).await, 401);
    assert_eq!(
        deliver(&app, "octo", "push", "d-1", PUSH, Some("not-the-secret")).await,
        401
    );
    // A valid signature of another body.
    let forged = reqwest::Client::new()
        .post(format!("{}/webhooks/github/octo", app.url))
        .header("x-github-event", "push")
        .header("x-github-delivery", "d-1")
        .header("x-hub-signature-256", sign(secret.as_bytes(), b"{}"))
        .body(PUSH)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // An unknown tenant looks the same as a forged signature.
    assert_eq!(deliver(&app, "nosuch", "push", "d-1", PUSH, Some(&secret)).await, 401);
    assert_eq!(stored(&pool).await, 0);
    // Too large a body is refused before anything is read.
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    assert_eq!(deliver(&app, "octo", "push", "d-2", &big, Some(&secret)).await, 413);
    assert_eq!(stored(&pool).await, 0);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_signed_delivery_is_stored_once_and_a_redelivery_counts_once(pool: PgPool) {
    let (app, _gh, alice) = octo_tenant(pool.clone()).await;
    let secret = secret_of(&alice, "octo").await;
    assert_eq!(
        deliver(
            &app,
            "octo",
            "ping",
            "d-0",
            r#"{"zen":"Keep it logically awesome."}"#,
            Some(&secret)
        )
        .await,
        200
    );
    assert_eq!(deliver(&app, "octo", "push", "d-1", PUSH, Some(&secret)).await, 202);
    assert_eq!(deliver(&app, "octo", "push", "d-1", PUSH, Some(&secret)).await, 200);
    assert_eq!(stored(&pool).await, 2);
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT cursor, event, payload->'repository'->>'full_name' FROM webhook_events WHERE event = 'push'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_str()),
        ("push", "octo-org/hello-world")
    );
    // Signed but not GitHub's shape: a clear 400, nothing stored.
    assert_eq!(
        deliver(&app, "octo", "push", "d-3", "not json", Some(&secret)).await,
        400
    );
    assert_eq!(stored(&pool).await, 2);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn another_tenants_secret_is_refused(pool: PgPool) {
    let (app, gh, alice) = octo_tenant(pool.clone()).await;
    gh.add_org_member("other-org", "carol", "admin");
    let carol = sign_in(&app, &gh, "carol").await;
    let csrf = carol.csrf("/tenants/new").await;
    let r = carol
        .post_form(
            "/tenants/new",
            &[("csrf", &csrf), ("org", "other-org"), ("slug", "other")],
        )
        .await;
    assert_eq!(location(&r), "/t/other");
    let octo = secret_of(&alice, "octo").await;
    let other = secret_of(&carol, "other").await;
    assert_ne!(octo, other);
    assert_eq!(deliver(&app, "other", "push", "d-1", PUSH, Some(&octo)).await, 401);
    assert_eq!(deliver(&app, "octo", "push", "d-1", PUSH, Some(&other)).await, 401);
    assert_eq!(stored(&pool).await, 0);
    assert_eq!(deliver(&app, "other", "push", "d-1", PUSH, Some(&other)).await, 202);
    // The same delivery id at another tenant is that tenant's own delivery.
    assert_eq!(deliver(&app, "octo", "push", "d-1", PUSH, Some(&octo)).await, 202);
    assert_eq!(stored(&pool).await, 2);
    // Row-level security: a tenant's transaction sees its own events and secrets only.
    let octo_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'octo'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut tx = begin_tenant(&pool, TenantId(octo_id)).await.unwrap();
    for table in ["webhook_events", "webhook_secrets"] {
        let tenants: Vec<uuid::Uuid> = sqlx::query_scalar(&format!("SELECT DISTINCT tenant_id FROM {table}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(tenants, [octo_id], "{table}");
    }
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_rotated_secret_keeps_working_for_24_hours_and_no_secret_reaches_the_audit_log(pool: PgPool) {
    let (app, gh, alice) = octo_tenant(pool.clone()).await;
    let old = secret_of(&alice, "octo").await;
    // The rotation is a CSRF-protected form.
    let r = alice.post_form("/t/octo/policy/webhook-secret", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(secret_of(&alice, "octo").await, old);
    let csrf = alice.csrf("/t/octo/policy").await;
    let r = alice
        .post_form("/t/octo/policy/webhook-secret", &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/t/octo/policy");
    let new = secret_of(&alice, "octo").await;
    // A member sees the URL but neither the secret nor the rotation.
    let bob = sign_in(&app, &gh, "bob").await;
    let (_, html) = bob.get_text("/t/octo/policy").await;
    assert!(html.contains("/webhooks/github/octo") && !html.contains(&new) && !html.contains("webhook-secret"));
    let csrf = bob.csrf("/t/octo/policy").await;
    bob.post_form("/t/octo/policy/webhook-secret", &[("csrf", &csrf)]).await;
    assert_eq!(secret_of(&alice, "octo").await, new);
    assert_ne!(new, old);
    assert_eq!(deliver(&app, "octo", "push", "d-1", PUSH, Some(&new)).await, 202);
    assert_eq!(deliver(&app, "octo", "push", "d-2", PUSH, Some(&old)).await, 202);
    // 25 hours later the previous secret is refused.
    sqlx::query("UPDATE webhook_secrets SET retired_at = now() - interval '25 hours' WHERE retired_at IS NOT NULL")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(deliver(&app, "octo", "push", "d-3", PUSH, Some(&old)).await, 401);
    assert_eq!(deliver(&app, "octo", "push", "d-4", PUSH, Some(&new)).await, 202);
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT action || ' ' || coalesce(target, '') || ' ' || details::text FROM audit_log")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        audit.iter().filter(|a| a.starts_with("webhook_secret.rotate ")).count(),
        1
    );
    assert!(
        audit.iter().all(|a| !a.contains(&old) && !a.contains(&new)),
        "{audit:?}"
    );
    let raw: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sealed_secret FROM webhook_secrets")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(raw.iter().all(|r| {
        !r.windows(16)
            .any(|w| w == &old.as_bytes()[..16] || w == &new.as_bytes()[..16])
    }));
}

/// The text of the policy page's webhook mode.
async fn mode_of(member: &Browser, slug: &str) -> String {
    let (_, html) = member.get_text(&format!("/t/{slug}/policy")).await;
    let at = html.find("id=\"webhook-mode\">").expect("the page shows the mode");
    html[at..at + html[at..].find("</dd>").unwrap()].to_string()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_policy_page_shows_the_webhook_live_after_a_delivery_and_ttl_only_an_hour_later(pool: PgPool) {
    let (app, _gh, alice) = octo_tenant(pool.clone()).await;
    let secret = secret_of(&alice, "octo").await;
    let mode = mode_of(&alice, "octo").await;
    assert!(mode.contains("TTL only") && mode.contains("No delivery yet"), "{mode}");
    let ping = r#"{"zen":"Keep it logically awesome."}"#;
    assert_eq!(deliver(&app, "octo", "ping", "p-1", ping, Some(&secret)).await, 200);
    let mode = mode_of(&alice, "octo").await;
    assert!(
        mode.contains("Webhook live") && mode.contains("Last delivery: 20"),
        "{mode}"
    );
    sqlx::query("UPDATE webhook_events SET received_at = now() - interval '61 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    let mode = mode_of(&alice, "octo").await;
    assert!(
        mode.contains("TTL only") && mode.contains("Last delivery: 20"),
        "{mode}"
    );
}

/// The whole path with real processes: a signed delivery through the webhook URL reaches the
/// tenant's scheduled `shoal-worker` over the change feed within a second, and a worker killed with
/// -9 while a burst arrives resumes after the cursor it kept in its data dir, missing and doubling
/// none of them.
#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn deliveries_reach_the_tenants_real_worker_and_a_restarted_worker_misses_none(pool: PgPool) {
    let (app, _gh, alice) = octo_tenant(pool.clone()).await;
    let secret = secret_of(&alice, "octo").await;
    let csrf = alice.csrf("/t/octo/tokens").await;
    let html = alice
        .post_form("/t/octo/tokens", &[("csrf", &csrf), ("name", "laptop")])
        .await
        .text()
        .await
        .unwrap();
    let at = html.find("value=\"shoal_").expect("the new token is shown once");
    let token = html[at + 7..at + 7 + 49].to_string();
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'octo'")
        .fetch_one(&pool)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(ProcessRuntime::new(
        worker_launcher(workspace_bin("shoal-worker"), app.url.clone()),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, reconciler) = reconcile(&pool, runtime.clone(), app.config.keys.clone());
    let running = async || -> Option<String> {
        let (state, addr): (String, Option<String>) =
            sqlx::query_as("SELECT observed_state, address FROM workers WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(&pool)
                .await
                .unwrap();
        addr.filter(|_| state == "running")
    };
    let seen = async |addr: &str| -> Option<u64> {
        let r = reqwest::Client::new()
            .get(format!("http://{addr}/_shoal/stats"))
            .header("authorization", format!("token {token}"))
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        Some(v["webhook_events"]["octo-org/hello-world"].as_u64().unwrap_or(0))
    };
    let addr = until(20, "the worker starting", running).await;

    // A first worker starts from the feed's end: deliver until one reaches it.
    let mut n = 0;
    until(20, "a first delivery reaching the worker", async || {
        n += 1;
        assert!(deliver(&app, "octo", "push", &format!("warm-{n}"), PUSH, Some(&secret)).await < 300);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        (seen(&addr).await? > 0).then_some(())
    })
    .await;
    let before = seen(&addr).await.unwrap();
    let sent = std::time::Instant::now();
    assert_eq!(deliver(&app, "octo", "push", "timed", PUSH, Some(&secret)).await, 202);
    until(1, "the delivery reaching the worker", async || {
        (seen(&addr).await? == before + 1).then_some(())
    })
    .await;
    assert!(sent.elapsed() < std::time::Duration::from_secs(1));

    // kill -9, then a burst while it is down or restarting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pid = runtime.pid(shoal_common::TenantId::from(tenant)).await.unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    for i in 0..20 {
        assert_eq!(
            deliver(&app, "octo", "push", &format!("burst-{i}"), PUSH, Some(&secret)).await,
            202
        );
    }
    let addr = until(20, "the worker restarting", async || {
        let pid_now = runtime.pid(shoal_common::TenantId::from(tenant)).await?;
        if pid_now == pid {
            return None;
        }
        running().await
    })
    .await;
    until(10, "the burst reaching the restarted worker", async || {
        (seen(&addr).await? == 20).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(seen(&addr).await, Some(20), "each event of the burst exactly once");

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

/// The caller token an admin gets from the tokens page, shown once.
async fn caller_token(admin: &Browser, slug: &str) -> String {
    let csrf = admin.csrf(&format!("/t/{slug}/tokens")).await;
    let html = admin
        .post_form(&format!("/t/{slug}/tokens"), &[("csrf", &csrf), ("name", "laptop")])
        .await
        .text()
        .await
        .unwrap();
    let at = html.find("value=\"shoal_").expect("the new token is shown once");
    html[at + 7..at + 7 + 49].to_string()
}

/// The real gh (2.23) against the worker at `addr` (behind a loopback TLS terminator, as gh
/// speaks only HTTPS to a non-github.com host), as the caller with `token`.
struct RealGh {
    bin: std::path::PathBuf,
    host: String,
    token: String,
    dir: tempfile::TempDir,
}

impl RealGh {
    async fn new(addr: &str, token: &str) -> RealGh {
        let bin = ["/usr/bin/gh", "/usr/local/bin/gh"]
            .iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.is_file())
            .expect("the `gh` CLI is needed (Debian package gh; `make test` installs it)");
        let front = shoal_fake_github::tls_front(addr.parse().unwrap()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), front.cert_pem).unwrap();
        RealGh {
            bin,
            host: format!("localhost:{}", front.port),
            token: token.to_string(),
            dir,
        }
    }

    async fn run(&self, args: &[&str]) -> String {
        let (code, out) = self.run_status(args).await;
        assert_eq!(code, 0, "gh {args:?}");
        out
    }

    /// Its exit code and output (`gh pr checks` 2.23 exits 1 while a check is pending or failed).
    async fn run_status(&self, args: &[&str]) -> (i32, String) {
        let out = tokio::process::Command::new(&self.bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GH_CONFIG_DIR", self.dir.path().join("gh"))
            .env("SSL_CERT_FILE", self.dir.path().join("cert.pem"))
            .env("GH_HOST", &self.host)
            .env("GH_ENTERPRISE_TOKEN", &self.token)
            .env("GH_PROMPT_DISABLED", "1")
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .output()
            .await
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        assert!(
            [0, 1].contains(&code),
            "gh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (code, String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// End to end with real processes: the fake GitHub sends its webhooks to the control plane's URL
/// for the tenant, the scheduled worker follows the feed, and a pull request updated on GitHub
/// shows in the next `gh pr view` through the relay within a second although its TTL (20 s) has
/// not expired; likewise a check run completing shows in the next `gh pr checks` (and REST
/// check-runs read) within a second where the cache had it pending.
#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_pull_request_updated_on_github_shows_in_the_next_gh_pr_view_within_a_second(pool: PgPool) {
    let (app, gh, alice) = octo_tenant(pool.clone()).await;
    let secret = secret_of(&alice, "octo").await;
    let csrf = alice.csrf("/t/octo/identities").await;
    let pat = gh.add_token("octo-bot");
    alice
        .post_form(
            "/t/octo/identities/pat",
            &[("csrf", &csrf), ("name", "bot"), ("token", &pat), ("scopes", "")],
        )
        .await;
    let token = caller_token(&alice, "octo").await;
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'octo'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(ProcessRuntime::new(
        worker_launcher(workspace_bin("shoal-worker"), app.url.clone()),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, reconciler) = reconcile(&pool, runtime.clone(), app.config.keys.clone());
    let addr = until(20, "the worker starting", async || {
        let (state, addr): (String, Option<String>) =
            sqlx::query_as("SELECT observed_state, address FROM workers WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(&pool)
                .await
                .unwrap();
        addr.filter(|_| state == "running")
    })
    .await;
    let stats = async || -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("http://{addr}/_shoal/stats"))
            .header("authorization", format!("token {token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let events = async || {
        stats().await["webhook_events"]["octo-org/hello-world"]
            .as_u64()
            .unwrap_or(0)
    };
    gh.register_hook("octo-org", &format!("{}/webhooks/github/octo", app.url), &secret);
    // The worker starts from the feed's end: change the repo until an event reaches it.
    until(20, "a first event reaching the worker", async || {
        gh.touch("octo-org/hello-world", "");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        (events().await > 0).then_some(())
    })
    .await;
    assert_eq!(stats().await["webhooks_live"], true);

    let real = RealGh::new(&addr, &token).await;
    let repo = format!("{}/octo-org/hello-world", real.host);
    let view = ["pr", "view", "1", "-R", &repo, "--json", "body", "-q", ".body"];
    let before = real.run(&view).await;
    assert_eq!(real.run(&view).await, before);
    let hits = stats().await["requests"]["hit"].as_u64().unwrap();
    assert!(hits > 0, "the second view is served from the cache");

    let seen = events().await;
    let changed = std::time::Instant::now();
    gh.touch("octo-org/hello-world", "pulls/1");
    until(1, "the pull_request event reaching the worker", async || {
        (events().await > seen).then_some(())
    })
    .await;
    let after = real.run(&view).await;
    let elapsed = changed.elapsed();
    assert_ne!(after, before, "the update shows although the TTL has not expired");
    assert!(after.contains("revision"), "{after}");
    assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");

    // A check run in progress, then completed on GitHub: `gh pr checks` and the REST read of the
    // head's check runs show it pending, the repeats are served from the cache, and the next ones
    // after the `check_run` event show it completed with the conclusion given.
    let control = async |what: &str, body: serde_json::Value| {
        let r = reqwest::Client::new()
            .post(format!("{}/_fake/check-runs/{what}", gh.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{what}");
    };
    control(
        "start",
        serde_json::json!({"repo": "octo-org/hello-world", "number": 1}),
    )
    .await;
    let pr_checks = ["pr", "checks", "1", "-R", &repo];
    let (code, pending) = real.run_status(&pr_checks).await;
    assert_eq!(code, 1, "gh pr checks exits 1 while a check is pending: {pending}");
    let first = pending
        .lines()
        .find(|l| l.contains("\tpending\t"))
        .expect("a pending run");
    let name = first.split('\t').next().unwrap().to_string();
    let upstream = || gh.stats().token(&pat).totals.calls;
    let calls = upstream();
    assert_eq!(real.run_status(&pr_checks).await, (1, pending.clone()));
    assert_eq!(upstream(), calls, "the repeat is served from the cache");

    let pr: serde_json::Value =
        serde_json::from_str(&real.run(&["api", "repos/octo-org/hello-world/pulls/1"]).await).unwrap();
    let rest = format!(
        "http://{addr}/repos/octo-org/hello-world/commits/{}/check-runs",
        pr["head"]["sha"].as_str().unwrap()
    );
    let read = async || {
        let r = reqwest::Client::new()
            .get(&rest)
            .header("authorization", format!("token {token}"))
            .send()
            .await
            .unwrap();
        let cache = r.headers()["x-shoal-cache"].to_str().unwrap().to_string();
        let body: serde_json::Value = r.json().await.unwrap();
        let run = body["check_runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name.as_str());
        (
            cache,
            run.unwrap()["status"].clone(),
            run.unwrap()["conclusion"].clone(),
        )
    };
    let in_progress = (serde_json::json!("in_progress"), serde_json::Value::Null);
    assert_eq!(
        read().await,
        ("MISS".into(), in_progress.0.clone(), in_progress.1.clone())
    );
    assert_eq!(read().await, ("HIT".into(), in_progress.0, in_progress.1));

    let seen = events().await;
    let changed = std::time::Instant::now();
    control(
        "complete",
        serde_json::json!({"repo": "octo-org/hello-world", "number": 1, "conclusion": "failure"}),
    )
    .await;
    until(1, "the check_run event reaching the worker", async || {
        (events().await > seen).then_some(())
    })
    .await;
    let (code, done) = real.run_status(&pr_checks).await;
    let elapsed = changed.elapsed();
    assert_eq!(code, 1, "a failed check: {done}");
    assert!(
        done.lines().any(|l| l.starts_with(&format!("{name}\tfail\t"))),
        "{name} completed with its conclusion although the TTL has not expired: {done}"
    );
    assert!(!done.contains("\tpending\t"), "{done}");
    assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(
        read().await,
        (
            "MISS".into(),
            serde_json::json!("completed"),
            serde_json::json!("failure")
        )
    );
    let event = gh
        .deliveries()
        .into_iter()
        .rev()
        .find(|d| d.event == "check_run")
        .unwrap();
    assert_eq!(event.payload["check_run"]["status"], "completed");
    assert_eq!(event.payload["check_run"]["conclusion"], "failure");
    assert!(
        gh.deliveries().iter().all(|d| d.status < 300),
        "every delivery accepted"
    );

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}
