//! Token-free reads: public raw files at a ref and PR/commit diffs come from GitHub's web hosts
//! without spending a pooled identity, only when the tenant enables it.

use crate::support::bundle::{Env, pat, policy};
use shoal_common::protocol::Policy;
use shoal_fake_github::Options;

const PULL_DIFF: &str = "GET /{owner}/{repo}/pull/{number}.{diff|patch}";
const COMMIT_DIFF: &str = "GET /{owner}/{repo}/commit/{sha}.{diff|patch}";
const RAW: &str = "GET /raw/{owner}/{repo}/{ref}/{path}";

fn token_free() -> Policy {
    Policy {
        token_free_reads: true,
        ..policy()
    }
}

async fn start(policy: Policy) -> (Env, String) {
    let mut token = String::new();
    let env = Env::start_with(Options::default(), policy, |gh| {
        token = gh.add_token("octocat");
        vec![pat("bot", &token)]
    })
    .await;
    (env, token)
}

/// A commit SHA of octo-org/hello-world, read from the fake directly (then stats are reset).
async fn head_sha(env: &Env, token: &str) -> String {
    let v: serde_json::Value = env
        .client
        .get(format!("{}/repos/octo-org/hello-world/commits", env.gh.url()))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    env.gh.reset_stats();
    v[0]["sha"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_token_free_read_costs_zero_units() {
    let (env, token) = start(token_free()).await;
    let sha = head_sha(&env, &token).await;
    // A pull request's diff, twice: one web fetch, then the cache.
    for expected in ["MISS", "HIT"] {
        let (status, headers, body) = env
            .get(
                "/repos/octo-org/hello-world/pulls/1",
                Some("application/vnd.github.diff"),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-shoal-cache"], expected);
        assert!(String::from_utf8_lossy(&body).contains("diff --git"), "{body:?}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/vnd.github.diff")
        );
    }
    // A commit's patch and a file at an explicit ref, through the Enterprise layout.
    let (status, _, body) = env
        .get(
            &format!("/api/v3/repos/octo-org/hello-world/commits/{sha}"),
            Some("application/vnd.github.patch"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).starts_with("From "), "{body:?}");
    let (status, _, body) = env
        .get(
            &format!("/repos/octo-org/hello-world/contents/README.md?ref={sha}"),
            Some("application/vnd.github.raw"),
        )
        .await;
    assert_eq!(status, 200, "{body:?}");
    assert!(!body.is_empty());
    let fake = env.gh.stats();
    assert_eq!(fake.token(&token).calls, 0, "no pooled identity spent");
    assert_eq!(fake.charged, 0);
    assert_eq!(fake.route(PULL_DIFF).calls, 1);
    assert_eq!(fake.route(COMMIT_DIFF).calls, 1);
    assert_eq!(fake.route(RAW).calls, 1);
    assert_eq!(
        env.identity("bot")["upstream"]["core"]["units"].as_u64().unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn a_private_repo_is_not_token_free_and_uses_the_pool() {
    let (env, token) = start(token_free()).await;
    let (status, _, _) = env
        .get(
            "/repos/octo-org/secret-sauce/pulls/1",
            Some("application/vnd.github.diff"),
        )
        .await;
    let fake = env.gh.stats();
    assert_eq!(fake.route(PULL_DIFF).calls, 1, "tried anonymously first");
    assert_eq!(fake.token(&token).calls, 1, "then the pool");
    // Whatever GitHub answers the identity is what the caller gets (404 if there is no PR 1).
    assert!(status == 200 || status == 404, "{status}");
}

#[tokio::test]
async fn token_free_reads_are_off_unless_the_tenant_enables_them() {
    let (env, token) = start(policy()).await;
    let (status, _, body) = env
        .get(
            "/repos/octo-org/hello-world/pulls/1",
            Some("application/vnd.github.diff"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("diff --git"));
    let fake = env.gh.stats();
    assert_eq!(fake.route(PULL_DIFF).calls, 0);
    assert_eq!(fake.token(&token).charged, 1);
}
