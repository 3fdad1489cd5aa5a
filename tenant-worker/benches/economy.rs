//! The upstream economy: a team's working hours replayed against the fake GitHub on a simulated
//! clock. 20 callers each poll the same 50 PRs (the PR and its check runs), the workflow runs
//! list and the issue list every 30-120 s, while the fake mutates 3 PRs per simulated minute.
//! Four ways: direct to the fake (each caller with its own token), through the worker with
//! revalidation off (TTL-only), through the worker as built, and through the worker with the
//! tenant's webhook live ("shoal + webhooks": a ping at start, and each mutation delivered as a
//! `pull_request` event in the same simulated second, as the change feed does within a second).
//! Reports upstream calls and charged units, the ratios, whether any caller read a PR older than
//! its TTL allows, and the staleness of each mutation: the seconds from it until no caller reads
//! the old revision any more (0 when none did), p50, p99 and max over all mutations.
//!
//! `cargo bench -p shoal-worker --bench economy` (SHOAL_ECONOMY_HOURS: simulated hours, default 2).

use shoal_common::protocol::WebhookEvent;
use shoal_fake_github::{FakeGithub, Limits, Options, Size};
use shoal_worker::clock::ManualClock;
use shoal_worker::config::Config;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const REPO: &str = "octo-org/hello-world";
const CALLERS: usize = 20;
const PRS: usize = 50;
const MUTATIONS_PER_MINUTE: usize = 3;
/// The worker's default TTL of the `fast` class (PRs, checks, runs, issues).
const FAST_TTL_SECS: u64 = 20;
const CONCURRENCY: usize = 16;

/// xorshift64*: deterministic, so the three runs replay the same day.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Debug)]
enum Event {
    Poll { caller: usize },
    Mutate,
}

fn schedule(hours: u64) -> Vec<(u64, Event)> {
    let mut rng = Rng(0x5EED_0001);
    let end = hours * 3600;
    let mut events = Vec::new();
    for caller in 0..CALLERS {
        let mut t = rng.range(0, 120);
        while t < end {
            events.push((t, Event::Poll { caller }));
            t += rng.range(30, 120);
        }
    }
    for m in 1..(end / 60) {
        events.push((m * 60, Event::Mutate));
    }
    events.sort_by_key(|(t, e)| (*t, matches!(e, Event::Poll { .. })));
    events
}

struct Pr {
    number: u64,
    head_sha: String,
}

struct Outcome {
    requests: u64,
    calls: u64,
    charged: u64,
    not_modified: u64,
    late_reads: u64,
    /// Seconds each mutation stayed visible as the old revision to some caller, sorted.
    staleness: Vec<u64>,
}

