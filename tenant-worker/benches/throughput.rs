//! Cache-hit throughput, side by side in one run: (a) a bare axum server answering a fixed 2 KB
//! body (the ceiling), (b) the worker's REST cache hit for a ~2 KB GitHub response, (c) direct
//! calls to the fake GitHub, (d) the REST cache hit of a worker running a policy module
//! (`policy-examples/owner-only.wat`, which serves the route), (e) bare axum answering 16 KB,
//! (f) the REST cache hit for a ~16 KB response, (g) and (h) GraphQL cache hits of the bodies gh
//! 2.23 sends for `gh pr view` (`PullRequestByNumber`) and `gh issue list` (`IssueList`), taken
//! from the recording of the real gh (`tests/fake-github/tests/gh-2.23-requests.json`), and (i)
//! and (j) REST cache hits of the size of (g)'s and (h)'s answers. Requests/s and p50/p99 latency
//! at 1, 16 and 64 keep-alive connections, then the ratios with their goals: REST hit / bare axum
//! at 2 and 16 KB (throughput and p99), GraphQL hit / REST hit of the same size, and what the
//! module costs, (d)/(b).
//!
//! `cargo bench -p shoal-worker --bench throughput`
//!
//! Method, so that the figures measure the servers and not the load generator or the machine:
//! - The three servers run on their own tokio runtime with one worker thread, and the load
//!   generator on another thread. With two or more CPUs the server threads are pinned to one CPU
//!   and the load generator to another (`sched_setaffinity`), so client and server never compete
//!   for a core or a scheduler, and (a), (b) and (c) get the same conditions.
//! - The bench's threads run `SCHED_FIFO` when allowed (root or `CAP_SYS_NICE`), else at nice
//!   -20: on a shared machine (compilers on both cores) a normal thread waits up to a time slice
//!   of several ms for its CPU, and p99 would measure that. `SHOAL_BENCH_SCHED=nice|default`
//!   picks a weaker setting; the header line says which took effect.
//! - The built-in load generator is a lean HTTP/1.1 client on epoll (one pre-built request per
//!   connection, `Content-Length` framing, no allocation per request). When pinned it polls
//!   without sleeping, so an answer never has to wake the client's CPU: on a VM that cross-CPU
//!   wake-up costs the sending server several µs, more the slower the server, which would skew
//!   (b)/(a). `SHOAL_BENCH_LOADER=wrk` runs `wrk -t1` instead (pinned alike; needs wrk on PATH,
//!   `apt-get install -y wrk`, else the bench says so and stops).
//! - The table shows the server threads' CPU time and how busy the load generator was (time
//!   not spent in polls that found nothing; CPU time for wrk), as shares of the wall time: the
//!   server near 100% with the client below it means the server is the bottleneck.
//! - Each cell is a closed loop: every connection sends its next request when the previous answer
//!   has arrived. After a 300 ms warm-up on the same connections, requests sent during
//!   `SHOAL_BENCH_SECS` (default 1) are counted. Targets take turns within each of
//!   `SHOAL_BENCH_ROUNDS` rounds (default 5, after one unrecorded round) so outside load hits
//!   them alike; each cell of the table reports its median-throughput round, and each ratio is
//!   the median over rounds of the ratio within one round (its two targets ran close together).
//! - In a closed loop latency follows from throughput (Little's law: mean latency = connections /
//!   requests per second), so at 64 connections a p99 under 2 ms needs well over 32k req/s from
//!   the one server core; the p99 ratios (b)/(a) and (f)/(e) say how much the worker adds to
//!   the ceiling's.
//! - `SHOAL_BENCH_PIN=0` turns pinning off: the servers get a default (one thread per CPU)
//!   runtime and share every CPU with the load generator, as an unpinned deployment would.
//! - `SHOAL_BENCH_ONLY=b` (or `a,b`...) and `SHOAL_BENCH_CONNS=64` (or `1,16`...) measure a
//!   subset, e.g. under a profiler.

