//! `make run` with no DATABASE_URL: the embedded cluster starts, migrates, serves and stops.

use shoal_control_plane::db::{connect_and_migrate, embedded::EmbeddedPostgres};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_postgres_starts_migrates_stops_and_restarts_on_the_same_data() {
    let dir = tempfile::tempdir().unwrap();

    let pg = tokio::task::block_in_place(|| EmbeddedPostgres::start(dir.path())).unwrap();
    let port = pg.port();
    let pool = connect_and_migrate(&pg.url()).await.unwrap();
    sqlx::query("INSERT INTO users (id, github_id, login) VALUES (gen_random_uuid(), 42, 'kept')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    tokio::task::block_in_place(|| pg.stop()).unwrap();
    assert!(!port_open(port), "postgres still listening after stop");

    // A second start reuses the initialised cluster: data and migrations are still there.
    let pg = tokio::task::block_in_place(|| EmbeddedPostgres::start(dir.path())).unwrap();
    let pool = connect_and_migrate(&pg.url()).await.unwrap();
    let login: String = sqlx::query_scalar("SELECT login FROM users WHERE github_id = 42")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(login, "kept");
    pool.close().await;
    tokio::task::block_in_place(|| pg.stop()).unwrap();
}

#[test]
fn the_binary_runs_on_embedded_postgres_and_stops_it_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-control-plane"))
        .env_remove("DATABASE_URL")
        .env("SHOAL_STATE_DIR", dir.path())
        .env("SHOAL_LISTEN", "127.0.0.1:0")
        .env("SHOAL_EDGE_LISTEN", "127.0.0.1:0")
        .env("SHOAL_SCHEDULER", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("web on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();

    let body = reqwest::blocking_get(&format!("http://{addr}/healthz"));
    assert!(body.contains(r#""database":"ok""#), "health said {body}");

    // With no key configured, a development master key and pepper were generated, owner-only.
    for f in ["master.key", "token.pepper"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }

    let pid_file = dir.path().join("pg/data/postmaster.pid");
    assert!(pid_file.exists(), "embedded postgres is not running");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "control plane did not exit after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit}");
    assert!(!pid_file.exists(), "embedded postgres left running after shutdown");
}

mod reqwest {
    /// A tiny blocking GET over a fresh runtime, so the test above stays synchronous.
    pub fn blocking_get(url: &str) -> String {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { ::reqwest::get(url).await.unwrap().text().await.unwrap() })
    }
}

#[test]
fn bad_configuration_stops_the_binary_with_a_message_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, says) in [
        ("SHOAL_GITHUB_URL", "ftp://example.com", "SHOAL_GITHUB_URL"),
        ("SHOAL_GITHUB_CLIENT_ID", "abc", "SHOAL_GITHUB_CLIENT_SECRET"),
        ("SHOAL_MASTER_KEY", "too-short", "master key"),
        (
            "SHOAL_LOGIN_ATTEMPTS_PER_MINUTE",
            "many",
            "SHOAL_LOGIN_ATTEMPTS_PER_MINUTE",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_shoal-control-plane"))
            .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
            .env("SHOAL_STATE_DIR", dir.path())
            .env("SHOAL_LISTEN", "127.0.0.1:0")
            .env_remove("SHOAL_GITHUB_CLIENT_SECRET")
            .env(var, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{var}: {err}");
        assert!(!err.contains("too-short"), "the bad key value is echoed: {err}");
    }
}
