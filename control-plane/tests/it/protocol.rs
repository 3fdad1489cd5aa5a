//! The whole tenant path on one machine, with real processes: the reconciler starts the real
//! `shoal-worker` in scheduled mode, the worker pulls its bundle over the signed internal API,
//! curl reaches it through the edge over TLS (dev CA), GitHub is the fake. A repeat read is a
//! cache hit; a revoked caller token is refused within 2 s; a kill -9'd worker serves again
//! within 5 s; usage lands in Postgres; a suspended tenant's worker is stopped.

use crate::support::workers::{add_identity, bump, curl, launcher, reconcile, seed, worker_state};
use crate::support::{app_against, until};
use shoal_common::Secret;
use shoal_control_plane::edge::proxy::{EdgeState, router as edge_router};
use shoal_control_plane::edge::serve::serve_tls;
use shoal_control_plane::edge::tls::{DevCa, dev_server_config};
use shoal_control_plane::scheduler::process::{Isolation, ProcessRuntime};
use shoal_fake_github::{FakeGithub, Options};
use sqlx::PgPool;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_tenant_is_served_end_to_end_by_a_scheduled_worker(pool: PgPool) {
    let gh = FakeGithub::start(Options::default()).await;
    let pat = gh.add_token("octo-bot");
    let app = app_against(pool.clone(), &gh, |_| {}).await;
    let keys = app.config.keys.clone();
    let s = seed(&pool, &keys, &pat).await;

    let internal_url = app.url.clone();

    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::load_or_create(dir.path()).unwrap();
    let ca_path = ca.cert_path().to_path_buf();
    let edge = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = edge.local_addr().unwrap().port();
    tokio::spawn(serve_tls(
        edge,
        dev_server_config(ca, "localhost").unwrap(),
        edge_router(EdgeState::new(pool.clone(), "localhost", "https")),
    ));

    let runtime = Arc::new(ProcessRuntime::new(
        launcher(internal_url, 200),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, reconciler) = reconcile(&pool, runtime.clone(), keys.clone());
    until(20, "the worker starting", async || {
        (worker_state(&pool, s.tenant).await.0 == "running").then_some(())
    })
    .await;

    let path = "/api/v3/repos/octo-org/hello-world";
    let read = |token: Secret| {
        let ca = ca_path.clone();
        tokio::task::spawn_blocking(move || curl(&ca, port, token.expose(), path))
    };
    // The edge caches routes for a second; the first read may still see the worker as starting.
    let first = until(5, "a first answer", async || {
        let r = read(s.token.clone()).await.unwrap();
        (r.0 != "503").then_some(r)
    })
    .await;
    assert_eq!(first, ("200".into(), "MISS".into()));
    gh.reset_stats();
    assert_eq!(read(s.token.clone()).await.unwrap(), ("200".into(), "HIT".into()));
    assert_eq!(gh.stats().calls, 0, "a repeat read reached GitHub");

    // Usage reaches Postgres.
    until(10, "usage in postgres", async || {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_requests_hourly WHERE tenant_id = $1")
                .bind(s.tenant.as_uuid())
                .fetch_one(&pool)
                .await
                .unwrap();
        (n.unwrap_or(0) >= 2).then_some(())
    })
    .await;

    // kill -9: restarted and serving again within 5 s.
    let (_, addr_before) = worker_state(&pool, s.tenant).await;
    let pid = runtime.pid(s.tenant).await.unwrap();
    Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    let killed_at = Instant::now();
    until(5, "serving after kill -9", async || {
        let r = read(s.token.clone()).await.unwrap();
        let (_, addr) = worker_state(&pool, s.tenant).await;
        (r.0 == "200" && addr != addr_before).then_some(())
    })
    .await;
    assert!(killed_at.elapsed() < Duration::from_secs(5));

    // A new identity is used within 2 s: with the only pooled PAT revoked at GitHub, a fresh read
    // fails until the second identity arrives in the bundle.
    gh.revoke(&pat);
    let fresh = "/api/v3/repos/octo-org/hello-world/issues/2";
    let fresh_read = || {
        let (ca, token) = (ca_path.clone(), s.token.clone());
        tokio::task::spawn_blocking(move || curl(&ca, port, token.expose(), fresh))
    };
    assert_ne!(
        fresh_read().await.unwrap().0,
        "200",
        "a read succeeded with every identity revoked"
    );
    add_identity(&pool, &s, &gh.add_token("octo-bot-2")).await;
    let added_at = Instant::now();
    until(2, "the new identity serving", async || {
        (fresh_read().await.unwrap().0 == "200").then_some(())
    })
    .await;
    assert!(added_at.elapsed() < Duration::from_secs(2));

    // Revoking the caller token is enforced within 2 s.
    sqlx::query("UPDATE caller_tokens SET revoked_at = now() WHERE id = $1")
        .bind(s.token_id)
        .execute(&pool)
        .await
        .unwrap();
    bump(&pool, s.tenant).await;
    let revoked_at = Instant::now();
    until(2, "the revoked token refused", async || {
        (read(s.token.clone()).await.unwrap().0 == "401").then_some(())
    })
    .await;
    assert!(revoked_at.elapsed() < Duration::from_secs(2));

    // Suspended: 402 at the edge and the worker process is gone.
    let pid = runtime.pid(s.tenant).await.unwrap();
    sqlx::query("UPDATE tenants SET status = 'suspended' WHERE id = $1")
        .bind(s.tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    until(5, "the suspended tenant's worker stopping", async || {
        (!Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| st.contains(") Z ")))
        .then_some(())
    })
    .await;
    until(3, "402 at the edge", async || {
        (read(s.token.clone()).await.unwrap().0 == "402").then_some(())
    })
    .await;

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

/// Usage served after the last periodic report is not lost when the worker is stopped: it gets
/// SIGTERM, drains, and sends one last report before it exits.
#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_stopped_worker_sends_its_last_usage_report(pool: PgPool) {
    let gh = FakeGithub::start(Options::default()).await;
    let app = app_against(pool.clone(), &gh, |_| {}).await;
    let keys = app.config.keys.clone();
    let s = seed(&pool, &keys, &gh.add_token("octo-bot")).await;
    let internal_url = app.url.clone();
    let dir = tempfile::tempdir().unwrap();
    // Periodic reports every 10 minutes: only the last one can deliver these counts in time.
    let runtime = Arc::new(ProcessRuntime::new(
        launcher(internal_url, 600_000),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, reconciler) = reconcile(&pool, runtime.clone(), keys.clone());
    let addr = until(20, "the worker starting", async || {
        match worker_state(&pool, s.tenant).await {
            (state, Some(addr)) if state == "running" => Some(addr),
            _ => None,
        }
    })
    .await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let r = http
            .get(format!("http://{addr}/api/v3/repos/octo-org/hello-world"))
            .header("authorization", format!("token {}", s.token.expose()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let usage = async || -> i64 {
        sqlx::query_scalar("SELECT coalesce(sum(requests), 0)::bigint FROM usage_requests_hourly WHERE tenant_id = $1")
            .bind(s.tenant.as_uuid())
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(usage().await, 0);

    sqlx::query("UPDATE tenants SET status = 'suspended' WHERE id = $1")
        .bind(s.tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    until(10, "the last usage report", async || (usage().await == 3).then_some(())).await;

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}