/// One PR mutation and the last simulated second a caller still read the revision before it.
struct Mutation {
    number: u64,
    revision: u64,
    at: u64,
    last_stale_read: Option<u64>,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn webhook(name: &str, number: Option<u64>) -> WebhookEvent {
    WebhookEvent {
        event: name.into(),
        repository: Some(REPO.into()),
        number,
        ..WebhookEvent::default()
    }
}

fn revision_of(body: &str) -> u64 {
    body.split("(revision ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn run(mode: &str, hours: u64) -> anyhow::Result<Outcome> {
    let gh = FakeGithub::start(Options {
        size: Size::Large,
        limits: Limits {
            core: 1_000_000_000,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let setup_token = gh.add_token("setup");
    let pulls: serde_json::Value = http
        .get(format!("{}/repos/{REPO}/pulls?state=all&per_page=100", gh.url()))
        .header("authorization", format!("token {setup_token}"))
        .send()
        .await?
        .json()
        .await?;
    let prs: Vec<Pr> = pulls
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("pull list is not an array"))?
        .iter()
        .take(PRS)
        .map(|p| Pr {
            number: p["number"].as_u64().unwrap_or(0),
            head_sha: p["head"]["sha"].as_str().unwrap_or("").to_string(),
        })
        .collect();
    anyhow::ensure!(prs.len() == PRS, "the fake has only {} PRs", prs.len());

    // Where requests go and with which token.
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new();
    let (base, tokens, running) = if mode == "direct" {
        let tokens: Vec<String> = (0..CALLERS).map(|i| gh.add_token(&format!("caller{i}"))).collect();
        (gh.url(), tokens, None)
    } else {
        let mut tables = String::new();
        for i in 0..3 {
            let t = gh.add_token(&format!("bot{i}"));
            let p = dir.path().join(format!("bot{i}"));
            std::fs::write(&p, t)?;
            tables.push_str(&format!(
                "[[identity]]\nid = \"bot{i}\"\naccount = \"bot{i}\"\ntoken = \"file:{}\"\n",
                p.display()
            ));
        }
        let caller = shoal_common::token::generate_token()?.expose().to_string();
        std::fs::write(dir.path().join("caller"), &caller)?;
        tables.push_str(&format!(
            "[[caller]]\nname = \"team\"\ntoken = \"file:{}\"\n",
            dir.path().join("caller").display()
        ));
        let revalidate = mode != "ttl-only";
        let text = format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\nallowed_owners = [\"octo-org\"]\n[cache]\nrevalidate = {revalidate}\n{tables}",
            gh.url()
        );
        let (settings, bundle) = Config::from_toml_str(&text)?.into_parts()?;
        let listen = settings.listen;
        let w = shoal_worker::Worker::new(settings, &bundle, clock.clone()).await?;
        let running = shoal_worker::serve(w, listen).await?;
        (running.url(), vec![caller; CALLERS], Some(running))
    };
    let webhooks = running
        .as_ref()
        .filter(|_| mode == "shoal + webhooks")
        .map(|r| r.worker.clone());
    if let Some(w) = &webhooks {
        w.on_webhook_event(&webhook("ping", None)).await;
    }
    gh.reset_stats();

    let mut rng = Rng(0xC0FFEE);
    let mut now = 0u64;
    // PR number -> (simulated time of the last mutation, revision after it).
    let mut touched: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut requests = 0u64;
    let mut late_reads = 0u64;
    let mut mutations: Vec<Mutation> = Vec::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    for (t, event) in schedule(hours) {
        if t > now {
            clock.advance(Duration::from_secs(t - now));
            now = t;
        }
        match event {
            Event::Mutate => {
                for _ in 0..MUTATIONS_PER_MINUTE {
                    let pr = &prs[rng.range(0, PRS as u64 - 1) as usize];
                    gh.touch(REPO, &format!("pulls/{}", pr.number));
                    let rev = touched.get(&pr.number).map_or(1, |(_, r)| r + 1);
                    touched.insert(pr.number, (now, rev));
                    mutations.push(Mutation {
                        number: pr.number,
                        revision: rev,
                        at: now,
                        last_stale_read: None,
                    });
                    if let Some(w) = &webhooks {
                        w.on_webhook_event(&webhook("pull_request", Some(pr.number))).await;
                    }
                }
            }
            Event::Poll { caller } => {
                let mut paths: Vec<(Option<u64>, String)> = Vec::with_capacity(2 * PRS + 2);
                for pr in &prs {
                    paths.push((Some(pr.number), format!("/repos/{REPO}/pulls/{}", pr.number)));
                    paths.push((None, format!("/repos/{REPO}/commits/{}/check-runs", pr.head_sha)));
                }
                paths.push((None, format!("/repos/{REPO}/actions/runs?per_page=20")));
                paths.push((None, format!("/repos/{REPO}/issues?state=open&per_page=30")));
                let mut tasks = Vec::with_capacity(paths.len());
                for (pr, path) in paths {
                    let permit = sem.clone().acquire_owned().await?;
                    let req = http
                        .get(format!("{base}{path}"))
                        .header("authorization", format!("token {}", tokens[caller]));
                    tasks.push(tokio::spawn(async move {
                        let _permit = permit;
                        let r = req.send().await?;
                        anyhow::ensure!(r.status() == 200, "{path} answered {}", r.status());
                        let body = r.text().await?;
                        Ok::<_, anyhow::Error>(pr.map(|n| (n, revision_of(&body))))
                    }));
                }
                for task in tasks {
                    requests += 1;
                    if let Some((n, seen)) = task.await?? {
                        // A mutation older than the TTL must be visible to every caller.
                        if let Some((at, rev)) = touched.get(&n)
                            && now > at + FAST_TTL_SECS
                            && seen < *rev
                        {
                            late_reads += 1;
                        }
                        for m in mutations.iter_mut().filter(|m| m.number == n && m.revision > seen) {
                            m.last_stale_read = Some(now);
                        }
                    }
                }
            }
        }
    }
    let s = gh.stats();
    let mut staleness: Vec<u64> = mutations
        .iter()
        .map(|m| m.last_stale_read.map_or(0, |t| t - m.at))
        .collect();
    staleness.sort_unstable();
    Ok(Outcome {
        staleness,
        requests,
        calls: s.calls,
        charged: s.charged,
        not_modified: s.not_modified,
        late_reads,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let hours: u64 = std::env::var("SHOAL_ECONOMY_HOURS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    println!(
        "{hours} simulated hours: {CALLERS} callers x ({PRS} PRs + their check runs + runs list + issue list) every 30-120 s; {MUTATIONS_PER_MINUTE} PR mutations per minute"
    );
    println!();
    println!(
        "| mode | requests | upstream calls | charged units | 304s | units vs direct | units vs TTL-only | late reads | staleness p50 / p99 / max (s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for mode in ["direct", "ttl-only", "shoal", "shoal + webhooks"] {
        let o = run(mode, hours).await?;
        rows.push((mode, o));
    }
    let direct = rows[0].1.charged.max(1) as f64;
    let ttl = rows[1].1.charged.max(1) as f64;
    for (mode, o) in &rows {
        println!(
            "| {mode} | {} | {} | {} | {} | {:.2}% | {:.1}% | {} | {} / {} / {} |",
            o.requests,
            o.calls,
            o.charged,
            o.not_modified,
            o.charged as f64 / direct * 100.0,
            o.charged as f64 / ttl * 100.0,
            o.late_reads,
            percentile(&o.staleness, 0.5),
            percentile(&o.staleness, 0.99),
            o.staleness.last().copied().unwrap_or(0),
        );
    }
    let (shoal, hooks) = (&rows[2].1, &rows[3].1);
    println!();
    println!(
        "shoal + webhooks vs shoal: {:.1}x fewer upstream calls, units {:.2}x",
        shoal.calls as f64 / hooks.calls.max(1) as f64,
        hooks.charged as f64 / shoal.charged.max(1) as f64
    );
    Ok(())
}
