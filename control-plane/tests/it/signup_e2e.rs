//! The product as a new org meets it: sign in with GitHub (the fake's OAuth), create the tenant,
//! add a PAT, create a caller token in the web UI; the scheduler starts the org's real worker and
//! a request through the TLS edge is a MISS, then a HIT, and shows up as usage in Postgres.

use crate::support::workers::reconcile;
use crate::support::{app_with_github, location, octo_tenant, sign_in};
use shoal_control_plane::edge::proxy::{EdgeState, router as edge_router};
use shoal_control_plane::edge::serve::serve_tls;
use shoal_control_plane::edge::tls::{DevCa, dev_server_config};
use shoal_control_plane::scheduler::process::{Isolation, ProcessRuntime};
use sqlx::PgPool;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn sign_up_create_a_tenant_and_read_through_its_relay(pool: PgPool) {
    let (app, gh) = app_with_github(pool.clone()).await;
    gh.add_org_member("octo-org", "alice", "admin");
    let alice = sign_in(&app, &gh, "alice").await;

    let csrf = alice.csrf("/tenants/new").await;
    let r = alice
        .post_form(
            "/tenants/new",
            &[("csrf", &csrf), ("org", "octo-org"), ("slug", "octo"), ("plan", "free")],
        )
        .await;
    assert_eq!(location(&r), "/t/octo");
    let csrf = alice.csrf("/t/octo/identities").await;
    let pat = gh.add_token("octo-bot");
    let r = alice
        .post_form(
            "/t/octo/identities/pat",
            &[
                ("csrf", &csrf),
                ("name", "bot"),
                ("token", &pat),
                ("scopes", "octo-org"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/t/octo/identities");
    let csrf = alice.csrf("/t/octo/tokens").await;
    let r = alice
        .post_form("/t/octo/tokens", &[("csrf", &csrf), ("name", "laptop")])
        .await;
    let html = r.text().await.unwrap();
    let at = html.find("value=\"shoal_").expect("the new token is shown once");
    let token = html[at + 7..at + 7 + 49].to_string();
    assert!(!html.contains(&pat), "the page shows no pooled secret");

    // The rest of `make run`: the internal API, the scheduler with the real worker, the TLS edge.
    let internal_url = app.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(ProcessRuntime::new(
        shoal_control_plane::scheduler::process::worker_launcher(
            crate::support::workspace_bin("shoal-worker"),
            internal_url,
        ),
        dir.path(),
        Isolation::detect().await,
    ));
    let (stop, reconciler) = reconcile(&pool, runtime, app.config.keys.clone());
    let ca = DevCa::load_or_create(dir.path()).unwrap();
    let ca_path = ca.cert_path().to_path_buf();
    let edge = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = edge.local_addr().unwrap().port();
    tokio::spawn(serve_tls(
        edge,
        dev_server_config(ca, "localhost").unwrap(),
        edge_router(EdgeState::new(pool.clone(), "localhost", "https")),
    ));

    let read = || {
        let (ca, token) = (ca_path.clone(), token.clone());
        tokio::task::spawn_blocking(move || {
            let out = Command::new("curl")
                .args(["-sS", "--max-time", "10", "-o", "/dev/null", "-D", "-", "--cacert"])
                .arg(&ca)
                .arg("--resolve")
                .arg(format!("octo.localhost:{port}:127.0.0.1"))
                .arg("-H")
                .arg(format!("Authorization: token {token}"))
                .arg(format!(
                    "https://octo.localhost:{port}/api/v3/repos/octo-org/hello-world/pulls/1"
                ))
                .output()
                .unwrap();
            let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
            let status = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let cache = head
                .lines()
                .find_map(|l| l.strip_prefix("x-shoal-cache:").map(|v| v.trim().to_ascii_uppercase()))
                .unwrap_or_default();
            (status, cache)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let r = read().await.unwrap();
        if r.0 != "503" {
            break r;
        }
        assert!(Instant::now() < deadline, "the tenant's relay never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(first, ("200".to_string(), "MISS".to_string()));
    assert_eq!(read().await.unwrap(), ("200".to_string(), "HIT".to_string()));

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: Option<i64> = sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_requests_hourly")
            .fetch_one(&pool)
            .await
            .unwrap();
        if n.unwrap_or(0) >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "usage never reached Postgres");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The dashboard shows it: two requests, half of them answered by the cache, two calls to
    // GitHub (the public-only guard's look at the repo, then the miss), and what the account has
    // left (those two and the control plane's `GET /user` when the PAT was added); the
    // laptop token's row counts its two requests, under the route class `pulls`.
    let (_, overview) = alice.get_text("/t/octo").await;
    let stat = |n: &str, label: &str| format!(r#">{n}</span><span class="stat-label">{label}"#);
    for shown in [
        stat("2", "reads relayed"),
        stat("50%", "answered without spending"),
        stat("2", "calls to GitHub"),
        "core 4997/5000".to_string(),
        r#"<td data-label="Requests" class="right">2</td>"#.to_string(),
        r#"<td data-label="Route class"><code>pulls</code></td>"#.to_string(),
    ] {
        assert!(overview.contains(&shown), "{shown} is not on the overview:\n{overview}");
    }
    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_failed_worker_shows_its_last_error_on_the_tenant_page(pool: PgPool) {
    let (_app, _gh, alice) = octo_tenant(pool.clone()).await;
    let (_, healthy) = alice.get_text("/t/octo").await;
    assert!(!healthy.contains("last error"));

    sqlx::query(
        "UPDATE workers SET observed_state = 'failed', restarts = 5,
                last_error = 'worker exited (exit status: 3): cannot reach the control plane'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (status, html) = alice.get_text("/t/octo").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("The relay is failed") && html.contains("5 restarts"),
        "{html}"
    );
    assert!(html.contains("cannot reach the control plane"), "{html}");
}
