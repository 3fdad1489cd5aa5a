//! `shoal-control-plane demo`: the offline product in one command. Its printed lines are a
//! contract; the seeded tenant answers through its worker over the TLS edge.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run twice on one state dir: the second run starts a new fake GitHub, and the demo tenant must
/// still answer (`make demo` works every time, not only the first).
#[test]
fn demo_prints_its_contract_and_serves_the_demo_tenant_through_the_edge_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let relayed = run_demo(dir.path(), 0);
    run_demo(dir.path(), relayed);
}

/// Reads `path` on the demo tenant through the edge: the body and the status.
fn read(ca: &str, port: &str, token: &str, path: &str) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-w",
            "\n%{http_code}",
            "--cacert",
            ca,
            "--resolve",
        ])
        .arg(format!("demo.localhost:{port}:127.0.0.1"))
        .arg("-H")
        .arg(format!("Authorization: token {token}"))
        .arg(format!("https://demo.localhost:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", ""));
    (body.to_string(), status.to_string())
}

/// The demo's stats over `range` with the admin token it printed: the HTTP status and the JSON.
fn stats(web: &str, admin_token: &str, range: &str) -> (String, serde_json::Value) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {admin_token}"))
        .arg(format!("http://{web}/api/v1/tenants/demo/stats?range={range}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", ""));
    (status.to_string(), serde_json::from_str(body).unwrap_or_default())
}

/// Runs the demo once on `dir`, where `relayed_before` reads were relayed by earlier runs in the
/// last 24 hours; returns how many have been relayed after this run.
fn run_demo(dir: &Path, relayed_before: i64) -> i64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-control-plane"))
        .args(["demo", "--state-dir"])
        .arg(dir)
        .env_remove("DATABASE_URL")
        .env("SHOAL_LISTEN", "127.0.0.1:0")
        .env("SHOAL_EDGE_LISTEN", "127.0.0.1:0")
        .env(
            "SHOAL_FAKE_GITHUB_BIN",
            crate::support::workspace_bin("shoal-fake-github"),
        )
        .env(
            "SHOAL_FAKE_STRIPE_BIN",
            crate::support::workspace_bin("shoal-fake-stripe"),
        )
        .env("SHOAL_WORKER_BIN", crate::support::workspace_bin("shoal-worker"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut web, mut edge, mut ca, mut token, mut stripe, mut admin) = (None, None, None, None, None, None);
    while admin.is_none() {
        let line = lines
            .next()
            .expect("demo exited before printing its caller token")
            .unwrap();
        if let Some(v) = line.strip_prefix("web on http://") {
            web = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("edge on https://") {
            edge = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("ca at ") {
            ca = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("stripe (fake) on ") {
            stripe = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("caller token: ") {
            token = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("admin token: ") {
            admin = Some(v.to_string());
        }
    }
    let admin = admin.unwrap();
    let (web, edge, ca, token) = (web.unwrap(), edge.unwrap(), ca.unwrap(), token.unwrap());
    assert!(token.starts_with("shoal_"));
    assert!(
        stripe.is_some_and(|s| s.starts_with("http://127.0.0.1:")),
        "the demo starts the fake Stripe"
    );
    assert!(Path::new(&ca).is_file());
    let port = edge.rsplit_once(':').unwrap().1.to_string();

    let health = Command::new("curl")
        .args(["-sS", &format!("http://{web}/healthz")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&health.stdout).contains("ok"));

    // The worker starts within a few seconds of the tenant being seeded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                "-w",
                "\n%{http_code}",
                "--cacert",
                &ca,
                "--resolve",
            ])
            .arg(format!("demo.localhost:{port}:127.0.0.1"))
            .arg("-H")
            .arg(format!("Authorization: token {token}"))
            .arg(format!(
                "https://demo.localhost:{port}/api/v3/repos/octo-org/hello-world"
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.ends_with("\n200") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the demo tenant never answered: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        body.contains("\"full_name\":\"octo-org/hello-world\"")
            || body.contains("\"full_name\": \"octo-org/hello-world\""),
        "{body}"
    );

    // The contract of issue 17: the stats of the last 24 hours count every read relayed for the
    // demo tenant (within the worker's usage report interval).
    for _ in 0..3 {
        let (_, status) = read(&ca, &port, &token, "/api/v3/repos/octo-org/hello-world");
        assert_eq!(status, "200");
    }
    let relayed = relayed_before + 4;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (status, json) = stats(&web, &admin, "24h");
        assert_eq!(status, "200", "{json}");
        if json["requests"] == relayed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stats never counted {relayed} reads: {}",
            json["requests"]
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !dir.join("pg/data/postmaster.pid").exists(),
        "embedded postgres left running"
    );
    relayed
}
