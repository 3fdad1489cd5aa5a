//! Fresh reads asked by the real gh (2.23) through the worker: with `-H 'Cache-Control: no-cache'`
//! on `gh api`, and for any command with the caller token carrying the fresh marker (what
//! `shoal gh --fresh` and `SHOAL_FRESH=1` give gh). Each is revalidated now, never a HIT, and a
//! REST read of something unchanged costs no unit.

use crate::gh_cli::{settle, which_gh};
use crate::support::bundle::{Env, pat};
use shoal_common::github::FRESH_MARKER;
use shoal_fake_github::tls_front;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_gh_fresh_reads_revalidate_for_free_and_are_never_hits() {
    let gh_bin = which_gh().expect("the `gh` CLI is needed (Debian package gh; `make test` installs it)");
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octocat"))]).await;
    let front = tls_front(env.relay.addr).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&cert_file, front.cert_pem).unwrap();
    let host = format!("localhost:{}", front.port);
    let run = async |args: &[&str], token: &str| {
        let out = Command::new(&gh_bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("GH_CONFIG_DIR", dir.path().join("gh"))
            .env("SSL_CERT_FILE", &cert_file)
            .env("GH_HOST", &host)
            .env("GH_ENTERPRISE_TOKEN", token)
            .env("GH_PROMPT_DISABLED", "1")
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "gh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        settle(&env).await;
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let requests = || env.stats()["requests"].clone();
    let marked = format!("{}{FRESH_MARKER}", env.caller);
    let pr = ["api", "repos/octo-org/hello-world/pulls/1"];
    let first = run(&pr, &env.caller).await;
    let (charged, not_modified) = (env.gh.stats().charged, env.gh.stats().not_modified);

    for (args, token) in [
        (
            &[
                "api",
                "-H",
                "Cache-Control: no-cache",
                "repos/octo-org/hello-world/pulls/1",
            ][..],
            env.caller.as_str(),
        ),
        (&pr[..], marked.as_str()),
    ] {
        let hits = requests()["hit"].as_u64().unwrap();
        assert_eq!(run(args, token).await, first);
        assert_eq!(requests()["hit"].as_u64().unwrap(), hits, "a fresh read is never a HIT");
    }
    let up = env.gh.stats();
    assert_eq!(
        (up.charged, up.not_modified),
        (charged, not_modified + 2),
        "two free 304s"
    );
    assert_eq!(requests()["revalidated"], 2);
    assert_eq!(requests()["fresh"], 2);

    // A command that cannot add headers: every read it makes is fresh (GraphQL included, which
    // has no conditional requests and so goes upstream).
    let view = ["pr", "view", "1", "-R", &format!("{host}/octo-org/hello-world")];
    let plain = run(&view, &env.caller).await;
    let hits = requests()["hit"].as_u64().unwrap();
    let fresh = requests()["fresh"].as_u64().unwrap();
    assert_eq!(run(&view, &marked).await, plain);
    assert_eq!(requests()["hit"].as_u64().unwrap(), hits);
    assert!(requests()["fresh"].as_u64().unwrap() > fresh);
    // The marker grants nothing by itself.
    let out = Command::new(&gh_bin)
        .args(pr)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("GH_CONFIG_DIR", dir.path().join("gh"))
        .env("SSL_CERT_FILE", &cert_file)
        .env("GH_HOST", &host)
        .env("GH_ENTERPRISE_TOKEN", format!("shoal_nope{FRESH_MARKER}"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
