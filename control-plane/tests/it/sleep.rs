//! Idle tenants sleep and wake on demand, with real processes: the scheduler runs the real
//! `shoal-worker` (process backend), requests go through the edge over TLS, GitHub is the fake. A
//! worker idle past `SHOAL_WORKER_IDLE_SECS` is stopped with its disk cache kept; the next read
//! wakes it at once and is answered from that cache (no charged refetch), the one after is a hit.
//! The edge holds at most 256 requests per waking tenant and answers the rest 503 + retry-after;
//! with the idle setting off, nothing sleeps.

use crate::support::workers::{Seed, launcher, seed, worker_state};
use crate::support::{TestApp, app_against, until};
use shoal_control_plane::edge::proxy::{EdgeState, router as edge_router};
use shoal_control_plane::edge::serve::serve_tls;
use shoal_control_plane::edge::tls::{DevCa, dev_server_config};
use shoal_control_plane::scheduler::process::{Isolation, Launcher, ProcessRuntime};
use shoal_control_plane::scheduler::reconcile::Reconciler;
use shoal_control_plane::scheduler::{WorkerSpec, WorkerState};
use shoal_fake_github::{FakeGithub, Options};
use sqlx::PgPool;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const REPO: &str = "/api/v3/repos/octo-org/hello-world";
const UPSTREAM_PATH: &str = "/repos/octo-org/hello-world";
const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

/// The tenant `acme` behind a TLS edge, its workers run by [`Env::runtime`].
struct Env {
    pool: PgPool,
    app: TestApp,
    gh: FakeGithub,
    seed: Seed,
    runtime: Arc<ProcessRuntime>,
    client: reqwest::Client,
    base: String,
    _dir: tempfile::TempDir,
}

/// What a read through the edge got.
struct Answer {
    status: u16,
    cache: String,
    retry_after: Option<String>,
    body: serde_json::Value,
}

impl Env {
    /// With the real worker.
    async fn start(pool: PgPool) -> Self {
        Self::start_with(pool, None).await
    }

