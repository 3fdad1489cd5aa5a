//! The real Debian `gh` (2.23) against the fake, through a loopback TLS terminator (gh only speaks
//! HTTPS to a non-github.com host): the read commands shoal relays must work end to end.

use serde_json::Value;
use shoal_fake_github::tls_front;
use tokio::process::Command;

use crate::{fake, get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_gh_read_commands_work_against_the_fake() {
    let gh_bin = which_gh().expect("the `gh` CLI is needed (Debian package gh; `make test` installs it)");
    let fake = fake().await;
    let token = fake.add_token("octocat");
    let front = tls_front(fake.addr()).await.expect("TLS front");
    let (port, cert_pem) = (front.port, front.cert_pem);
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&cert_file, cert_pem).expect("write cert");
    let host = format!("localhost:{port}");
    let repo = format!("{host}/octo-org/hello-world");

    let run = |args: Vec<String>| {
        let mut c = Command::new(&gh_bin);
        c.args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("GH_CONFIG_DIR", dir.path().join("gh"))
            .env("SSL_CERT_FILE", &cert_file)
            .env("GH_HOST", &host)
            .env("GH_ENTERPRISE_TOKEN", &token)
            .env("GH_PROMPT_DISABLED", "1")
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("NO_COLOR", "1");
        async move {
            let out = tokio::time::timeout(std::time::Duration::from_secs(60), c.output())
                .await
                .expect("gh finished within 60 s")
                .expect("gh ran");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "gh {args:?} failed:\n{stdout}\n{stderr}");
            stdout + &stderr
        }
    };
    let a = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();

    let pr1: Value = get(&fake, Some(&token), "/repos/octo-org/hello-world/pulls/1", &[])
        .await
        .json()
        .await
        .unwrap();
    let issue2: Value = get(&fake, Some(&token), "/repos/octo-org/hello-world/issues/2", &[])
        .await
        .json()
        .await
        .unwrap();

    let out = run(a(&format!("pr list -R {repo}"))).await;
    assert!(out.contains("feature-1"), "{out}");
    let out = run(a(&format!("pr view 1 -R {repo}"))).await;
    assert!(out.contains(pr1["title"].as_str().unwrap()), "{out}");
    let out = run(a(&format!("issue list -R {repo}"))).await;
    assert!(!out.trim().is_empty());
    let out = run(a(&format!("issue view 2 -R {repo}"))).await;
    assert!(out.contains(issue2["title"].as_str().unwrap()), "{out}");
    let out = run(a(&format!("release view v1.0.0 -R {repo}"))).await;
    assert!(out.contains("v1.0.0"), "{out}");
    let out = run(a("auth status")).await;
    assert!(out.contains("Logged in to") && out.contains("octocat"), "{out}");

    let s = fake.stats();
    assert_eq!(s.unauthorized + s.rate_limited + s.faults, 0);
    assert!(s.by_resource["graphql"].calls >= 5, "{:?}", s.by_resource);
}

fn which_gh() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join("gh"))
        .find(|p| p.is_file())
}
