//! The contract other crates rely on: binary flags and first line, token registration over HTTP,
//! the stats JSON, the seeded repos.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::{client, fake, get};

#[test]
fn binary_prints_listening_line_first_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-fake-github"))
        .args(["--listen", "127.0.0.1:0", "--seed", "3", "--size", "small"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("first line");
    let url = line.trim().strip_prefix("listening on ").map(str::to_string);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = url.as_ref().map(|u| {
        rt.block_on(async {
            reqwest::get(format!("{u}/repos/octo-org/hello-world"))
                .await
                .map(|r| r.status().as_u16())
        })
    });
    let _ = child.kill();
    let _ = child.wait();
    let url = url.unwrap_or_else(|| panic!("first line was {line:?}"));
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    assert_eq!(status.map(|s| s.ok()), Some(Some(200)));
}

#[tokio::test]
async fn post_fake_tokens_registers_a_pat_and_a_revoked_one() {
    let gh = fake().await;
    let r = client()
        .post(format!("{}/_fake/tokens", gh.url()))
        .json(&json!({"login": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghp_") && token.len() == 40, "{token}");
    let me = get(&gh, Some(&token), "/user", &[]).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["login"], "alice");

    let r = client()
        .post(format!("{}/_fake/tokens", gh.url()))
        .json(&json!({"login": "alice", "revoked": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let revoked = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    assert_eq!(get(&gh, Some(&revoked), "/user", &[]).await.status(), 401);
}

#[tokio::test]
async fn stats_json_has_totals_and_per_token_counters() {
    let gh = fake().await;
    let token = gh.add_token("alice");
    for _ in 0..3 {
        assert_eq!(
            get(&gh, Some(&token), "/repos/octo-org/hello-world/pulls/1", &[])
                .await
                .status(),
            200
        );
    }
    let stats: Value = client()
        .get(format!("{}/_fake/stats", gh.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["calls"], 3);
    assert_eq!(stats["charged"], 3);
    assert_eq!(stats["not_modified"], 0);
    assert_eq!(stats["by_token"][&token]["calls"], 3);
    assert_eq!(stats["by_token"][&token]["charged"], 3);
    assert_eq!(stats["by_token"][&token]["not_modified"], 0);
    assert_eq!(
        stats["by_route"]["GET /repos/{owner}/{repo}/pulls/{pull_number}"]["calls"],
        3
    );
    let typed = gh.stats();
    assert_eq!(typed.token(&token).by_resource["core"].charged, 3);
    gh.reset_stats();
    assert_eq!(gh.stats().calls, 0);
}

#[tokio::test]
async fn every_seed_has_the_contract_repos() {
    for seed in [1u64, 2, 99] {
        let gh = shoal_fake_github::FakeGithub::start(shoal_fake_github::Options {
            seed,
            ..Default::default()
        })
        .await;
        let t = gh.add_token("alice");
        let pr: Value = get(&gh, Some(&t), "/repos/octo-org/hello-world/pulls/1", &[])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(pr["state"], "open");
        assert_eq!(pr["number"], 1);
        let issue: Value = get(&gh, Some(&t), "/repos/octo-org/hello-world/issues/2", &[])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(issue["number"], 2);
        assert!(issue.get("pull_request").is_none());
        let rel = get(&gh, Some(&t), "/repos/octo-org/hello-world/releases/tags/v1.0.0", &[]).await;
        assert_eq!(rel.status(), 200);
        let runs: Value = get(&gh, Some(&t), "/repos/octo-org/hello-world/actions/runs", &[])
            .await
            .json()
            .await
            .unwrap();
        assert!(runs["total_count"].as_u64().unwrap() >= 3);
        // The private repo exists: a member sees it, alice does not.
        assert_eq!(
            get(&gh, Some(&t), "/repos/octo-org/secret-sauce", &[]).await.status(),
            404
        );
        let member = gh.add_token("octocat");
        let repo: Value = get(&gh, Some(&member), "/repos/octo-org/secret-sauce", &[])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(repo["private"], true);
    }
}

#[tokio::test]
async fn control_api_revokes_touches_and_forces_secondary_limits_over_http() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let url = |p: &str| format!("{}{p}", gh.url());
    let first = get(&gh, Some(&t), "/repos/octo-org/hello-world/issues/2", &[]).await;
    let etag = crate::header(&first, "etag");
    let r = client()
        .post(url("/_fake/touch"))
        .json(&json!({"repo": "octo-org/hello-world", "path": "issues/2"}))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 204);
    let again = get(
        &gh,
        Some(&t),
        "/repos/octo-org/hello-world/issues/2",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status(), 200);
    let r = client()
        .post(url("/_fake/secondary-limit"))
        .json(&json!({"token": t, "status": 429, "retry_after": 5}))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 204);
    assert_eq!(get(&gh, Some(&t), "/user", &[]).await.status(), 429);
    let r = client()
        .delete(url("/_fake/secondary-limit"))
        .json(&json!({"token": t}))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 204);
    assert_eq!(get(&gh, Some(&t), "/user", &[]).await.status(), 200);
    let r = client()
        .post(url("/_fake/tokens/revoke"))
        .json(&json!({"token": t}))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 204);
    assert_eq!(get(&gh, Some(&t), "/user", &[]).await.status(), 401);
    let r = client()
        .post(url("/_fake/tokens"))
        .json(&json!({"login": "not a login!"}))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 400);
}
