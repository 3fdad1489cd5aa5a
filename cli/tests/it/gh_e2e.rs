//! The gh shim with the real Debian `gh`, end to end: `shoal-control-plane demo` (fake GitHub,
//! control plane, TLS edge with its dev CA, the tenant's worker), `shoal login` through the login
//! exchange, then everyday reads through the relay. Each read prints what the same gh command
//! run directly against the fake prints, and a second run costs GitHub nothing; octokit and
//! PyGithub page through pulls; a mutation never reaches the relay; an unreachable relay falls
//! back.
//!
//! gh must resolve `demo.localhost`, which these machines do not: the test adds a hosts entry and
//! removes it when done (it needs root, as CI has; without it the test says so and skips).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HOSTS: &str = "/etc/hosts";
const MARK: &str = "# shoal-gh-e2e";

fn sibling(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_shoal")).parent().unwrap().join(name)
}

/// A hosts entry for `demo.localhost`, removed on drop.
struct HostsEntry;

impl HostsEntry {
    fn add() -> Option<Self> {
        let text = std::fs::read_to_string(HOSTS).ok()?;
        if !text.contains(MARK) {
            let mut f = std::fs::OpenOptions::new().append(true).open(HOSTS).ok()?;
            writeln!(f, "127.0.0.1 demo.localhost {MARK}").ok()?;
        }
        Some(HostsEntry)
    }
}

impl Drop for HostsEntry {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string(HOSTS) {
            let kept: String = text
                .lines()
                .filter(|l| !l.contains(MARK))
                .map(|l| format!("{l}\n"))
                .collect();
            let _ = std::fs::write(HOSTS, kept);
        }
    }
}

struct Demo {
    child: Child,
    edge_port: String,
    github: String,
    token: String,
    admin_token: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}

fn start_demo(dir: &Path) -> Demo {
    start_demo_with(dir, &[])
}

