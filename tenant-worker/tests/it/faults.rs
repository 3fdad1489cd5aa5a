//! Faults under load: many callers at once through a real `shoal-worker` process (its RSS read
//! from /proc) while the fake GitHub misbehaves in turn: latency past the upstream deadline, 5xx
//! bursts, connection resets, a pooled token revoked mid-run, a forced secondary limit on every
//! identity, every account's budget spent, GitHub unreachable. Callers get 200 (fresh or STALE)
//! for what is cached and a GitHub-shaped refusal for what is not, nothing waits past the
//! deadline, memory stays bounded, and once the faults stop everything is served again with only
//! the revoked identity quarantined.
//!
//! The short run is part of `make test`; `make soak` runs the long one (`soak_` prefix, ignored
//! otherwise) and adds its row to the soak summary (`SHOAL_SOAK_REPORT`).

use shoal_common::token::generate_token;
use shoal_fake_github::{FakeGithub, Faults, Limits, Options, Resource};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Read before the faults and during them: always answered 200 (fresh or STALE).
const CACHED: &[&str] = &[
    "/repos/octo-org/hello-world",
    "/repos/octo-org/hello-world/pulls/1",
    "/repos/octo-org/hello-world/issues/2",
    "/repos/octo-org/hello-world/pulls/1/reviews",
    "/repos/octo-org/hello-world/releases",
    "/api/v3/repos/octo-org/hello-world/commits",
];
/// Seconds before the worker abandons an upstream call, and the longest pacing wait.
const UPSTREAM_TIMEOUT_SECS: u64 = 1;
const MAX_WAIT_SECS: u64 = 1;
/// The worker's RSS may grow by at most this much over a run (the cache is capped at 16 MiB).
const RSS_GROWTH_LIMIT_KB: u64 = 96 * 1024;

/// How hard and how long.
struct Plan {
    name: &'static str,
    callers: usize,
    phase: Duration,
    /// What a request may take beyond the worker's deadline: scheduling on 2 shared cores with
    /// this many callers.
    slack: Duration,
}

/// The worker process (killed on drop) and where it listens.
struct WorkerProc {
    child: Child,
    url: String,
}