use bytes::Bytes;
use shoal_fake_github::{FakeGithub, Limits, Options};
use shoal_worker::clock::SystemClock;
use shoal_worker::config::Config;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Target {
    name: String,
    addr: SocketAddr,
    path: String,
    authorization: Option<String>,
    /// A JSON body to `POST` (GraphQL); `GET` without.
    body: Option<String>,
    /// The size of the answer's body, in bytes.
    len: usize,
}

impl Target {
    fn request(&self) -> Vec<u8> {
        let method = if self.body.is_some() { "POST" } else { "GET" };
        let mut r = format!(
            "{method} {} HTTP/1.1\r\nhost: {}\r\naccept: application/vnd.github+json\r\nuser-agent: shoal-bench\r\n",
            self.path, self.addr
        );
        if let Some(a) = &self.authorization {
            r.push_str(&format!("authorization: {a}\r\n"));
        }
        if let Some(b) = &self.body {
            r.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n{b}",
                b.len()
            ));
        } else {
            r.push_str("\r\n");
        }
        r.into_bytes()
    }

    /// Whether this is the target tagged `tag` (`"b"` for `(b) ...`).
    fn is(&self, tag: &str) -> bool {
        self.name.starts_with(&format!("({tag})"))
    }
}

#[derive(Clone, Copy)]
struct Cell {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time of the server threads and of the load generator, as a share of the wall time.
    busy: (f64, f64),
}

#[derive(Clone, Copy, PartialEq)]
enum Loader {
    Builtin,
    Wrk,
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bitmask the kernel fills; its size is passed along.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread (and the threads and processes it starts later) to `cpu`.
fn pin_current_thread(cpu: usize) {
    // SAFETY: as above; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("warning: could not pin a thread to CPU {cpu}");
        }
    }
}

/// How the bench's threads are scheduled against other processes on the machine.
#[derive(Clone, Copy, PartialEq)]
enum Sched {
    /// `SCHED_FIFO`: other processes' threads wait while a bench thread is runnable.
    Fifo,
    /// Nice -20: the bench's threads get the largest share, but others still run in between.
    Nice,
    Default,
}

impl Sched {
    fn describe(self) -> &'static str {
        match self {
            Sched::Fifo => "bench threads SCHED_FIFO (other processes wait)",
            Sched::Nice => "bench threads at nice -20",
            Sched::Default => "bench threads at default priority",
        }
    }
}

/// Applies `want` to the calling thread (inherited by what it starts), falling back to nice
/// -20 and then to the default when not permitted; returns what took effect.
fn apply_sched(want: Sched) -> Sched {
    // SAFETY: plain syscalls on the calling thread (pid 0 / its tid).
    unsafe {
        if want == Sched::Fifo {
            let param = libc::sched_param { sched_priority: 10 };
            if libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 {
                return Sched::Fifo;
            }
        }
        if want != Sched::Default && libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, -20) == 0 {
            return Sched::Nice;
        }
    }
    Sched::Default
}

/// The CPU-time clock of the calling thread, readable from any thread of the process.
fn thread_clock() -> libc::clockid_t {
    let mut id: libc::clockid_t = 0;
    // SAFETY: `id` is written by the call.
    unsafe {
        libc::pthread_getcpuclockid(libc::pthread_self(), &mut id);
    }
    id
}

