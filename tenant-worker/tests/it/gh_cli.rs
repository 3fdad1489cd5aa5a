//! The real Debian `gh` (2.23) through the worker (behind a loopback TLS terminator, since gh only
//! speaks HTTPS to a non-github.com host), with GitHub played by the fake: gh's read commands work
//! with a caller token, and a second run of each costs GitHub nothing.

use crate::support::bundle::{Env, pat};
use shoal_fake_github::tls_front;
use tokio::process::Command;

/// Waits (with a deadline) until the relay has no upstream call in flight.
pub(crate) async fn settle(env: &Env) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env.stats()["in_flight"] != 0 {
        assert!(std::time::Instant::now() < deadline, "upstream calls still in flight");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub(crate) fn which_gh() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join("gh"))
        .find(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_gh_reads_through_the_relay_and_repeats_cost_nothing_upstream() {
    let gh_bin = which_gh().expect("the `gh` CLI is needed (Debian package gh; `make test` installs it)");
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octocat"))]).await;
    let front = tls_front(env.relay.addr).await.unwrap();
    let (port, cert_pem) = (front.port, front.cert_pem);
    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&cert_file, cert_pem).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let host = format!("localhost:{port}");
    let repo = format!("{host}/octo-org/hello-world");
    let run = |args: Vec<String>| {
        let mut c = Command::new(&gh_bin);
        c.args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("TMPDIR", &tmp)
            .env("GH_CONFIG_DIR", dir.path().join("gh"))
            .env("SSL_CERT_FILE", &cert_file)
            .env("GH_HOST", &host)
            .env("GH_ENTERPRISE_TOKEN", &env.caller)
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
            stdout
        }
    };
    let a = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    let commands = [
        format!("pr list -R {repo}"),
        format!("pr view 1 -R {repo}"),
        format!("issue list -R {repo}"),
        format!("release view v1.0.0 -R {repo}"),
        "api repos/octo-org/hello-world".to_string(),
        "api graphql -f query={viewer{login}}".to_string(),
    ];
    let mut first = Vec::new();
    for c in &commands {
        first.push(run(a(c)).await);
    }
    assert!(first[0].contains("feature-1"), "{}", first[0]);
    assert!(first[5].contains("\"alice\""), "viewer is the caller: {}", first[5]);
    // gh abandons some requests (its feature detection); the relay still completes their upstream
    // call in the background and caches it. Count once nothing is in flight.
    settle(&env).await;
    let before_stats = env.gh.stats();
    let calls = before_stats.calls;
    assert!(calls > 0);
    // `release view` races a REST lookup against a GraphQL draft lookup and cancels the loser,
    // so whether gh sends the GraphQL one at all is timing: it is left out of the repeat.
    for (c, before) in commands.iter().zip(&first).filter(|(c, _)| !c.starts_with("release")) {
        let again = run(a(c)).await;
        assert_eq!(&again, before, "{c}");
    }
    settle(&env).await;
    let after = env.gh.stats();
    let grew: Vec<_> = after
        .by_path
        .iter()
        .filter(|(p, c)| before_stats.by_path.get(*p).map_or(0, |b| b.calls) != c.calls)
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(
        after.calls,
        calls,
        "the second run costs nothing upstream; called again: {grew:?}\nbefore: {}\nafter: {}",
        serde_json::to_string(&before_stats).unwrap(),
        serde_json::to_string(&after).unwrap()
    );
}
