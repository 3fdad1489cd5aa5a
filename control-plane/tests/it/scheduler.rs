//! The scheduler: the process backend supervises real child processes (started, restarted after
//! kill -9, marked failed in a crash loop, stopped), and only the replica holding the advisory
//! lock reconciles.

use shoal_common::crypto::DataKey;
use shoal_common::{Secret, TenantId, WorkerId};
use shoal_control_plane::config::Keys;
use shoal_control_plane::scheduler::process::{Isolation, Launcher, ProcessRuntime};
use shoal_control_plane::scheduler::reconcile::Reconciler;
use shoal_control_plane::scheduler::{WorkerRuntime, WorkerSpec, WorkerState};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn sh(script: &'static str) -> Launcher {
    Arc::new(move |_spec: &WorkerSpec, _dir: &std::path::Path| {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(script);
        c
    })
}

fn spec() -> WorkerSpec {
    WorkerSpec {
        tenant: TenantId::new(),
        worker: WorkerId::new(),
        slug: "acme".into(),
        secret: Secret::new("test-secret"),
        bundle_version: 1,
    }
}

/// Calls `ensure_running` until `done` accepts the state, or fails after `secs`.
async fn poll_until<R: WorkerRuntime>(
    rt: &R,
    spec: &WorkerSpec,
    secs: u64,
    done: impl Fn(&WorkerState) -> bool,
) -> WorkerState {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = rt.ensure_running(spec).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "gave up waiting; last state {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

async fn supervised_worker_is_restarted_after_kill_9(isolation: Isolation) {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(
        sh("echo 'listening on http://127.0.0.1:45999'; exec sleep 600"),
        dir.path(),
        isolation,
    );
    let spec = spec();
    let running = poll_until(&rt, &spec, 10, |s| matches!(s, WorkerState::Running { .. })).await;
    assert_eq!(
        running,
        WorkerState::Running {
            addr: "127.0.0.1:45999".parse().unwrap()
        }
    );
    let first = rt.pid(spec.tenant).await.unwrap();

    std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    // The kill lands asynchronously: wait until a different process is running.
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let state = rt.ensure_running(&spec).await;
        match rt.pid(spec.tenant).await {
            Some(pid) if pid != first && matches!(state, WorkerState::Running { .. }) => break pid,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the worker was not restarted; last state {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!alive(first));

    rt.stop(spec.tenant).await;
    assert!(!alive(second), "worker still running after stop");
    assert!(rt.tenants().await.is_empty());
}

#[tokio::test]
async fn a_plain_child_is_restarted_after_kill_9_and_stopped() {
    supervised_worker_is_restarted_after_kill_9(Isolation::Plain).await;
}

#[tokio::test]
async fn an_isolated_child_is_restarted_after_kill_9_when_namespaces_work() {
    if Isolation::detect().await == Isolation::Namespaces {
        supervised_worker_is_restarted_after_kill_9(Isolation::Namespaces).await;
    }
}

#[tokio::test]
async fn a_crash_loop_marks_the_worker_failed_with_its_last_words() {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(
        sh("echo 'cannot reach the control plane' >&2; exit 3"),
        dir.path(),
        Isolation::Plain,
    );
    let spec = spec();
    let failed = poll_until(&rt, &spec, 20, |s| matches!(s, WorkerState::Failed { .. })).await;
    let WorkerState::Failed { last_error, restarts } = failed else {
        unreachable!()
    };
    assert_eq!(restarts, 5);
    assert!(last_error.contains("cannot reach the control plane"), "{last_error}");
    assert!(last_error.contains('3'), "{last_error}");
    // Failed stays failed: no sixth start.
    assert!(matches!(rt.ensure_running(&spec).await, WorkerState::Failed { .. }));
}

/// A runtime that records which tenants it was asked to run.
#[derive(Default)]
struct Recording {
    started: Mutex<Vec<TenantId>>,
    stopped: Mutex<Vec<TenantId>>,
}

impl WorkerRuntime for Recording {
    async fn ensure_running(&self, spec: &WorkerSpec) -> WorkerState {
        self.started.lock().unwrap().push(spec.tenant);
        WorkerState::Running {
            addr: "127.0.0.1:1".parse().unwrap(),
        }
    }
    async fn stop(&self, tenant: TenantId) {
        self.stopped.lock().unwrap().push(tenant);
    }
    async fn tenants(&self) -> Vec<TenantId> {
        Vec::new()
    }
}

async fn insert_tenant(pool: &PgPool, keys: &Keys, slug: &str) -> TenantId {
    let tenant = TenantId::new();
    let wrapped = keys
        .keyring
        .current()
        .wrap(&DataKey::generate().unwrap(), tenant)
        .unwrap();
    sqlx::query("INSERT INTO tenants (id, slug, github_org, github_org_id, wrapped_data_key) VALUES ($1, $2, 'octo-org', 1, $3)")
        .bind(tenant.as_uuid())
        .bind(slug)
        .bind(wrapped.as_bytes())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO workers (tenant_id, id) VALUES ($1, gen_random_uuid())")
        .bind(tenant.as_uuid())
        .execute(pool)
        .await
        .unwrap();
    tenant
}

async fn observed(pool: &PgPool, tenant: TenantId) -> (String, Option<String>, bool) {
    sqlx::query_as("SELECT observed_state, address, sealed_secret IS NOT NULL FROM workers WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn reconcile_starts_active_tenants_and_stops_suspended_ones(pool: PgPool) {
    let keys = Arc::new(Keys::generate());
    let active = insert_tenant(&pool, &keys, "acme").await;
    let suspended = insert_tenant(&pool, &keys, "gone").await;
    sqlx::query("UPDATE tenants SET status = 'suspended' WHERE id = $1")
        .bind(suspended.as_uuid())
        .execute(&pool)
        .await
        .unwrap();

    let rt = Arc::new(Recording::default());
    let r = Reconciler::new(pool.clone(), rt.clone(), keys, Duration::from_millis(50));
    r.reconcile_once().await.unwrap();

    assert_eq!(*rt.started.lock().unwrap(), vec![active]);
    assert_eq!(*rt.stopped.lock().unwrap(), vec![suspended]);
    assert_eq!(
        observed(&pool, active).await,
        ("running".into(), Some("127.0.0.1:1".into()), true)
    );
    assert_eq!(observed(&pool, suspended).await, ("stopped".into(), None, false));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn only_the_replica_holding_the_lock_reconciles_and_another_takes_over(pool: PgPool) {
    let keys = Arc::new(Keys::generate());
    let tenant = insert_tenant(&pool, &keys, "acme").await;
    let (rt_a, rt_b) = (Arc::new(Recording::default()), Arc::new(Recording::default()));
    let (stop_a, rx_a) = tokio::sync::watch::channel(false);
    let (stop_b, rx_b) = tokio::sync::watch::channel(false);
    let a =
        tokio::spawn(Reconciler::new(pool.clone(), rt_a.clone(), keys.clone(), Duration::from_millis(20)).run(rx_a));
    // Let A win the lock before B starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt_a.started.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "replica A never reconciled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let b = tokio::spawn(Reconciler::new(pool.clone(), rt_b.clone(), keys, Duration::from_millis(20)).run(rx_b));
    let a_before = rt_a.started.lock().unwrap().len();
    while rt_a.started.lock().unwrap().len() < a_before + 5 {
        assert!(Instant::now() < deadline, "replica A stopped reconciling");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        rt_b.started.lock().unwrap().is_empty(),
        "replica B reconciled while A held the lock"
    );

    stop_a.send(true).unwrap();
    a.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt_b.started.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "replica B never took over");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rt_b.started.lock().unwrap()[0], tenant);
    stop_b.send(true).unwrap();
    b.await.unwrap();
}