    /// With `launcher` instead of the real worker, when given.
    async fn start_with(pool: PgPool, other: Option<Launcher>) -> Self {
        let gh = FakeGithub::start(Options::default()).await;
        let pat = gh.add_token("octo-bot");
        let app = app_against(pool.clone(), &gh, |_| {}).await;
        let seed = seed(&pool, &app.config.keys, &pat).await;
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::load_or_create(dir.path()).unwrap();
        let ca_pem = std::fs::read(ca.cert_path()).unwrap();
        let edge = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = edge.local_addr().unwrap().port();
        tokio::spawn(serve_tls(
            edge,
            dev_server_config(ca, "localhost").unwrap(),
            edge_router(EdgeState::new(pool.clone(), "localhost", "https")),
        ));
        let runtime = Arc::new(ProcessRuntime::new(
            other.unwrap_or_else(|| launcher(app.url.clone(), 200)),
            dir.path(),
            Isolation::Plain,
        ));
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).unwrap())
            .resolve("acme.localhost", ([127, 0, 0, 1], port).into())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            pool,
            app,
            gh,
            seed,
            runtime,
            client,
            base: format!("https://acme.localhost:{port}"),
            _dir: dir,
        }
    }

    fn reconciler(&self, idle: Option<Duration>) -> Reconciler<ProcessRuntime> {
        Reconciler::new(
            self.pool.clone(),
            self.runtime.clone(),
            self.app.config.keys.clone(),
            Duration::from_millis(100),
        )
        .with_idle(idle)
    }

    /// The reconciler loop (every 100 ms, listening for wakes); send `true` to stop it.
    fn reconcile(&self, idle: Option<Duration>) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        (stop, tokio::spawn(self.reconciler(idle).run(stop_rx)))
    }

    async fn read_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("token {}", self.seed.token.expose()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
        let (status, cache, retry_after) = (
            r.status().as_u16(),
            header("x-shoal-cache").unwrap_or_default(),
            header("retry-after"),
        );
        Answer {
            status,
            cache,
            retry_after,
            body: r.json().await.unwrap_or_default(),
        }
    }

    async fn read(&self, path: &str) -> Answer {
        self.read_with(path, &[]).await
    }

    async fn serving(&self, secs: u64) -> Answer {
        until(secs, "the tenant serving", async || {
            let a = self.read(REPO).await;
            (a.status == 200).then_some(a)
        })
        .await
    }

    async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        sqlx::query_scalar(sql)
            .bind(self.seed.tenant.as_uuid())
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Waits for the worker's usage report of its last request, then makes that two hours old (and
    /// the worker's start too), as if it had been idle that long.
    async fn idle_for_two_hours(&self) {
        until(10, "a usage report with a recent last_served", async || {
            self.scalar::<bool>(
                "SELECT COALESCE(last_served_at > now() - interval '1 hour', false) FROM workers WHERE tenant_id = $1",
            )
            .await
            .then_some(())
        })
        .await;
        sqlx::query(
            "UPDATE workers SET last_served_at = now() - interval '2 hours', awake_since = now() - interval '2 hours'
             WHERE tenant_id = $1",
        )
        .bind(self.seed.tenant.as_uuid())
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn sleeping(&self) -> bool {
        self.scalar("SELECT sleeping_since IS NOT NULL FROM workers WHERE tenant_id = $1")
            .await
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.app.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn exited(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| st.contains(") Z "))
}

fn metric(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|v| v.strip_prefix(' '))
            .map(str::to_string)
    })
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_idle_worker_sleeps_and_the_next_read_wakes_it_from_its_disk_cache_then_hits(pool: PgPool) {
    let env = Env::start(pool.clone()).await;
    let (stop, reconciler) = env.reconcile(HOUR);
    let first = env.serving(20).await;
    assert_eq!(first.cache, "MISS");
    assert_eq!(first.body["full_name"], "octo-org/hello-world");
    assert_eq!(env.gh.stats().path(UPSTREAM_PATH).charged, 1);
    let pid = env.runtime.pid(env.seed.tenant).await.unwrap();

    env.idle_for_two_hours().await;
    until(5, "the idle worker sleeping", async || {
        (env.sleeping().await && exited(pid) && worker_state(&pool, env.seed.tenant).await.0 == "stopped").then_some(())
    })
    .await;
    assert_eq!(env.runtime.pid(env.seed.tenant).await, None);
    assert_eq!(
        metric(&env.metrics().await, "shoal_scheduler_sleeps_total").as_deref(),
        Some("1")
    );

    // The first read after the sleep wakes the worker and waits for it: no 503, and the answer
    // comes from the disk cache the worker kept.
    let woken = env.read(REPO).await;
    assert_eq!((woken.status, woken.cache.as_str()), (200, "HIT"));
    assert_eq!(woken.body, first.body);
    assert!(!env.sleeping().await);
    assert_ne!(env.runtime.pid(env.seed.tenant).await, Some(pid));
    let upstream = env.gh.stats().path(UPSTREAM_PATH);
    assert_eq!((upstream.calls, upstream.charged), (1, 1), "no refetch after the wake");

    // Asked for fresh, the disk entry's validator makes it a free 304.
    let fresh = env.read_with(REPO, &[("cache-control", "no-cache")]).await;
    assert_eq!((fresh.status, fresh.cache.as_str()), (200, "REVALIDATED"));
    let upstream = env.gh.stats().path(UPSTREAM_PATH);
    assert_eq!((upstream.calls, upstream.charged, upstream.not_modified), (2, 1, 1));
    let second = env.read(REPO).await;
    assert_eq!((second.status, second.cache.as_str()), (200, "HIT"));
    assert_eq!(env.gh.stats().path(UPSTREAM_PATH).calls, 2);

    assert_eq!(
        env.scalar::<i64>("SELECT wakes FROM workers WHERE tenant_id = $1")
            .await,
        1
    );
    let metrics = env.metrics().await;
    assert_eq!(metric(&metrics, "shoal_edge_wakes_total").as_deref(), Some("1"));
    assert_eq!(metric(&metrics, "shoal_edge_wake_seconds_count").as_deref(), Some("1"));

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_waking_tenant_holds_256_requests_and_answers_the_rest_503_with_retry_after(pool: PgPool) {
    // A worker that never comes up: every held request waits out the 5 s bound.
    let never_listens: Launcher = Arc::new(|_spec: &WorkerSpec, _dir: &Path| {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg("exec sleep 600");
        c
    });
    let env = Env::start_with(pool.clone(), Some(never_listens)).await;
    sqlx::query("UPDATE workers SET sleeping_since = now() WHERE tenant_id = $1")
        .bind(env.seed.tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let (stop, reconciler) = env.reconcile(HOUR);

    let reads: Vec<_> = (0..257)
        .map(|_| {
            let env = &env;
            async move { env.read(REPO).await }
        })
        .collect();
    let answers = futures::future::join_all(reads).await;

    assert!(answers.iter().all(|a| a.status == 503), "every request is answered 503");
    let full: Vec<_> = answers
        .iter()
        .filter(|a| a.retry_after.as_deref() == Some("1"))
        .collect();
    let timed_out: Vec<_> = answers
        .iter()
        .filter(|a| a.retry_after.as_deref() == Some("5"))
        .collect();
    assert_eq!((full.len(), timed_out.len()), (1, 256));
    let message = full[0].body["message"].as_str().unwrap();
    assert!(message.contains("256 waiting requests"), "{message}");
    let message = timed_out[0].body["message"].as_str().unwrap();
    assert!(message.contains("did not wake within 5 s"), "{message}");
    assert_eq!(full[0].body["documentation_url"], "https://docs.github.com/rest");
    // 257 requests, one wake, and the scheduler started the worker once.
    assert_eq!(
        env.scalar::<i64>("SELECT wakes FROM workers WHERE tenant_id = $1")
            .await,
        1
    );
    assert!(env.runtime.pid(env.seed.tenant).await.is_some());
    let metrics = env.metrics().await;
    assert_eq!(
        metric(&metrics, "shoal_edge_wake_holds_refused_total{reason=\"full\"}").as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&metrics, "shoal_edge_wake_holds_refused_total{reason=\"timeout\"}").as_deref(),
        Some("256")
    );

    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn with_the_idle_setting_at_zero_an_idle_worker_never_sleeps(pool: PgPool) {
    let env = Env::start(pool.clone()).await;
    let never = env.reconciler(None);
    until(20, "the worker running", async || {
        never.reconcile_once().await.unwrap();
        (worker_state(&pool, env.seed.tenant).await.0 == "running").then_some(())
    })
    .await;
    assert_eq!(env.serving(5).await.cache, "MISS");
    let pid = env.runtime.pid(env.seed.tenant).await.unwrap();
    env.idle_for_two_hours().await;

    for _ in 0..3 {
        never.reconcile_once().await.unwrap();
    }
    assert!(!env.sleeping().await);
    assert_eq!(env.runtime.pid(env.seed.tenant).await, Some(pid));
    assert_eq!(worker_state(&pool, env.seed.tenant).await.0, "running");
    assert_eq!(env.read(REPO).await.cache, "HIT");

    // The same two idle hours with the setting at an hour: asleep on the next pass.
    env.idle_for_two_hours().await;
    env.reconciler(HOUR).reconcile_once().await.unwrap();
    assert!(env.sleeping().await);
    assert_eq!(env.runtime.pid(env.seed.tenant).await, None);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_tenant_page_says_since_when_the_worker_sleeps_and_how_often_it_was_woken(pool: PgPool) {
    let (_app, _gh, alice) = crate::support::octo_tenant(pool.clone()).await;
    let (status, html) = alice.get_text("/t/octo").await;
    assert_eq!(status, 200);
    assert!(html.contains("0 wakes") && !html.contains("sleeping since"), "{html}");

    sqlx::query(
        "UPDATE workers SET sleeping_since = '2026-12-03 10:00:00+00', wakes = 2
         WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'octo')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (_, html) = alice.get_text("/t/octo").await;
    assert!(html.contains("sleeping since 2026-12-03 10:00 UTC"), "{html}");
    assert!(html.contains("2 wakes"), "{html}");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_pass_that_looked_before_a_wake_leaves_the_woken_worker_running(pool: PgPool) {
    // A worker that says at once where it listens and stays up.
    let announces: Launcher = Arc::new(|_spec: &WorkerSpec, _dir: &Path| {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg("echo listening on http://127.0.0.1:9; exec sleep 600");
        c
    });
    let env = Env::start_with(pool.clone(), Some(announces)).await;
    let tenant = env.seed.tenant;
    sqlx::query("UPDATE workers SET sleeping_since = now() WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let reconciler = env.reconciler(HOUR);

    // A pass looks while the tenant sleeps; then the edge wakes it (as its `request_wake` does) and
    // the scheduler starts the worker, before the pass acts.
    let pass = reconciler.snapshot().await.unwrap();
    sqlx::query("UPDATE workers SET sleeping_since = NULL, woken_at = now(), wakes = wakes + 1 WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let woken = reconciler.wake(tenant).await.unwrap();
    assert!(matches!(woken, WorkerState::Running { .. }), "{woken:?}");
    let pid = env.runtime.pid(tenant).await.unwrap();
    assert_eq!(worker_state(&pool, tenant).await.0, "running");

    // The pass saw the tenant asleep; acting on that would stop the worker the edge was just given
    // (its held request then answered 503). It leaves the woken tenant alone.
    reconciler.carry_out(pass).await.unwrap();
    assert_eq!(env.runtime.pid(tenant).await, Some(pid));
    assert!(!exited(pid));
    assert_eq!(worker_state(&pool, tenant).await.0, "running");

    // The next pass sees it awake and keeps it.
    reconciler.reconcile_once().await.unwrap();
    assert_eq!(env.runtime.pid(tenant).await, Some(pid));
    assert_eq!(worker_state(&pool, tenant).await.0, "running");
}