/// [`start_demo`] with extra environment for the control plane.
fn start_demo_with(dir: &Path, env: &[(&str, &str)]) -> Demo {
    let mut child = Command::new(sibling("shoal-control-plane"))
        .args(["demo", "--state-dir"])
        .arg(dir)
        .envs(env.iter().copied())
        .env_remove("DATABASE_URL")
        .env("SHOAL_LISTEN", "127.0.0.1:0")
        .env("SHOAL_EDGE_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("shoal-control-plane is built with the workspace");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut edge, mut github, mut token, mut admin_token) = (None, None, None, None);
    while admin_token.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo printed its lines");
        if let Some(v) = line.strip_prefix("edge on https://") {
            edge = Some(v.rsplit_once(':').unwrap().1.to_string());
        } else if let Some(v) = line.strip_prefix("github (fake) on ") {
            github = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("caller token: ") {
            token = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("admin token: ") {
            admin_token = Some(v.to_string());
        }
    }
    Demo {
        child,
        edge_port: edge.unwrap(),
        github: github.unwrap(),
        token: token.unwrap(),
        admin_token: admin_token.unwrap(),
    }
}

/// Waits until a read through the demo tenant's relay answers `status`.
fn relay_answers(demo: &Demo, ca: &Path, status: &str) {
    let url = format!(
        "https://demo.localhost:{}/api/v3/repos/octo-org/hello-world",
        demo.edge_port
    );
    let auth = format!("Authorization: token {}", demo.token);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cacert",
        ca.to_str().unwrap(),
        "-H",
        &auth,
        &url,
    ])
    .ends_with(status)
    {
        assert!(
            Instant::now() < deadline,
            "the demo tenant's relay never answered {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A GitHub token the fake knows for `login`.
fn fake_token(github: &str, login: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&curl(&[
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        &format!(r#"{{"login":"{login}"}}"#),
        &format!("{github}/_fake/tokens"),
    ]))
    .unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// `shoal login URL --with-token --ca-file CA`, the GitHub token on stdin, into `cfg`.
fn shoal_login(url: &str, token: &str, cfg: &Path, ca: &Path) -> Output {
    let mut login = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["login", url, "--with-token", "--ca-file"])
        .arg(ca)
        .env("SHOAL_CONFIG_DIR", cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused URL ends the CLI before it reads stdin: the pipe may be closed already.
    let _ = login.stdin.take().unwrap().write_all(token.as_bytes());
    login.wait_with_output().unwrap()
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn fake_calls(github: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&curl(&[&format!("{github}/_fake/stats")])).unwrap();
    v["calls"].as_u64().unwrap()
}

/// The real gh straight at the fake (behind a TLS front at `localhost:PORT`), as a user without
/// shoal would run it.
fn direct_gh(host: &str, cert: &Path, token: &str, args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    Command::new("gh")
        .args(args)
        .env("GH_CONFIG_DIR", tmp.path().join("gh"))
        .env("TMPDIR", tmp.path())
        .env("GH_HOST", host)
        .env("GH_ENTERPRISE_TOKEN", token)
        .env("SSL_CERT_FILE", cert)
        .env("GH_NO_UPDATE_NOTIFIER", "1")
        .env("GH_PROMPT_DISABLED", "1")
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap()
}

/// `shoal gh ARGS`, with a fresh gh cache dir per call (gh caches answers on disk).
fn shoal_gh(cfg: &Path, gh_home: &Path, args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("gh")
        .args(args)
        .env("SHOAL_CONFIG_DIR", cfg)
        .env("GH_CONFIG_DIR", gh_home)
        .env("TMPDIR", tmp.path())
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_HOST")
        .output()
        .unwrap()
}

/// gh prints how long an in-progress run has been going (`24590h47m42s`), which moves with the
/// clock between two runs, and API URLs name the host that served them (the relay re-roots them at
/// its own); everything else must match byte for byte.
fn comparable(out: &[u8], api_bases: &[&str]) -> String {
    let is_elapsed =
        |f: &str| f.ends_with('s') && f.len() > 1 && f.chars().all(|c| c.is_ascii_digit() || "hms".contains(c));
    let mut text = String::from_utf8_lossy(out).to_string();
    for base in api_bases {
        text = text.replace(base, "<api>");
    }
    text.lines()
        .map(|l| {
            l.split('\t')
                .map(|f| if is_elapsed(f) { "<elapsed>" } else { f })
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a read's second run must cost GitHub nothing.
#[derive(PartialEq)]
enum Repeat {
    Free,
    MayCost,
}

/// The lines of `want` and `got` that differ, `-` for `want` and `+` for `got`.
fn line_diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    (0..w.len().max(g.len()))
        .filter(|&i| w.get(i) != g.get(i))
        .flat_map(|i| {
            [
                w.get(i).map(|l| format!("{i}- {l}")),
                g.get(i).map(|l| format!("{i}+ {l}")),
            ]
        })
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn everyday_gh_reads_go_through_the_relay_and_repeat_for_free() {
    let Some(_hosts) = HostsEntry::add() else {
        eprintln!("skipped: cannot add a hosts entry for demo.localhost (needs root)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(&dir.path().join("state"));
    let ca = dir.path().join("state/ca/ca.pem");

    // The tenant's worker is up once the edge answers 200.
    relay_answers(&demo, &ca, "200");

    // shoal login at the tenant's own URL, as the tenant page tells people: the edge hands the
    // login exchange to the control plane; the user's GitHub token becomes a caller token.
    let fake_token = |login: &str| fake_token(&demo.github, login);
    let github_token = fake_token("octocat");
    let cfg = dir.path().join("shoal");
    let gh_home = dir.path().join("gh");
    let tenant_url = format!("https://demo.localhost:{}", demo.edge_port);
    let shoal_login = |url: &str, token: &str, cfg: &Path| shoal_login(url, token, cfg, &ca);
    // Refusals say why and store nothing: someone GitHub does not list in the org, a URL that
    // is not one.
    let elsewhere = dir.path().join("elsewhere");
    for (url, token, says) in [
        (
            tenant_url.as_str(),
            fake_token("mallory"),
            "GitHub does not list mallory as a member of octo-org",
        ),
        ("demo.localhost", github_token.clone(), "not a URL"),
    ] {
        let out = shoal_login(url, &token, &elsewhere);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{url}: {err}");
        assert!(!elsewhere.join("config.toml").exists());
    }
    let out = shoal_login(&tenant_url, &github_token, &cfg);
    assert!(out.status.success(), "login: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Logged in to demo as octocat"));

    // Every everyday read of issue 14, through the relay, against the same command run directly.
    // `Free` means its second run must cost GitHub nothing. gh 2.23's `release view` races a REST
    // lookup against a GraphQL one and cancels the loser, so whether the loser reached the relay on
    // the first run depends on timing: it must print the same, but its repeat may cost a call.
    // Left out: `repo view --json viewerPermission` (GitHub answers it for whoever asks: the relay
    // hands it back and the shim runs it against github.com, which this offline test cannot reach).
    use Repeat::{Free, MayCost};
    const R: &str = "octo-org/hello-world";
    let reads: &[(&[&str], Repeat)] = &[
        (&["pr", "list", "-R", R], Free),
        (&["pr", "list", "-R", R, "--state", "all"], Free),
        (&["pr", "list", "-R", R, "--label", "bug"], Free),
        (&["pr", "list", "-R", R, "--search", "crash"], Free),
        (
            &["pr", "list", "-R", R, "--json", "number,title,state,author,labels"],
            Free,
        ),
        (&["pr", "view", "1", "-R", R], Free),
        (&["pr", "view", "1", "-R", R, "--comments"], Free),
        (
            &[
                "pr",
                "view",
                "1",
                "-R",
                R,
                "--json",
                "statusCheckRollup,commits,files,reviews",
            ],
            Free,
        ),
        (&["pr", "checks", "1", "-R", R], Free),
        (&["pr", "diff", "1", "-R", R], Free),
        (&["pr", "status", "-R", R], Free),
        (&["issue", "list", "-R", R], Free),
        (&["issue", "list", "-R", R, "--assignee", "@me"], Free),
        (&["issue", "list", "-R", R, "--json", "number,title,labels,state"], Free),
        (&["issue", "view", "2", "-R", R], Free),
        (&["issue", "view", "2", "-R", R, "--comments"], Free),
        (&["issue", "view", "4", "-R", R, "--json", "comments"], Free),
        (&["issue", "status", "-R", R], Free),
        (&["run", "list", "-R", R], Free),
        (&["run", "view", "5000002", "-R", R], Free),
        (&["run", "view", "5000002", "-R", R, "--log"], Free),
        (&["workflow", "list", "-R", R], Free),
        (&["release", "list", "-R", R], Free),
        (&["release", "view", "v1.0.0", "-R", R], MayCost),
        (&["repo", "view", R], Free),
        (
            &[
                "repo",
                "view",
                R,
                "--json",
                "name,description,defaultBranchRef,stargazerCount",
            ],
            Free,
        ),
        (&["label", "list", "-R", R], Free),
        (&["search", "issues", "crash", "--repo", R], Free),
        (&["search", "prs", "crash", "--repo", R], Free),
        (&["api", "repos/octo-org/hello-world", "--jq", ".full_name"], Free),
        (&["api", "repos/octo-org/hello-world/pulls/1"], Free),
        (
            &[
                "api",
                "--paginate",
                "repos/octo-org/hello-world/pulls?per_page=5",
                "--jq",
                ".[].number",
            ],
            Free,
        ),
        (
            &[
                "api",
                "graphql",
                "-f",
                "query={ repository(owner: \"octo-org\", name: \"hello-world\") { name } }",
            ],
            Free,
        ),
    ];
    // The same commands straight at the fake, through a TLS front of its own, for comparison.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake_addr = demo.github.trim_start_matches("http://").parse().unwrap();
    let front = runtime.block_on(shoal_fake_github::tls_front(fake_addr)).unwrap();
    let front_cert = dir.path().join("front.pem");
    std::fs::write(&front_cert, &front.cert_pem).unwrap();
    let front_host = format!("localhost:{}", front.port);
    let relay_api = format!("https://demo.localhost:{}/api/v3", demo.edge_port);
    let fake_api = format!("{}/api/v3", demo.github);
    let bases = [relay_api.as_str(), fake_api.as_str()];
    for (args, repeat) in reads {
        let cmd = format!("gh {}", args.join(" "));
        let direct = direct_gh(&front_host, &front_cert, &github_token, args);
        let direct_out = comparable(&direct.stdout, &bases);
        assert!(
            !direct_out.is_empty(),
            "{cmd} printed nothing directly: {}",
            String::from_utf8_lossy(&direct.stderr)
        );
        let first = shoal_gh(&cfg, &gh_home, args);
        let err = String::from_utf8_lossy(&first.stderr);
        assert!(!err.contains("shoal:"), "{cmd} did not go through the relay: {err}");
        assert_eq!(
            first.status.code(),
            direct.status.code(),
            "{cmd} exited otherwise: {err}"
        );
        let relayed_out = comparable(&first.stdout, &bases);
        assert!(
            relayed_out == direct_out,
            "{cmd} printed something else through the relay than directly:\n{}",
            line_diff(&direct_out, &relayed_out)
        );
        let before = fake_calls(&demo.github);
        let second = comparable(&shoal_gh(&cfg, &gh_home, args).stdout, &bases);
        assert!(
            second == relayed_out,
            "{cmd} printed something else the second time:\n{}",
            line_diff(&relayed_out, &second)
        );
        if *repeat == Free {
            assert_eq!(fake_calls(&demo.github), before, "the second {cmd} reached GitHub");
        }
    }
    let pr =
        String::from_utf8_lossy(&shoal_gh(&cfg, &gh_home, &["pr", "view", "1", "-R", "octo-org/hello-world"]).stdout)
            .to_string();
    assert!(pr.contains("state:\tOPEN"), "{pr}");

    // octokit and PyGithub page through pulls and read one PR through the relay (Link headers and
    // body URLs re-rooted at the tenant host); a second run costs GitHub nothing.
    let base = format!("https://demo.localhost:{}/api/v3", demo.edge_port);
    let cache = PathBuf::from(std::env::var("HOME").unwrap()).join(".cache");
    let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients");
    let npm = cache.join("shoal-npm");
    std::fs::copy(clients.join("octokit_reads.mjs"), npm.join("octokit_reads.mjs"))
        .expect("@octokit/rest is installed by make test (infra/dev/ensure-test-clients.sh)");
    let octokit = || {
        Command::new("node")
            .arg(npm.join("octokit_reads.mjs"))
            .args([base.as_str(), demo.token.as_str()])
            .env("NODE_EXTRA_CA_CERTS", &ca)
            .output()
            .unwrap()
    };
    let pygithub = || {
        Command::new("python3")
            .arg(clients.join("pygithub_reads.py"))
            .args([base.as_str(), demo.token.as_str()])
            .arg(&ca)
            .env("PYTHONPATH", cache.join("shoal-py"))
            .output()
            .unwrap()
    };
    for (name, client) in [("octokit", &octokit as &dyn Fn() -> Output), ("PyGithub", &pygithub)] {
        let first = client();
        assert!(
            first.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&first.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
        assert!(
            v["pulls"].as_array().unwrap().len() > 5,
            "{name} did not follow the pages: {v}"
        );
        assert!(v["title"].is_string(), "{v}");
        let before = fake_calls(&demo.github);
        assert_eq!(
            client().stdout,
            first.stdout,
            "{name} read something else the second time"
        );
        assert_eq!(fake_calls(&demo.github), before, "{name}'s second run reached GitHub");
    }

    // shoal stats: the relay's counters, as a table and as JSON.
    let stats_out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("stats")
        .env("SHOAL_CONFIG_DIR", &cfg)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&stats_out.stdout);
    assert!(
        stats_out.status.success() && table.contains(" hit,") && table.contains("octo-bot"),
        "{table}"
    );
    let json_out = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["stats", "--json"])
        .env("SHOAL_CONFIG_DIR", &cfg)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert!(v["requests"]["hit"].as_u64().unwrap() > 0, "{v}");

    // shoal admin: the admin API through the tenant's host, with an admin API token.
    let admin = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_shoal"))
            .arg("admin")
            .args(args)
            .env("SHOAL_CONFIG_DIR", &cfg)
            .env("SHOAL_ADMIN_TOKEN", &demo.admin_token)
            .output()
            .unwrap()
    };
    let identities = admin(&["identities"]);
    let table = String::from_utf8_lossy(&identities.stdout);
    assert!(
        identities.status.success() && table.starts_with("ID") && table.contains("octo-bot"),
        "{table}"
    );
    assert!(!table.contains("ghp_"), "an identity's secret was printed");
    let tokens: serde_json::Value = serde_json::from_slice(&admin(&["--json", "tokens"]).stdout).unwrap();
    assert!(tokens.as_array().is_some_and(|t| t.len() >= 2), "{tokens}");
    let members = String::from_utf8_lossy(&admin(&["members"]).stdout).to_string();
    assert!(members.contains("octocat") && members.contains("admin"), "{members}");
    let removed: serde_json::Value = serde_json::from_slice(&admin(&["--json", "removed"]).stdout).unwrap();
    assert_eq!(removed, serde_json::json!([]));

    // A mutation is not a read: it runs the real gh against github.com, never the relay.
    let stats = |token: &str| -> serde_json::Value {
        let url = format!("https://demo.localhost:{}/_shoal/stats", demo.edge_port);
        serde_json::from_str(&curl(&[
            "--cacert",
            ca.to_str().unwrap(),
            "-H",
            &format!("Authorization: token {token}"),
            &url,
        ]))
        .unwrap()
    };
    let before = stats(&demo.token);
    let create = shoal_gh(
        &cfg,
        &gh_home,
        &[
            "issue",
            "create",
            "-R",
            "octo-org/hello-world",
            "--title",
            "t",
            "--body",
            "b",
        ],
    );
    assert!(!create.status.success(), "there is no github.com here");
    assert_eq!(
        stats(&demo.token)["requests"],
        before["requests"],
        "a mutation reached the relay"
    );

    // A private repo (the demo tenant is public-only): the relay hands it back, gh runs directly.
    let private = shoal_gh(&cfg, &gh_home, &["api", "repos/octo-org/secret-sauce"]);
    let err = String::from_utf8_lossy(&private.stderr);
    assert!(err.contains("shoal: the relay does not serve this read"), "{err}");

    // A relay that cannot be reached: gh runs directly, with one line saying why.
    let config = std::fs::read_to_string(cfg.join("config.toml")).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        config.replace(&format!("demo.localhost:{}", demo.edge_port), "demo.localhost:9"),
    )
    .unwrap();
    let down = shoal_gh(&cfg, &gh_home, &["pr", "list", "-R", "octo-org/hello-world"]);
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(
        err.contains("shoal: the relay cannot be reached: running gh directly"),
        "{err}"
    );
}

#[test]
fn a_read_refused_for_a_spent_allowance_runs_gh_directly() {
    let Some(_hosts) = HostsEntry::add() else {
        eprintln!("skipped: cannot add a hosts entry for demo.localhost (needs root)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Billing on, and the demo tenant's free plan allows no reads at all.
    let demo = start_demo_with(
        &dir.path().join("state"),
        &[
            ("SHOAL_STRIPE_SECRET_KEY", "sk_test_shoal"),
            ("SHOAL_STRIPE_WEBHOOK_SECRET", "whsec_shoal"),
            ("SHOAL_FREE_READS_PER_MONTH", "0"),
        ],
    );
    let ca = dir.path().join("state/ca/ca.pem");
    relay_answers(&demo, &ca, "429");
    let cfg = dir.path().join("shoal");
    let tenant_url = format!("https://demo.localhost:{}", demo.edge_port);
    let out = shoal_login(&tenant_url, &fake_token(&demo.github, "octocat"), &cfg, &ca);
    assert!(out.status.success(), "login: {}", String::from_utf8_lossy(&out.stderr));

    let out = shoal_gh(&cfg, &dir.path().join("gh"), &["api", "repos/octo-org/hello-world"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shoal: the tenant's monthly allowance of relayed reads is spent: running gh directly"),
        "{err}"
    );
}
