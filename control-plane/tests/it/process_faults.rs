//! Process faults under load, with real processes: a tenant worker killed with SIGKILL is back
//! within 5 s from its disk cache while no caller ever gets another tenant's answer; of two
//! control-plane replicas the one reconciling is killed and the other takes over while its edge
//! keeps answering; the control plane restarted under its workers, and PostgreSQL restarted under
//! the control plane (a private cluster, never the shared server), lose and double no usage.
//!
//! The short runs are part of `make test`; `make soak` runs the long ones (`soak_` prefix,
//! ignored otherwise) and adds their rows to the soak summary (`SHOAL_SOAK_REPORT`).

use crate::support::workers::{Seed, launcher, reconcile, seed, seed_tenant, worker_state};
use crate::support::{app_against, until, workspace_bin};
use shoal_common::crypto::{Keyring, MasterKey};
use shoal_common::token::Pepper;
use shoal_control_plane::config::Keys;
use shoal_control_plane::db::embedded::EmbeddedPostgres;
use shoal_control_plane::edge::proxy::{EdgeState, router as edge_router};
use shoal_control_plane::edge::serve::serve_tls;
use shoal_control_plane::edge::tls::{DevCa, dev_server_config};
use shoal_control_plane::scheduler::process::{Isolation, ProcessRuntime};
use shoal_control_plane::{Application, Config};
use shoal_fake_github::{FakeGithub, Limits, Options};
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a tenant's callers read, and what only the other tenant's answers contain.
struct Reads {
    host: &'static str,
    paths: &'static [&'static str],
    foreign: &'static str,
}

const ACME: Reads = Reads {
    host: "acme",
    paths: &[
        "/api/v3/repos/octo-org/hello-world",
        "/api/v3/repos/octo-org/hello-world/pulls/1",
    ],
    foreign: "acme-corp/project-1",
};
const BETA: Reads = Reads {
    host: "beta",
    paths: &["/api/v3/repos/acme-corp/project-1", "/repos/acme-corp/project-1/issues"],
    foreign: "octo-org/hello-world",
};

/// How hard and how often.
struct Plan {
    name: &'static str,
    callers: usize,
    rounds: usize,
}

const SHORT: Plan = Plan {
    name: "short",
    callers: 4,
    rounds: 1,
};
/// Three kills: a fourth and fifth within a minute would be a crash loop, which the scheduler
/// rightly stops restarting.
const LONG: Plan = Plan {
    name: "soak",
    callers: 32,
    rounds: 3,
};

