//! Cache-hit throughput, side by side in one process: (a) a bare axum server answering a fixed
//! 2 KB body (the ceiling), (b) the worker's cache-hit path for a ~2 KB GitHub response, (c)
//! direct calls to the fake GitHub. Requests/s and p50/p99 latency at 1, 16 and 64 keep-alive
//! connections, and the ratio (b)/(a).
//!
//! `cargo bench -p shoal-worker --bench throughput` (SHOAL_BENCH_SECS: seconds per round,
//! SHOAL_BENCH_ROUNDS: interleaved rounds per cell).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use shoal_fake_github::{FakeGithub, Limits, Options};
use shoal_worker::clock::SystemClock;
use shoal_worker::config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Target {
    name: &'static str,
    addr: SocketAddr,
    path: String,
    authorization: Option<String>,
}

struct Cell {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn one_connection(target: Arc<Target>, until: Instant) -> anyhow::Result<Vec<u32>> {
    let stream = tokio::net::TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut lat = Vec::with_capacity(100_000);
    let host = target.addr.to_string();
    while Instant::now() < until {
        let mut rb = Request::get(target.path.as_str())
            .header("host", host.as_str())
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "shoal-bench");
        if let Some(a) = &target.authorization {
            rb = rb.header("authorization", a.as_str());
        }
        let req = rb.body(Empty::<Bytes>::new())?;
        let t = Instant::now();
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        lat.push(t.elapsed().as_micros() as u32);
        anyhow::ensure!(status == 200 && !body.is_empty(), "{} answered {status}", target.name);
    }
    Ok(lat)
}

async fn measure(target: &Arc<Target>, conns: usize, secs: f64) -> anyhow::Result<Cell> {
    // Warm up connections and caches, then measure.
    let warm = Instant::now() + Duration::from_millis(300);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(one_connection(target.clone(), warm)));
    }
    for t in tasks {
        t.await??;
    }
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(one_connection(target.clone(), until)));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    Ok(Cell {
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

async fn bare_server(body: Bytes) -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json; charset=utf-8")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: f64 = std::env::var("SHOAL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let rounds_n: usize = std::env::var("SHOAL_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let gh = FakeGithub::start(Options {
        limits: Limits {
            core: 1_000_000_000,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let token = gh.add_token("alice");
    let http = reqwest::Client::new();
    // The GitHub response closest to 2 KB among a few single-object routes.
    let mut best: Option<(String, usize)> = None;
    for p in [
        "/repos/octo-org/hello-world/issues/2",
        "/repos/octo-org/hello-world/issues/3",
        "/repos/octo-org/hello-world/releases/latest",
        "/repos/octo-org/hello-world/actions/runs/1",
        "/repos/octo-org/hello-world/pulls/1",
        "/repos/octo-org/hello-world",
    ] {
        let r = http
            .get(format!("{}{p}", gh.url()))
            .header("authorization", format!("token {token}"))
            .send()
            .await?;
        if r.status() != 200 {
            continue;
        }
        let len = r.bytes().await?.len();
        if best.as_ref().is_none_or(|(_, l)| len.abs_diff(2048) < l.abs_diff(2048)) {
            best = Some((p.to_string(), len));
        }
    }
    let (path, len) = best.ok_or_else(|| anyhow::anyhow!("no route answered"))?;

    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("id"), &token)?;
    let caller = shoal_common::token::generate_token()?.expose().to_string();
    std::fs::write(dir.path().join("caller"), &caller)?;
    let text = format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\nallowed_owners = [\"octo-org\"]\n[[identity]]\nid = \"bot\"\naccount = \"alice\"\ntoken = \"file:{}\"\n[[caller]]\nname = \"bench\"\ntoken = \"file:{}\"\n",
        gh.url(),
        dir.path().join("id").display(),
        dir.path().join("caller").display()
    );
    let (settings, bundle) = Config::from_toml_str(&text)?.into_parts()?;
    let listen = settings.listen;
    let worker = shoal_worker::Worker::new(settings, &bundle, Arc::new(SystemClock))?;
    let running = shoal_worker::serve(worker, listen).await?;

    let bare = bare_server(Bytes::from(vec![b'x'; 2048])).await?;
    let targets = [
        Arc::new(Target {
            name: "(a) bare axum, 2 KB",
            addr: bare,
            path: "/".into(),
            authorization: None,
        }),
        Arc::new(Target {
            name: "(b) worker cache hit",
            addr: running.addr,
            path: path.clone(),
            authorization: Some(format!("token {caller}")),
        }),
        Arc::new(Target {
            name: "(c) fake GitHub direct",
            addr: gh.addr(),
            path: path.clone(),
            authorization: Some(format!("token {token}")),
        }),
    ];
    println!(
        "GitHub response: {path} ({len} bytes); median of {rounds_n} interleaved rounds of {secs} s; {} CPUs",
        std::thread::available_parallelism()?
    );
    println!();
    println!("| target | conns | req/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for conns in [1usize, 16, 64] {
        // Rounds interleave the targets so load from other processes hits them alike; each
        // target reports its median round.
        let mut rounds: Vec<Vec<Cell>> = (0..targets.len()).map(|_| Vec::new()).collect();
        for _ in 0..rounds_n {
            for (i, t) in targets.iter().enumerate() {
                rounds[i].push(measure(t, conns, secs).await?);
            }
        }
        let mut cells = Vec::new();
        for (t, mut rs) in targets.iter().zip(rounds) {
            rs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let c = rs.swap_remove(rs.len() / 2);
            println!(
                "| {} | {conns} | {:.0} | {:.3} | {:.3} |",
                t.name, c.rps, c.p50_ms, c.p99_ms
            );
            cells.push(c);
        }
        ratios.push((conns, cells[1].rps / cells[0].rps, cells[1].p99_ms));
    }
    println!();
    for (conns, ratio, p99) in ratios {
        println!(
            "conns {conns:>2}: (b)/(a) = {:.0}%  worker p99 {p99:.3} ms",
            ratio * 100.0
        );
    }
    let stats = shoal_worker::relay::local::stats_json(&running.worker);
    println!("worker upstream calls during the run: {}", stats["upstream"]["calls"]);
    Ok(())
}