impl WorkerProc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of a process, in KiB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The fake, three pooled identities (alice, bob, carol: three accounts) and the worker process.
struct Rig {
    gh: FakeGithub,
    worker: WorkerProc,
    caller: String,
    tokens: Vec<String>,
    http: reqwest::Client,
    unique: AtomicU64,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Rig {
        let gh = FakeGithub::start(Options {
            limits: Limits {
                core: 10_000_000,
                ..Limits::default()
            },
            ..Options::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\nallowed_owners = [\"octo-org\"]\n\
             upstream_timeout_secs = {UPSTREAM_TIMEOUT_SECS}\n\
             [pacing]\nmax_wait_secs = {MAX_WAIT_SECS}\n\
             [ttl]\nimmutable = 1\nslow = 1\nlist = 1\nfast = 1\nsearch = 1\nnot_found = 1\n\
             [cache]\nmax_bytes = 16777216\n",
            gh.url()
        );
        let mut tokens = Vec::new();
        for login in ["alice", "bob", "carol"] {
            let token = gh.add_token(login);
            let path = dir.path().join(login);
            std::fs::write(&path, &token).unwrap();
            config.push_str(&format!(
                "[[identity]]\nid = \"{login}\"\naccount = \"{login}\"\ntoken = \"file:{}\"\n",
                path.display()
            ));
            tokens.push(token);
        }
        let caller = generate_token().unwrap().expose().to_string();
        let caller_path = dir.path().join("caller");
        std::fs::write(&caller_path, &caller).unwrap();
        config.push_str(&format!(
            "[[caller]]\nname = \"load\"\ntoken = \"file:{}\"\n",
            caller_path.display()
        ));
        let config_path = dir.path().join("worker.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("worker.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-worker"))
            .arg("--config")
            .arg(&config_path)
            .env_clear()
            .env("SHOAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the worker: {first:?}"))
            .to_string();
        Rig {
            gh,
            worker: WorkerProc { child, url },
            caller,
            tokens,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            unique: AtomicU64::new(100_000),
            _dir: dir,
        }
    }

    /// The longest a request may take: the worker's upstream deadline plus `slack`.
    fn allowed(slack: Duration) -> Duration {
        Duration::from_secs(UPSTREAM_TIMEOUT_SECS + MAX_WAIT_SECS) + slack
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(format!("{}{path}", self.worker.url))
            .header("authorization", format!("token {}", self.caller))
            .send()
            .await
    }

    async fn stats(&self) -> serde_json::Value {
        self.get("/_shoal/stats").await.unwrap().json().await.unwrap()
    }

    /// Each identity's health state by name.
    async fn states(&self) -> BTreeMap<String, String> {
        self.stats().await["identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_string(),
                    i["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// A key no one read before: a miss that needs GitHub.
    fn fresh_key(&self) -> String {
        let n = self.unique.fetch_add(1, Ordering::Relaxed);
        format!("/repos/octo-org/hello-world/issues?per_page=1&page={n}")
    }

    /// What the fake refused or broke so far (injected faults, secondary and primary limits, 401s).
    fn faults_injected(&self) -> u64 {
        let s = self.gh.stats();
        s.faults + s.secondary_limited + s.rate_limited + s.unauthorized
    }
}

/// What callers saw in one phase.
#[derive(Default)]
struct Tally {
    requests: u64,
    /// 200s by `X-Shoal-Cache`.
    served: BTreeMap<String, u64>,
    /// GitHub-shaped refusals of keys nothing was cached for, by status.
    refused: BTreeMap<u16, u64>,
    /// What must not happen, described (the first few).
    errors: Vec<String>,
    error_count: u64,
    latencies_us: Vec<u64>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.error_count += 1;
        if self.errors.len() < 10 {
            self.errors.push(what);
        }
    }

    fn merge(&mut self, o: Tally) {
        self.requests += o.requests;
        for (k, v) in o.served {
            *self.served.entry(k).or_default() += v;
        }
        for (k, v) in o.refused {
            *self.refused.entry(k).or_default() += v;
        }
        for e in o.errors {
            if self.errors.len() < 10 {
                self.errors.push(e);
            }
        }
        self.error_count += o.error_count;
        self.latencies_us.extend(o.latencies_us);
    }

    fn refused_total(&self) -> u64 {
        self.refused.values().sum()
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

/// Checks one answer: cached keys must be served, others served or refused in GitHub's shape, and
/// nothing may take longer than the deadline allows.
async fn judge(
    t: &mut Tally,
    phase: &str,
    path: &str,
    cached: bool,
    allowed: Duration,
    started: Instant,
    r: reqwest::Result<reqwest::Response>,
) {
    t.requests += 1;
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            t.error(format!("{phase}: {path}: transport error {e}"));
            return;
        }
    };
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-shoal-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = r.bytes().await;
    let elapsed = started.elapsed();
    t.latencies_us.push(elapsed.as_micros() as u64);
    if elapsed > allowed {
        t.error(format!("{phase}: {path}: answered after {elapsed:?}"));
    }
    let Ok(body) = body else {
        t.error(format!("{phase}: {path}: body cut"));
        return;
    };
    if status == 200 {
        if cache.is_empty() {
            t.error(format!("{phase}: {path}: 200 without X-Shoal-Cache"));
        }
        *t.served.entry(cache).or_default() += 1;
        return;
    }
    if cached {
        t.error(format!("{phase}: {path}: {status} although it was cached"));
        return;
    }
    let shaped = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .is_some_and(|v| v["message"].as_str().is_some_and(|m| !m.is_empty()));
    if shaped && matches!(status, 403 | 429 | 503) {
        *t.refused.entry(status).or_default() += 1;
    } else {
        t.error(format!(
            "{phase}: {path}: {status} {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
}

/// `callers` callers for `how_long`, four reads of cached keys to one new key each.
async fn load(rig: &Arc<Rig>, phase: &'static str, plan: &Plan) -> Tally {
    let (callers, how_long, allowed) = (plan.callers, plan.phase, Rig::allowed(plan.slack));
    let end = Instant::now() + how_long;
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let rig = rig.clone();
            tokio::spawn(async move {
                let mut t = Tally::default();
                let mut i = c;
                while Instant::now() < end {
                    i += 1;
                    let (path, cached) = if i % 5 == 4 {
                        (rig.fresh_key(), false)
                    } else {
                        (CACHED[i % CACHED.len()].to_string(), true)
                    };
                    let started = Instant::now();
                    let r = rig.get(&path).await;
                    judge(&mut t, phase, &path, cached, allowed, started, r).await;
                }
                t
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.unwrap());
    }
    total
}

/// Polls `f` every 100 ms until it holds, failing after `secs` seconds.
async fn until(secs: u64, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One row of the soak summary, appended to `SHOAL_SOAK_REPORT` when set (tab-separated: run,
/// faults injected, requests, errors, canaries, requests/s, p50 ms, p99 ms, worker RSS before
/// and after, edge RSS before and after, in MiB).
fn report_row(cells: &[String]) {
    let Some(path) = std::env::var_os("SHOAL_SOAK_REPORT") else {
        return;
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{}", cells.join("\t")).unwrap();
}

fn mib(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

async fn faults_under_load(plan: Plan) {
    let rig = Arc::new(Rig::start().await);
    let gh = &rig.gh;
    for path in CACHED {
        let r = rig.get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let rss_before = rss_kb(rig.worker.pid());
    let peak = Arc::new(Mutex::new(rss_before));
    let sampler = {
        let (pid, peak) = (rig.worker.pid(), peak.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let now = rss_kb(pid);
                let mut p = peak.lock().unwrap();
                *p = (*p).max(now);
            }
        })
    };
    let started = Instant::now();
    let mut all = Tally::default();
    let mut by_phase: Vec<(&str, u64, u64, String)> = Vec::new();
    let mut run = async |name: &'static str, all: &mut Tally| {
        let mut t = load(&rig, name, &plan).await;
        let p99 = t.percentile_ms(0.99);
        let seen = format!("{:?} {:?} p99 {p99:.0} ms", t.served, t.refused);
        by_phase.push((name, t.requests, t.refused_total(), seen));
        all.merge(t);
    };

    gh.set_faults(Faults {
        latency_ms: (UPSTREAM_TIMEOUT_SECS * 1000) + 500,
        ..Faults::default()
    });
    run("latency past the deadline", &mut all).await;
    gh.set_faults(Faults {
        error_rate: 1.0,
        error_status: Some(502),
        ..Faults::default()
    });
    run("5xx burst", &mut all).await;
    gh.set_faults(Faults {
        error_rate: 0.5,
        error_status: Some(503),
        ..Faults::default()
    });
    run("5xx half the time", &mut all).await;
    gh.set_faults(Faults {
        reset_rate: 1.0,
        ..Faults::default()
    });
    run("connection resets", &mut all).await;
    gh.clear_faults();
    gh.revoke(&rig.tokens[2]);
    run("a pooled token revoked mid-run", &mut all).await;
    for t in &rig.tokens[..2] {
        gh.set_secondary_limit(t, 429, 1);
    }
    run("secondary limit on every identity", &mut all).await;
    for t in &rig.tokens[..2] {
        gh.clear_secondary_limit(t);
    }
    let exhausted_for = plan.phase.as_secs() + 1;
    for login in ["alice", "bob", "carol"] {
        assert!(gh.exhaust(login, Resource::Core, exhausted_for));
    }
    let refill_at = Instant::now() + Duration::from_secs(exhausted_for + 1);
    run("every identity exhausted", &mut all).await;
    gh.set_faults(Faults {
        down_ms: plan.phase.as_millis() as u64 + 60_000,
        ..Faults::default()
    });
    run("GitHub down", &mut all).await;
    gh.clear_faults();
    let faults = rig.faults_injected();

    // Recovery: once the spent buckets have reset, a new key is a miss served by GitHub again.
    tokio::time::sleep_until(refill_at.into()).await;
    until(15, "a new key served after the faults", async || {
        let r = rig.get(&rig.fresh_key()).await.unwrap();
        r.status() == 200
    })
    .await;
    until(10, "alice and bob healthy again", async || {
        let s = rig.states().await;
        s["alice"] == "healthy" && s["bob"] == "healthy"
    })
    .await;
    let mut recovered = load(&rig, "after the faults", &plan).await;
    let p99 = recovered.percentile_ms(0.99);
    let seen = format!("{:?} p99 {p99:.0} ms", recovered.served);
    by_phase.push(("after the faults", recovered.requests, recovered.refused_total(), seen));
    let recovered_refusals = recovered.refused.clone();
    all.merge(recovered);
    sampler.abort();
    let elapsed = started.elapsed();
    let rss_after = rss_kb(rig.worker.pid());
    let rss_peak = *peak.lock().unwrap();

    let states = rig.states().await;
    let mut summary = String::new();
    for (name, requests, refused, seen) in &by_phase {
        summary.push_str(&format!("  {name}: {requests} requests, {refused} refused: {seen}\n"));
    }
    eprintln!(
        "{}: {} requests, served {:?}, refused {:?}, {} faults injected; RSS {} -> {} KiB (peak {}); identities {states:?}\n{summary}",
        plan.name, all.requests, all.served, all.refused, faults, rss_before, rss_after, rss_peak
    );
    assert!(
        all.errors.is_empty(),
        "{} of {} requests went wrong, first: {:#?}",
        all.error_count,
        all.requests,
        all.errors
    );
    assert!(
        recovered_refusals.is_empty(),
        "after the faults stopped some reads were still refused: {recovered_refusals:?}"
    );
    let revoke_phase = by_phase
        .iter()
        .find(|p| p.0 == "a pooled token revoked mid-run")
        .unwrap();
    assert_eq!(
        revoke_phase.2, 0,
        "a revoked token with two good ones left refused reads"
    );
    assert!(
        all.served.get("STALE").copied().unwrap_or(0) > 0,
        "no STALE answer under faults"
    );
    assert!(faults > 0);
    assert_eq!(
        states,
        BTreeMap::from([
            ("alice".to_string(), "healthy".to_string()),
            ("bob".to_string(), "healthy".to_string()),
            ("carol".to_string(), "quarantined".to_string()),
        ]),
        "only the revoked identity may stay quarantined"
    );
    assert!(
        rss_peak < rss_before + RSS_GROWTH_LIMIT_KB,
        "worker RSS grew from {rss_before} KiB to a peak of {rss_peak} KiB"
    );

    let rps = all.requests as f64 / elapsed.as_secs_f64();
    let (p50, p99) = (all.percentile_ms(0.50), all.percentile_ms(0.99));
    report_row(&[
        format!("{} ({} callers)", plan.name, plan.callers),
        faults.to_string(),
        all.requests.to_string(),
        all.error_count.to_string(),
        "n/a".into(),
        format!("{rps:.0}"),
        format!("{p50:.1}"),
        format!("{p99:.1}"),
        mib(rss_before),
        mib(rss_after),
        "n/a".into(),
        "n/a".into(),
    ]);
}

#[tokio::test]
async fn many_callers_get_cached_or_clear_answers_through_every_fault_and_recover() {
    faults_under_load(Plan {
        name: "worker faults, short",
        callers: 32,
        phase: Duration::from_millis(1500),
        slack: Duration::from_secs(3),
    })
    .await;
}

#[tokio::test]
#[ignore = "long: run by `make soak`"]
async fn soak_faults_under_load() {
    faults_under_load(Plan {
        name: "worker faults under load",
        callers: 256,
        phase: Duration::from_secs(15),
        slack: Duration::from_secs(10),
    })
    .await;
}