fn clock_ns(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is written by the call.
    unsafe {
        libc::clock_gettime(id, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time (ns) used so far by the threads behind `clocks`.
fn cpu_ns(clocks: &[libc::clockid_t]) -> u64 {
    clocks.iter().map(|&c| clock_ns(c)).sum()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Status and body length of a response head (`Content-Length` framing only), by bytes: the
/// client must stay cheap next to the servers it measures.
fn parse_head(head: &[u8]) -> anyhow::Result<(u16, usize)> {
    let digits = |b: &[u8]| -> Option<usize> {
        let b = b.trim_ascii();
        (!b.is_empty() && b.iter().all(u8::is_ascii_digit))
            .then(|| b.iter().fold(0usize, |n, d| n * 10 + (d - b'0') as usize))
    };
    let mut lines = head.split(|&c| c == b'\n');
    let status = lines
        .next()
        .and_then(|l| l.get(9..12))
        .and_then(digits)
        .ok_or_else(|| anyhow::anyhow!("malformed status line"))?;
    for l in lines {
        if l.len() > 15 && l[..15].eq_ignore_ascii_case(b"content-length:") {
            let len = digits(&l[15..]).ok_or_else(|| anyhow::anyhow!("malformed Content-Length"))?;
            return Ok((status as u16, len));
        }
    }
    anyhow::bail!("response without Content-Length")
}

/// One keep-alive connection of the built-in load generator.
struct Conn {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
    have: usize,
    sent_at: Instant,
    done: bool,
}

impl Conn {
    fn send(&mut self, req: &[u8]) -> anyhow::Result<()> {
        use std::io::Write as _;
        self.have = 0;
        self.sent_at = Instant::now();
        // A request is far smaller than the socket buffer of an idle connection.
        let n = (&self.stream).write(req)?;
        anyhow::ensure!(n == req.len(), "short write");
        Ok(())
    }

    /// Reads what arrived; `Some(latency)` once the whole response is in.
    fn poll(&mut self, name: &str) -> anyhow::Result<Option<Duration>> {
        use std::io::Read as _;
        loop {
            let from = self.have.saturating_sub(3);
            match (&self.stream).read(&mut self.buf[self.have..]) {
                Ok(0) => anyhow::bail!("{name} closed the connection"),
                Ok(n) => self.have += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            let Some(i) = find(&self.buf[from..self.have], b"\r\n\r\n").map(|i| i + from) else {
                anyhow::ensure!(self.have < self.buf.len(), "{name}: response head too long");
                continue;
            };
            let (status, len) = parse_head(&self.buf[..i])?;
            let total = i + 4 + len;
            anyhow::ensure!(total <= self.buf.len(), "{name}: response too long");
            while self.have < total {
                match (&self.stream).read(&mut self.buf[self.have..total]) {
                    Ok(0) => anyhow::bail!("{name} closed the connection"),
                    Ok(n) => self.have += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                    Err(e) => return Err(e.into()),
                }
            }
            anyhow::ensure!(self.have == total, "{name} sent more than one response");
            anyhow::ensure!(status == 200 && len > 0, "{name} answered {status}");
            return Ok(Some(self.sent_at.elapsed()));
        }
    }
}

/// The built-in load generator: `conns` keep-alive connections in a closed loop on the calling
/// thread, over epoll. With `spin` it polls without sleeping, so the servers' answers never have
/// to wake its CPU (on a VM a cross-CPU wake-up costs the sender microseconds); use it only
/// when this thread has a CPU of its own. Latencies (ns) of requests sent after the warm-up.
/// Also returns the share of the time the generator had nothing to do (polls that found nothing).
fn run_builtin(target: &Target, conns: usize, secs: f64, spin: bool) -> anyhow::Result<(Vec<u64>, f64)> {
    use std::os::fd::AsRawFd;
    let req = target.request();
    // SAFETY: epoll on descriptors owned here; `ep` is closed below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    anyhow::ensure!(ep >= 0, "epoll_create1 failed");
    let mut conns: Vec<Conn> = (0..conns)
        .map(|i| {
            let stream = std::net::TcpStream::connect(target.addr)?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: as above.
            anyhow::ensure!(
                unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut ev) } == 0,
                "epoll_ctl failed"
            );
            Ok(Conn {
                stream,
                buf: vec![0u8; 64 * 1024],
                have: 0,
                sent_at: Instant::now(),
                done: false,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let warm = Instant::now() + WARM;
    let until = warm + Duration::from_secs_f64(secs);
    let mut lat = Vec::with_capacity(400_000);
    let result = (|| {
        for c in conns.iter_mut() {
            c.send(&req)?;
        }
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; conns.len()];
        let mut open = conns.len();
        let started = Instant::now();
        let mut idle = Duration::ZERO;
        while open > 0 {
            let polled = Instant::now();
            // SAFETY: `events` has room for `events.len()` entries.
            let n =
                unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, if spin { 0 } else { 100 }) };
            if n == 0 {
                idle += polled.elapsed();
            }
            anyhow::ensure!(
                n >= 0 || std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted,
                "epoll_wait failed"
            );
            anyhow::ensure!(
                Instant::now() < until + Duration::from_secs(5),
                "{}: answers stopped",
                target.name
            );
            for ev in &events[..n.max(0) as usize] {
                let c = &mut conns[ev.u64 as usize];
                if c.done {
                    continue;
                }
                if let Some(l) = c.poll(&target.name)? {
                    if c.sent_at >= warm {
                        lat.push(l.as_nanos() as u64);
                    }
                    if Instant::now() < until {
                        c.send(&req)?;
                    } else {
                        c.done = true;
                        open -= 1;
                    }
                }
            }
        }
        Ok(idle.as_secs_f64() / started.elapsed().as_secs_f64())
    })();
    // SAFETY: closes the descriptor created above.
    unsafe { libc::close(ep) };
    result.map(|idle| (lat, idle))
}

const WARM: Duration = Duration::from_millis(300);

fn cell(mut lat: Vec<u64>, secs: f64) -> anyhow::Result<Cell> {
    anyhow::ensure!(!lat.is_empty(), "no request completed");
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1e6;
    Ok(Cell {
        rps: lat.len() as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        busy: (f64::NAN, f64::NAN),
    })
}

/// With `spin`, the client's busy share is the time it was not idly polling (its CPU time is
/// all of the wall time).
fn measure_builtin(target: &Target, conns: usize, secs: f64, spin: bool) -> anyhow::Result<(Cell, Option<f64>)> {
    let (lat, idle) = run_builtin(target, conns, secs, spin)?;
    Ok((cell(lat, secs)?, spin.then_some(1.0 - idle)))
}

const WRK_SCRIPT: &str = r#"
done = function(summary, latency, requests)
  io.write(string.format("shoal-bench %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status, summary.errors.read))
end
"#;

/// One `wrk` run (its own warm-up is the first round of each cell); wrk measures in µs.
fn measure_wrk(target: &Target, conns: usize, secs: f64) -> anyhow::Result<Cell> {
    let script = tempfile::NamedTempFile::new()?;
    if let Some(body) = &target.body {
        anyhow::ensure!(!body.contains("]==]"), "the body ends wrk's Lua string");
        write!(
            script.as_file(),
            "wrk.method = \"POST\"\nwrk.body = [==[{body}]==]\nwrk.headers[\"content-type\"] = \"application/json\"\n"
        )?;
    }
    script.as_file().write_all(WRK_SCRIPT.as_bytes())?;
    let mut cmd = std::process::Command::new("wrk");
    cmd.arg("-t1")
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", secs.ceil() as u64))
        .arg("-s")
        .arg(script.path())
        .arg("-H")
        .arg("accept: application/vnd.github+json")
        .arg("-H")
        .arg("user-agent: shoal-bench");
    if let Some(a) = &target.authorization {
        cmd.arg("-H").arg(format!("authorization: {a}"));
    }
    cmd.arg(format!("http://{}{}", target.addr, target.path));
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("shoal-bench "))
        .ok_or_else(|| anyhow::anyhow!("wrk printed no summary: {text}"))?;
    let v: Vec<f64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
    anyhow::ensure!(v.len() == 6, "unexpected wrk summary {line}");
    anyhow::ensure!(v[4] == 0.0 && v[5] == 0.0, "{}: wrk saw errors ({line})", target.name);
    Ok(Cell {
        rps: v[0] / (v[1] / 1e6),
        p50_ms: v[2] / 1000.0,
        p99_ms: v[3] / 1000.0,
        busy: (f64::NAN, f64::NAN),
    })
}

fn bare_router(body: Bytes) -> axum::Router {
    axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json; charset=utf-8")], body) }
        }),
    )
}

/// Everything the servers' runtime holds.
struct Servers {
    _gh: FakeGithub,
    running: shoal_worker::Running,
    with_policy: shoal_worker::Running,
    targets: Vec<Arc<Target>>,
}

/// gh 2.23's request body for the GraphQL operation `name`, as recorded from the real gh.
fn recorded_graphql(name: &str) -> anyhow::Result<String> {
    let recorded: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../tests/fake-github/tests/gh-2.23-requests.json"))?;
    let needle = format!("query {name}(");
    let body = recorded
        .iter()
        .filter_map(|r| r.get("graphql"))
        .find(|g| g["query"].as_str().is_some_and(|q| q.contains(&needle)))
        .ok_or_else(|| anyhow::anyhow!("no {name} in the gh 2.23 recording"))?;
    Ok(serde_json::to_string(body)?)
}

/// Sends a request like the load generator's through reqwest; the status, `X-Shoal-Cache` and
/// body length of the answer.
async fn probe(http: &reqwest::Client, t: &Target) -> anyhow::Result<(u16, String, usize)> {
    let url = format!("http://{}{}", t.addr, t.path);
    let mut req = match &t.body {
        Some(b) => http
            .post(url)
            .header("content-type", "application/json")
            .body(b.clone()),
        None => http.get(url),
    };
    req = req.header("accept", "application/vnd.github+json");
    if let Some(a) = &t.authorization {
        req = req.header("authorization", a);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-shoal-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Ok((status, cache, r.bytes().await?.len()))
}

/// Among REST routes of the fake (single objects and lists of 1 to 30 items), the one whose
/// answer is closest to `size` bytes, and its size.
async fn rest_route_near(gh: &FakeGithub, token: &str, size: usize) -> anyhow::Result<(String, usize)> {
    let http = reqwest::Client::new();
    let mut paths: Vec<String> = [
        "/repos/octo-org/hello-world/issues/2",
        "/repos/octo-org/hello-world/issues/3",
        "/repos/octo-org/hello-world/releases/latest",
        "/repos/octo-org/hello-world/actions/runs/1",
        "/repos/octo-org/hello-world/pulls/1",
        "/repos/octo-org/hello-world",
    ]
    .map(String::from)
    .to_vec();
    for n in 1..=30 {
        paths.push(format!("/repos/octo-org/hello-world/issues?per_page={n}"));
        paths.push(format!("/repos/octo-org/hello-world/pulls?per_page={n}"));
    }
    let mut best: Option<(String, usize)> = None;
    for p in paths {
        let r = http
            .get(format!("{}{p}", gh.url()))
            .header("authorization", format!("token {token}"))
            .send()
            .await?;
        if r.status() != 200 {
            continue;
        }
        let len = r.bytes().await?.len();
        if best.as_ref().is_none_or(|(_, l)| len.abs_diff(size) < l.abs_diff(size)) {
            best = Some((p, len));
        }
    }
    best.ok_or_else(|| anyhow::anyhow!("no route answered"))
}

async fn start_servers() -> anyhow::Result<Servers> {
    let gh = FakeGithub::start(Options {
        limits: Limits {
            core: 1_000_000_000,
            graphql: 1_000_000_000,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let token = gh.add_token("alice");
    let http = reqwest::Client::new();

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
    let policy = format!(
        "policy = \"{}/policy-examples/owner-only.wat\"\n",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut workers = Vec::new();
    for config in [text.clone(), policy + &text] {
        let (settings, bundle) = Config::from_toml_str(&config)?.into_parts()?;
        let listen = settings.listen;
        let worker = shoal_worker::Worker::new(settings, &bundle, Arc::new(SystemClock)).await?;
        workers.push(shoal_worker::serve(worker, listen).await?);
    }
    let (with_policy, running) = (workers.pop().expect("two workers"), workers.pop().expect("two workers"));

    let bare = |len: usize| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, bare_router(Bytes::from(vec![b'x'; len]))).await });
        anyhow::Ok(addr)
    };
    let worker_target = |name: String, addr: SocketAddr, path: &str, body: Option<String>| Target {
        name,
        addr,
        path: path.to_string(),
        authorization: Some(format!("token {caller}")),
        body,
        len: 0,
    };
    let mut targets = Vec::new();
    let (path2, len2) = rest_route_near(&gh, &token, 2048).await?;
    let (path16, len16) = rest_route_near(&gh, &token, 16 * 1024).await?;
    targets.push(Target {
        name: "(a) bare axum, 2 KB".into(),
        addr: bare(2048).await?,
        path: "/".into(),
        authorization: None,
        body: None,
        len: 2048,
    });
    targets.push(worker_target(
        format!("(b) worker REST hit, {len2} B"),
        running.addr,
        &path2,
        None,
    ));
    targets.push(Target {
        name: format!("(c) fake GitHub direct, {len2} B"),
        addr: gh.addr(),
        path: path2.clone(),
        authorization: Some(format!("token {token}")),
        body: None,
        len: len2,
    });
    targets.push(worker_target(
        format!("(d) worker REST hit + policy module, {len2} B"),
        with_policy.addr,
        &path2,
        None,
    ));
    targets.push(Target {
        name: "(e) bare axum, 16 KB".into(),
        addr: bare(16 * 1024).await?,
        path: "/".into(),
        authorization: None,
        body: None,
        len: 16 * 1024,
    });
    targets.push(worker_target(
        format!("(f) worker REST hit, {len16} B"),
        running.addr,
        &path16,
        None,
    ));
    for (tag, op) in [("g", "PullRequestByNumber"), ("h", "IssueList")] {
        targets.push(worker_target(
            format!("({tag}) worker GraphQL hit, gh {op}"),
            running.addr,
            "/api/graphql",
            Some(recorded_graphql(op)?),
        ));
    }
    // Every worker target's first answer is a miss; every later one must be a hit.
    for t in targets
        .iter_mut()
        .filter(|t| t.addr == running.addr || t.addr == with_policy.addr)
    {
        for want in ["MISS", "HIT"] {
            let (status, got, len) = probe(&http, t).await?;
            anyhow::ensure!(status == 200 && got == want, "{} answered {status} {got}", t.name);
            t.len = len;
        }
    }
    // REST hits of the GraphQL answers' sizes, for the GraphQL/REST ratio at equal size.
    for (tag, of) in [("i", "g"), ("j", "h")] {
        let graphql = targets.iter().find(|t| t.is(of)).expect("GraphQL targets");
        let (name, size) = (graphql.name.clone(), graphql.len);
        let (path, len) = rest_route_near(&gh, &token, size).await?;
        let mut t = worker_target(
            format!("({tag}) worker REST hit, {len} B (size of {})", &name[..3]),
            running.addr,
            &path,
            None,
        );
        // It may be the route of (b) or (f), already cached: only the second answer is known.
        probe(&http, &t).await?;
        let (status, got, _) = probe(&http, &t).await?;
        anyhow::ensure!(status == 200 && got == "HIT", "{} answered {status} {got}", t.name);
        t.len = len;
        targets.push(t);
    }
    for t in targets.iter_mut().filter(|t| t.body.is_some()) {
        t.name = format!("{}, {} B", t.name, t.len);
    }
    Ok(Servers {
        _gh: gh,
        running,
        with_policy,
        targets: targets.into_iter().map(Arc::new).collect(),
    })
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// CPU time (ns) of finished child processes (wrk).
fn children_cpu_ns() -> u64 {
    // SAFETY: `ru` is written by the call.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

/// A ratio of two targets' figures, taken within each round, and its goal.
struct Ratio {
    what: &'static str,
    num: &'static str,
    den: &'static str,
    /// Least throughput ratio that meets the goal.
    goal: f64,
    /// Connection counts the goal applies to (the ratio is printed at every count).
    goal_conns: &'static [usize],
}

const RATIOS: &[Ratio] = &[
    Ratio {
        what: "REST hit 2 KB / bare axum 2 KB",
        num: "b",
        den: "a",
        goal: 0.85,
        goal_conns: &[16, 64],
    },
    Ratio {
        what: "REST hit 16 KB / bare axum 16 KB",
        num: "f",
        den: "e",
        goal: 0.85,
        goal_conns: &[16, 64],
    },
    Ratio {
        what: "GraphQL hit PullRequestByNumber / REST hit of its size",
        num: "g",
        den: "i",
        goal: 0.80,
        goal_conns: &[1, 16, 64],
    },
    Ratio {
        what: "GraphQL hit IssueList / REST hit of its size",
        num: "h",
        den: "j",
        goal: 0.80,
        goal_conns: &[1, 16, 64],
    },
    Ratio {
        what: "policy module: REST hit + module / REST hit",
        num: "d",
        den: "b",
        goal: 0.60,
        goal_conns: &[1, 16, 64],
    },
];

/// The goal on p99 at 64 connections: the worker's no more than this times the ceiling's.
const P99_GOAL: f64 = 1.2;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let secs: f64 = env_or("SHOAL_BENCH_SECS", 1.0);
    let rounds_n: usize = env_or::<usize>("SHOAL_BENCH_ROUNDS", 5).max(1);
    let loader = match std::env::var("SHOAL_BENCH_LOADER").as_deref() {
        Ok("wrk") => Loader::Wrk,
        Ok("builtin") | Err(_) => Loader::Builtin,
        Ok(other) => anyhow::bail!("SHOAL_BENCH_LOADER={other}: use builtin or wrk"),
    };
    if loader == Loader::Wrk && std::process::Command::new("wrk").arg("-v").output().is_err() {
        anyhow::bail!("SHOAL_BENCH_LOADER=wrk needs wrk on PATH (Debian/Ubuntu: apt-get install -y wrk)");
    }
    let cpus = allowed_cpus();
    let pin = env_or::<u8>("SHOAL_BENCH_PIN", 1) != 0 && cpus.len() >= 2;
    let want = match std::env::var("SHOAL_BENCH_SCHED").as_deref() {
        Ok("fifo") | Err(_) => Sched::Fifo,
        Ok("nice") => Sched::Nice,
        Ok("default") => Sched::Default,
        Ok(other) => anyhow::bail!("SHOAL_BENCH_SCHED={other}: use fifo, nice or default"),
    };
    let (server_cpu, client_cpu) = (cpus.first().copied().unwrap_or(0), cpus.get(1).copied().unwrap_or(0));

    let server_clocks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let applied = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if pin {
        rt.worker_threads(1);
    }
    {
        let clocks = server_clocks.clone();
        let applied = applied.clone();
        rt.on_thread_start(move || {
            if pin {
                pin_current_thread(server_cpu);
            }
            applied.lock().unwrap().push(apply_sched(want));
            clocks.lock().unwrap().push(thread_clock());
        });
    }
    let server_rt = rt.build()?;
    let servers = server_rt.block_on(start_servers())?;

    if pin {
        pin_current_thread(client_cpu);
    }
    let sched = apply_sched(want);
    let sched = if applied.lock().unwrap().iter().all(|s| *s == sched) {
        sched.describe()
    } else {
        "bench threads scheduled unevenly (could not apply SHOAL_BENCH_SCHED to all)"
    };
    let client_clock = thread_clock();

    // SHOAL_BENCH_ONLY=b (or a,b...) measures a subset, e.g. under a profiler.
    let only = std::env::var("SHOAL_BENCH_ONLY").unwrap_or_else(|_| "a,b,c,d,e,f,g,h,i,j".into());
    let targets: Vec<Arc<Target>> = servers
        .targets
        .iter()
        .filter(|t| only.split(',').any(|o| t.is(o.trim())))
        .cloned()
        .collect();
    let conn_counts: Vec<usize> = std::env::var("SHOAL_BENCH_CONNS")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 64]);
    println!(
        "median of {rounds_n} interleaved rounds of {secs} s; load generator: {}",
        match loader {
            Loader::Builtin => "built-in HTTP/1.1 client, 1 thread",
            Loader::Wrk => "wrk -t1",
        },
    );
    println!(
        "{}; {}",
        if pin {
            format!("servers pinned to CPU {server_cpu} (1 runtime thread), load generator to CPU {client_cpu}")
        } else {
            format!("not pinned, {} CPUs shared", cpus.len())
        },
        sched
    );
    for t in &targets {
        let what = match &t.body {
            Some(_) => "POST".to_string(),
            None => format!("GET {}", t.path),
        };
        println!("{}: {what} -> {} bytes", t.name, t.len);
    }
    println!();
    println!("| target | conns | req/s | p50 ms | p99 ms | server CPU | client CPU |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let index = |tag: &str| targets.iter().position(|t| t.is(tag));
    // Per ratio: (conns, median throughput ratio, median p99 ratio).
    let mut ratios: Vec<Vec<(usize, f64, f64)>> = RATIOS.iter().map(|_| Vec::new()).collect();
    for &conns in &conn_counts {
        let mut rounds: Vec<Vec<Cell>> = (0..targets.len()).map(|_| Vec::new()).collect();
        for round in 0..=rounds_n {
            for (i, t) in targets.iter().enumerate() {
                let clocks = server_clocks.lock().unwrap().clone();
                let (s0, c0, k0, t0) = (
                    cpu_ns(&clocks),
                    clock_ns(client_clock),
                    children_cpu_ns(),
                    Instant::now(),
                );
                let (mut c, client_busy) = match loader {
                    Loader::Builtin => measure_builtin(t, conns, secs, pin)?,
                    Loader::Wrk => (measure_wrk(t, conns, secs)?, None),
                };
                let wall = t0.elapsed().as_nanos() as f64;
                c.busy = (
                    (cpu_ns(&clocks) - s0) as f64 / wall,
                    client_busy.unwrap_or((clock_ns(client_clock) - c0 + children_cpu_ns() - k0) as f64 / wall),
                );
                // Round 0 warms wrk's connections and the caches; the built-in loader warms up
                // within each round too, so it is dropped alike.
                if round > 0 {
                    rounds[i].push(c);
                }
            }
        }
        // Ratios are taken within each round, where both targets ran close together, and their
        // median reported: steadier than the ratio of two medians from different rounds.
        for (r, out) in RATIOS.iter().zip(ratios.iter_mut()) {
            let (Some(n), Some(d)) = (index(r.num), index(r.den)) else {
                continue;
            };
            let pairs = || rounds[n].iter().zip(&rounds[d]);
            out.push((
                conns,
                median(pairs().map(|(n, d)| n.rps / d.rps).collect()),
                median(pairs().map(|(n, d)| n.p99_ms / d.p99_ms).collect()),
            ));
        }
        for (t, mut rs) in targets.iter().zip(rounds) {
            rs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let c = rs[rs.len() / 2];
            println!(
                "| {} | {conns} | {:.0} | {:.3} | {:.3} | {:.0}% | {:.0}% |",
                t.name,
                c.rps,
                c.p50_ms,
                c.p99_ms,
                c.busy.0 * 100.0,
                c.busy.1 * 100.0
            );
        }
    }
    println!();
    println!("| ratio | conns | throughput | goal | p99 |");
    println!("|---|---:|---:|---|---:|");
    for (r, out) in RATIOS.iter().zip(&ratios) {
        for &(conns, rps, p99) in out {
            let goal = if r.goal_conns.contains(&conns) {
                format!(
                    ">= {:.0}%: {}",
                    r.goal * 100.0,
                    if rps >= r.goal { "met" } else { "MISSED" }
                )
            } else {
                "-".into()
            };
            let p99_goal = if conns == 64 && (r.den == "a" || r.den == "e") {
                format!(
                    " (goal <= {P99_GOAL}: {})",
                    if p99 <= P99_GOAL { "met" } else { "MISSED" }
                )
            } else {
                String::new()
            };
            println!(
                "| ({}) / ({}): {} | {conns} | {:.0}% | {goal} | {p99:.2}x{p99_goal} |",
                r.num,
                r.den,
                r.what,
                rps * 100.0
            );
        }
    }
    println!("(ratios: median over rounds of the ratio within a round)");
    let stats = shoal_worker::relay::local::stats_json(&servers.running.worker);
    println!(
        "worker upstream calls during the run: {} (cache hits: {})",
        stats["upstream"]["calls"], stats["requests"]["hit"]
    );
    let stats = shoal_worker::relay::local::stats_json(&servers.with_policy.worker);
    println!(
        "policy worker: module decisions {} failures {}",
        stats["policy_module"]["decisions"], stats["policy_module"]["failures"]
    );
    server_rt.block_on(async move {
        servers.with_policy.shutdown().await;
        servers.running.shutdown().await;
    });
    Ok(())
}