/// A fake GitHub whose budgets no test here exhausts.
async fn fake() -> FakeGithub {
    FakeGithub::start(Options {
        limits: Limits {
            core: 10_000_000,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await
}

/// A client of an edge that trusts the dev CA at `ca` and finds `<host>.localhost` on loopback.
fn edge_client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256);
    for host in ["acme.localhost", "beta.localhost"] {
        b = b.resolve(host, SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    b.build().unwrap()
}

async fn read(
    http: &reqwest::Client,
    port: u16,
    reads: &Reads,
    path: &str,
    token: &str,
) -> reqwest::Result<(u16, String)> {
    let r = http
        .get(format!("https://{}.localhost:{port}{path}", reads.host))
        .header("authorization", format!("token {token}"))
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.text().await?))
}

/// What the callers saw.
#[derive(Default)]
struct Seen {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    transport_errors: u64,
    /// Answers carrying the other tenant's data.
    crossed: Vec<String>,
    latencies_us: Vec<u64>,
}

impl Seen {
    fn ok(&self) -> u64 {
        self.by_status.get(&200).copied().unwrap_or(0)
    }

    /// Answers other than 200 and the edge's 502/503 for a worker that is (re)starting.
    fn unexpected(&self) -> Vec<(u16, u64)> {
        self.by_status
            .iter()
            .filter(|(s, _)| !matches!(**s, 200 | 502 | 503))
            .map(|(s, n)| (*s, *n))
            .collect()
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

/// Callers reading through an edge until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
}

impl Load {
    fn start(http: &reqwest::Client, port: u16, tenants: Vec<(&'static Reads, String)>, callers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut tasks = Vec::new();
        for (reads, token) in tenants {
            for c in 0..callers {
                let (http, token, stop, seen) = (http.clone(), token.clone(), stop.clone(), seen.clone());
                tasks.push(tokio::spawn(async move {
                    let mut i = c;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let path = reads.paths[i % reads.paths.len()];
                        let started = Instant::now();
                        let r = read(&http, port, reads, path, &token).await;
                        let mut s = seen.lock().unwrap();
                        s.requests += 1;
                        s.latencies_us.push(started.elapsed().as_micros() as u64);
                        match r {
                            Ok((status, body)) => {
                                *s.by_status.entry(status).or_default() += 1;
                                if body.contains(reads.foreign) {
                                    s.crossed.push(format!("{} {path}: {status}", reads.host));
                                }
                            }
                            Err(_) => s.transport_errors += 1,
                        }
                    }
                }));
            }
        }
        Load {
            stop,
            seen,
            tasks,
            started: Instant::now(),
        }
    }

    async fn finish(self) -> (Seen, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let elapsed = self.started.elapsed();
        (std::mem::take(&mut *self.seen.lock().unwrap()), elapsed)
    }
}

/// An edge over `pool` with its own dev CA under `dir`: (CA path, port).
async fn start_edge(pool: &PgPool, dir: &Path) -> (PathBuf, u16) {
    let ca = DevCa::load_or_create(dir).unwrap();
    let ca_path = ca.cert_path().to_path_buf();
    let edge = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = edge.local_addr().unwrap().port();
    tokio::spawn(serve_tls(
        edge,
        dev_server_config(ca, "localhost").unwrap(),
        edge_router(EdgeState::new(pool.clone(), "localhost", "https")),
    ));
    (ca_path, port)
}

fn kill_9(pid: u32) {
    let ok = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(ok.success(), "kill -9 {pid}");
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ") && !s.contains(") X "))
}

/// `pid` and every process below it.
fn descendants(pid: u32) -> BTreeSet<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|v| v.parse().ok()) {
            parents.push((p, ppid));
        }
    }
    let mut found = BTreeSet::from([pid]);
    loop {
        let before = found.len();
        for (p, ppid) in &parents {
            if found.contains(ppid) {
                found.insert(*p);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Resident set size of a process, in KiB (0 when it is gone).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kb: u64) -> String {
    if kb == 0 {
        "n/a".into()
    } else {
        format!("{:.1}", kb as f64 / 1024.0)
    }
}

/// One row of the soak summary, appended to `SHOAL_SOAK_REPORT` when set (tab-separated: run,
/// faults injected, requests, errors, canaries, requests/s, p50 ms, p99 ms, worker RSS before
/// and after, edge RSS before and after, in MiB).
#[allow(clippy::too_many_arguments)]
fn report_row(
    run: String,
    faults: usize,
    seen: &mut Seen,
    errors: u64,
    elapsed: Duration,
    worker: (u64, u64),
    edge: (u64, u64),
) {
    let Some(path) = std::env::var_os("SHOAL_SOAK_REPORT") else {
        return;
    };
    // Runs that count requests rather than time them have no rate or latencies.
    let timed = !elapsed.is_zero();
    let or_na = |v: f64, digits: usize| if timed { format!("{v:.digits$}") } else { "n/a".into() };
    let rps = seen.requests as f64 / elapsed.as_secs_f64().max(0.001);
    let cells = [
        run,
        faults.to_string(),
        seen.requests.to_string(),
        errors.to_string(),
        "n/a".into(),
        or_na(rps, 0),
        or_na(seen.percentile_ms(0.5), 1),
        or_na(seen.percentile_ms(0.99), 1),
        mib(worker.0),
        mib(worker.1),
        mib(edge.0),
        mib(edge.1),
    ];
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{}", cells.join("\t")).unwrap();
}

/// Total relayed requests the control plane has counted for `tenant`.
async fn usage(pool: &PgPool, s: &Seed) -> i64 {
    sqlx::query_scalar("SELECT coalesce(sum(requests), 0)::bigint FROM usage_requests_hourly WHERE tenant_id = $1")
        .bind(s.tenant.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until exactly `want` requests are counted, failing at once if more ever are.
async fn usage_reaches(pool: &PgPool, s: &Seed, want: i64, secs: u64) {
    until(secs, &format!("usage reaching {want}"), async || {
        let got = usage(pool, s).await;
        assert!(got <= want, "usage counted {got} requests, {want} were made");
        (got == want).then_some(())
    })
    .await;
}

async fn running_addr(pool: &PgPool, s: &Seed, secs: u64) -> String {
    until(secs, "the worker running", async || {
        match worker_state(pool, s.tenant).await {
            (state, Some(addr)) if state == "running" => Some(addr),
            _ => None,
        }
    })
    .await
}

async fn a_killed_worker_comes_back(pool: PgPool, plan: Plan) {
    let gh = fake().await;
    let app = app_against(pool.clone(), &gh, |_| {}).await;
    let keys = app.config.keys.clone();
    let acme = seed_tenant(
        &pool,
        &keys,
        "acme",
        "octo-org",
        ("alice", 4242),
        &gh.add_token("octo-bot"),
    )
    .await;
    let beta = seed_tenant(
        &pool,
        &keys,
        "beta",
        "acme-corp",
        ("bob", 4343),
        &gh.add_token("acme-bot"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (ca, port) = start_edge(&pool, dir.path()).await;
    let runtime = Arc::new(ProcessRuntime::new(
        launcher(app.url.clone(), 200),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, reconciler) = reconcile(&pool, runtime.clone(), keys.clone());
    running_addr(&pool, &acme, 20).await;
    running_addr(&pool, &beta, 20).await;
    let http = edge_client(&ca);
    for (reads, s) in [(&ACME, &acme), (&BETA, &beta)] {
        for path in reads.paths {
            until(10, "a first answer", async || {
                let r = read(&http, port, reads, path, s.token.expose()).await.ok()?;
                (r.0 == 200).then_some(())
            })
            .await;
        }
    }
    let worker_rss_before = rss_kb(runtime.pid(acme.tenant).await.unwrap());
    let load = Load::start(
        &http,
        port,
        vec![
            (&ACME, acme.token.expose().to_string()),
            (&BETA, beta.token.expose().to_string()),
        ],
        plan.callers,
    );
    for _ in 0..plan.rounds {
        let (_, before) = worker_state(&pool, acme.tenant).await;
        let pid = runtime.pid(acme.tenant).await.unwrap();
        gh.reset_stats();
        kill_9(pid);
        let killed = Instant::now();
        until(5, "acme served by its restarted worker", async || {
            let (state, addr) = worker_state(&pool, acme.tenant).await;
            if state != "running" || addr == before {
                return None;
            }
            let r = read(&http, port, &ACME, ACME.paths[0], acme.token.expose())
                .await
                .ok()?;
            (r.0 == 200).then_some(())
        })
        .await;
        assert!(killed.elapsed() < Duration::from_secs(5));
        // What was cached is still fresh on disk: the new worker answers it without GitHub.
        let up = gh.stats();
        for path in ["/repos/octo-org/hello-world", "/repos/octo-org/hello-world/pulls/1"] {
            assert_eq!(up.path(path).calls, 0, "{path} was fetched again after the restart");
        }
    }
    let (mut seen, elapsed) = load.finish().await;
    let worker_rss_after = rss_kb(runtime.pid(acme.tenant).await.unwrap());
    eprintln!(
        "worker kill ({}): {} requests {:?}, {} transport errors",
        plan.name, seen.requests, seen.by_status, seen.transport_errors
    );
    assert!(seen.crossed.is_empty(), "answers of another tenant: {:?}", seen.crossed);
    assert_eq!(seen.unexpected(), vec![], "statuses other than 200/502/503");
    assert_eq!(seen.transport_errors, 0, "the edge dropped connections");
    assert!(seen.ok() > 0);
    let errors =
        seen.crossed.len() as u64 + seen.transport_errors + seen.unexpected().iter().map(|(_, n)| n).sum::<u64>();
    report_row(
        format!("worker kill -9 x{} ({} callers)", plan.rounds, plan.callers * 2),
        plan.rounds,
        &mut seen,
        errors,
        elapsed,
        (worker_rss_before, worker_rss_after),
        (0, 0),
    );
    stop.send(true).unwrap();
    reconciler.await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_worker_killed_under_load_serves_again_within_5s_from_its_disk_cache_and_never_crosses_tenants(pool: PgPool) {
    a_killed_worker_comes_back(pool, SHORT).await;
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
#[ignore = "long: run by `make soak`"]
async fn soak_worker_kills(pool: PgPool) {
    a_killed_worker_comes_back(pool, LONG).await;
}

/// A `shoal-control-plane` process (killed on drop) and what it announced.
struct Replica {
    child: Child,
    edge_port: u16,
    ca: PathBuf,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every replica shares: the database, the keys, the state dir and GitHub.
struct Cluster {
    database_url: String,
    master_key: String,
    pepper: String,
    state_dir: PathBuf,
    github: String,
}

impl Cluster {
    fn start(&self, log: &Path) -> Replica {
        let mut child = Command::new(workspace_bin("shoal-control-plane"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("SHOAL_MASTER_KEY", &self.master_key)
            .env("SHOAL_TOKEN_PEPPER", &self.pepper)
            .env("SHOAL_STATE_DIR", &self.state_dir)
            .env("SHOAL_LISTEN", "127.0.0.1:0")
            .env("SHOAL_EDGE_LISTEN", "127.0.0.1:0")
            .env("SHOAL_GITHUB_URL", &self.github)
            .env("SHOAL_GITHUB_WEB_URL", &self.github)
            .env("SHOAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut edge_port, mut ca) = (None, None);
        while edge_port.is_none() || ca.is_none() {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the control plane exited early; see {}",
                log.display()
            );
            if let Some(a) = line.trim().strip_prefix("edge on https://") {
                edge_port = Some(a.parse::<SocketAddr>().unwrap().port());
            } else if let Some(p) = line.trim().strip_prefix("ca at ") {
                ca = Some(PathBuf::from(p));
            }
        }
        Replica {
            child,
            edge_port: edge_port.unwrap(),
            ca: ca.unwrap(),
            _stdout: out,
        }
    }
}

async fn the_other_replica_takes_over(pool: PgPool, plan: Plan) {
    let gh = fake().await;
    let (master, master_text) = MasterKey::generate().unwrap();
    let pepper = Pepper::generate().unwrap();
    let pepper_hex = hex::encode(pepper.as_bytes());
    let keys = Keys {
        keyring: Keyring::new(master),
        pepper,
    };
    let s = seed(&pool, &keys, &gh.add_token("octo-bot")).await;
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut database_url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    database_url.set_path(&db);
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster {
        database_url: database_url.to_string(),
        master_key: master_text.to_string(),
        pepper: pepper_hex,
        state_dir: dir.path().join("state"),
        github: gh.url(),
    };
    let mut a = cluster.start(&dir.path().join("a.log"));
    running_addr(&pool, &s, 30).await;
    let b = cluster.start(&dir.path().join("b.log"));
    let http = edge_client(&b.ca);
    until(10, "the tenant served through B's edge", async || {
        let r = read(&http, b.edge_port, &ACME, ACME.paths[0], s.token.expose())
            .await
            .ok()?;
        (r.0 == 200).then_some(())
    })
    .await;
    let load = Load::start(
        &http,
        b.edge_port,
        vec![(&ACME, s.token.expose().to_string())],
        plan.callers,
    );
    let edge_rss_before = rss_kb(b.child.id());
    // Under load for a while before the kill (long runs), so the kill lands mid-stream.
    tokio::time::sleep(Duration::from_secs(plan.rounds as u64 - 1)).await;
    let (_, before) = worker_state(&pool, s.tenant).await;
    let doomed = descendants(a.child.id());
    assert!(doomed.len() > 1, "replica A runs no worker");
    let worker_rss_before = doomed.iter().map(|p| rss_kb(*p)).max().unwrap_or(0);
    kill_9(a.child.id());
    let _ = a.child.wait();
    let killed = Instant::now();
    until(10, "B reconciling and serving the tenant", async || {
        let (state, addr) = worker_state(&pool, s.tenant).await;
        if state != "running" || addr == before {
            return None;
        }
        let r = read(&http, b.edge_port, &ACME, ACME.paths[0], s.token.expose())
            .await
            .ok()?;
        (r.0 == 200).then_some(())
    })
    .await;
    eprintln!("B took over {:?} after the kill", killed.elapsed());
    until(5, "A's workers exiting with it", async || {
        doomed.iter().all(|p| !alive(*p)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(plan.rounds as u64 - 1)).await;
    let (mut seen, elapsed) = load.finish().await;
    let edge_rss_after = rss_kb(b.child.id());
    eprintln!(
        "replica kill ({}): {} requests {:?}, {} transport errors",
        plan.name, seen.requests, seen.by_status, seen.transport_errors
    );
    assert_eq!(seen.transport_errors, 0, "B's edge dropped connections");
    assert_eq!(seen.unexpected(), vec![], "statuses other than 200/502/503");
    assert!(seen.crossed.is_empty());
    let errors = seen.transport_errors + seen.unexpected().iter().map(|(_, n)| n).sum::<u64>();
    report_row(
        format!("control-plane replica kill -9 ({} callers)", plan.callers),
        1,
        &mut seen,
        errors,
        elapsed,
        (worker_rss_before, 0),
        (edge_rss_before, edge_rss_after),
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn of_two_replicas_under_load_the_survivor_of_a_kill_9_reconciles_and_its_edge_keeps_serving(pool: PgPool) {
    the_other_replica_takes_over(pool, SHORT).await;
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
#[ignore = "long: run by `make soak`"]
async fn soak_replica_kill(pool: PgPool) {
    the_other_replica_takes_over(pool, LONG).await;
}

/// The web server and internal API of the control plane, stoppable and restartable on its port.
struct ControlPlane {
    config: Config,
    pool: PgPool,
    addr: SocketAddr,
    stop: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

impl ControlPlane {
    async fn start(mut config: Config, pool: PgPool) -> ControlPlane {
        let app = Application::build(&config, pool.clone()).await.unwrap();
        let addr = app.local_addr();
        config.listen = addr;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        ControlPlane {
            config,
            pool,
            addr,
            stop: Some((tx, task)),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(&mut self) {
        if let Some((tx, task)) = self.stop.take() {
            let _ = tx.send(());
            task.await.unwrap();
        }
    }

    async fn restart(&mut self) {
        self.stop().await;
        *self = ControlPlane::start(self.config.clone(), self.pool.clone()).await;
    }
}

/// Reads `path` from the worker at `addr` directly (no edge: the control plane may be down).
async fn direct(http: &reqwest::Client, addr: &str, s: &Seed, path: &str) -> u16 {
    http.get(format!("http://{addr}{path}"))
        .header("authorization", format!("token {}", s.token.expose()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Reads that all must be answered 200 by the worker; returns how many were made.
async fn reads(http: &reqwest::Client, addr: &str, s: &Seed, n: usize, what: &str) -> i64 {
    for i in 0..n {
        let path = if i % 10 == 9 {
            format!("/repos/octo-org/hello-world/issues?per_page=1&page={}", 1000 + i)
        } else {
            "/api/v3/repos/octo-org/hello-world".to_string()
        };
        assert_eq!(direct(http, addr, s, &path).await, 200, "{what}: {path}");
    }
    n as i64
}

fn tests_config(dir: &Path, gh: &FakeGithub) -> Config {
    let mut config = Config::for_tests(dir.to_path_buf());
    let url = url::Url::parse(&gh.url()).unwrap();
    config.github.api_url = url.clone();
    config.github.web_url = url;
    config
}

async fn workers_outlive_a_control_plane_restart(pool: PgPool, plan: Plan) {
    let gh = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cp = ControlPlane::start(tests_config(&dir.path().join("cp"), &gh), pool.clone()).await;
    let keys = cp.config.keys.clone();
    let s = seed(&pool, &keys, &gh.add_token("octo-bot")).await;
    let runtime = Arc::new(ProcessRuntime::new(
        launcher(cp.url(), 200),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, reconciler) = reconcile(&pool, runtime.clone(), keys.clone());
    let addr = running_addr(&pool, &s, 20).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut made = reads(&http, &addr, &s, 10 * plan.callers, "before").await;
    usage_reaches(&pool, &s, made, 10).await;
    for round in 0..plan.rounds {
        cp.stop().await;
        // The worker serves from its last bundle, misses included, and keeps its usage.
        made += reads(&http, &addr, &s, 10 * plan.callers, "control plane down").await;
        cp.restart().await;
        // Reports that failed meanwhile are retried and counted once.
        usage_reaches(&pool, &s, made, 15).await;
        made += reads(&http, &addr, &s, 1, "after the restart").await;
        usage_reaches(&pool, &s, made, 10).await;
        eprintln!("round {round}: {made} requests counted exactly");
    }
    let (_, still) = worker_state(&pool, s.tenant).await;
    assert_eq!(still.as_deref(), Some(addr.as_str()), "the worker was restarted");
    stop.send(true).unwrap();
    reconciler.await.unwrap();
    cp.stop().await;
    report_counts(&format!("control-plane restart x{}", plan.rounds), plan.rounds, made);
}

/// A summary row for a run that counts requests, not latencies.
fn report_counts(run: &str, faults: usize, requests: i64) {
    let mut seen = Seen {
        requests: requests as u64,
        ..Seen::default()
    };
    report_row(
        format!("{run} (usage counted exactly)"),
        faults,
        &mut seen,
        0,
        Duration::ZERO,
        (0, 0),
        (0, 0),
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_restarted_control_plane_leaves_workers_serving_and_counts_their_usage_once(pool: PgPool) {
    workers_outlive_a_control_plane_restart(pool, SHORT).await;
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
#[ignore = "long: run by `make soak`"]
async fn soak_control_plane_restarts(pool: PgPool) {
    workers_outlive_a_control_plane_restart(pool, LONG).await;
}

/// `pg_ctl restart` of a private cluster, as its owner, keeping its port and options.
fn restart_postgres(pg: &EmbeddedPostgres) {
    let pg_ctl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("pg_ctl"))
        .find(|p| p.is_file())
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .expect("pg_ctl on PATH");
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        c
    } else {
        Command::new(&pg_ctl)
    };
    // The new postmaster logs to the cluster's file: with pg_ctl's output piped it would hold the
    // pipe open for as long as it runs.
    let log = pg.data_dir().parent().unwrap().join("postgres.log");
    let status = cmd
        .arg("-D")
        .arg(pg.data_dir())
        .arg("-l")
        .arg(&log)
        .args(["-m", "fast", "-w", "-t", "60", "restart"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl restart failed; see {}", log.display());
}

async fn the_control_plane_survives_a_postgres_restart(plan: Plan) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let pg = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&state))
            .await
            .unwrap()
            .unwrap()
    };
    let pool = shoal_control_plane::db::connect_and_migrate(&pg.url()).await.unwrap();
    let gh = fake().await;
    let mut cp = ControlPlane::start(tests_config(&dir.path().join("cp"), &gh), pool.clone()).await;
    let keys = cp.config.keys.clone();
    let s = seed(&pool, &keys, &gh.add_token("octo-bot")).await;
    let runtime = Arc::new(ProcessRuntime::new(
        launcher(cp.url(), 200),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, reconciler) = reconcile(&pool, runtime.clone(), keys.clone());
    let mut addr = running_addr(&pool, &s, 20).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut made = reads(&http, &addr, &s, 10 * plan.callers, "before").await;
    usage_reaches(&pool, &s, made, 10).await;
    for round in 0..plan.rounds {
        tokio::task::block_in_place(|| restart_postgres(&pg));
        let restarted = Instant::now();
        made += reads(&http, &addr, &s, 10 * plan.callers, "after postgres restarted").await;
        // The control plane answers again without being touched.
        until(10, "the control plane answering", async || {
            let r = http.get(format!("{}/healthz", cp.url())).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        usage_reaches(&pool, &s, made, 15).await;
        // The scheduler took its lock again: a killed worker is restarted.
        kill_9(runtime.pid(s.tenant).await.unwrap());
        addr = until(
            10,
            "the worker restarted by the scheduler",
            async || match worker_state(&pool, s.tenant).await {
                (state, Some(a)) if state == "running" && a != addr => Some(a),
                _ => None,
            },
        )
        .await;
        made += reads(&http, &addr, &s, 1, "after the worker restart").await;
        usage_reaches(&pool, &s, made, 10).await;
        eprintln!(
            "round {round}: back {:?} after the restart, {made} requests counted exactly",
            restarted.elapsed()
        );
    }
    stop.send(true).unwrap();
    reconciler.await.unwrap();
    cp.stop().await;
    pool.close().await;
    tokio::task::spawn_blocking(move || pg.stop()).await.unwrap().unwrap();
    report_counts(&format!("postgres restart x{}", plan.rounds), plan.rounds, made);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_the_control_plane_loses_and_doubles_nothing() {
    the_control_plane_survives_a_postgres_restart(SHORT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by `make soak`"]
async fn soak_postgres_restarts() {
    the_control_plane_survives_a_postgres_restart(LONG).await;
}
