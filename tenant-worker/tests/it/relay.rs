//! The relay surface: auth, methods, normalisation, refused routes, policy, links, endpoints.

use crate::support::{Env, Ident, Setup, cache_status};

#[tokio::test]
async fn an_unknown_caller_token_gets_githubs_401_and_costs_nothing() {
    let env = Env::start(Setup::default()).await;
    let r = env
        .http
        .get(format!("{}/repos/octo-org/hello-world", env.worker.url()))
        .header("authorization", "token shoal_not_a_real_token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Bad credentials"));
    assert!(body["documentation_url"].is_string());
    let r = env
        .http
        .get(format!("{}/repos/octo-org/hello-world", env.worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(env.upstream().calls, 0);
}

#[tokio::test]
async fn a_request_head_beyond_32_kib_gets_431_and_is_never_relayed() {
    let env = Env::start(Setup::default()).await;
    let get = |padding: usize| {
        env.http
            .get(format!("{}/repos/octo-org/hello-world", env.worker.url()))
            .header("authorization", format!("token {}", env.caller))
            .header("x-padding", "p".repeat(padding))
            .send()
    };
    let r = get(200 * 1024).await.unwrap();
    assert_eq!(r.status(), 431);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("at most 32768"), "{body}");
    assert_eq!(get(33 * 1024).await.unwrap().status(), 431);
    assert_eq!(env.upstream().calls, 0);
    assert_eq!(get(20 * 1024).await.unwrap().status(), 200);
}

#[tokio::test]
async fn non_read_methods_answer_405_with_fallback_local() {
    let env = Env::start(Setup::default()).await;
    for method in [reqwest::Method::POST, reqwest::Method::PATCH, reqwest::Method::DELETE] {
        let r = env
            .http
            .request(
                method.clone(),
                format!("{}/api/v3/repos/octo-org/hello-world/issues", env.worker.url()),
            )
            .header("authorization", format!("token {}", env.caller))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["shoal"], "fallback_local");
    }
    assert_eq!(env.upstream().calls, 0);
}

#[tokio::test]
async fn identity_revealing_routes_are_refused_and_never_relayed() {
    let env = Env::start(Setup::default()).await;
    for p in [
        "/user",
        "/api/v3/user/repos",
        "/notifications",
        "/gists",
        "/repos/octo-org/hello-world/hooks",
    ] {
        let r = env.get(p).await;
        assert_eq!(r.status(), 403, "{p}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["shoal"], "fallback_local", "{p}");
    }
    assert_eq!(env.upstream().calls, 0);
}

#[tokio::test]
async fn traversal_and_encoded_slashes_are_clear_400s() {
    let env = Env::start(Setup::default()).await;
    for p in [
        "/repos/octo-org/hello-world/contents/a%2Fb",
        "/repos/octo-org/hello-world/contents/a%5cb",
        "/repos/octo-org/hello-world/contents/x%00",
        "/repos/octo-org//hello-world",
    ] {
        let r = env.get(p).await;
        assert_eq!(r.status(), 400, "{p}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().len() > 10);
    }
    let long = format!("/repos/octo-org/hello-world/contents/{}", "a".repeat(3000));
    assert_eq!(env.get(&long).await.status(), 400);
    assert_eq!(env.upstream().calls, 0);
}

#[tokio::test]
async fn a_repo_of_a_non_allowed_owner_is_refused() {
    let env = Env::start(Setup::default()).await;
    let r = env.get("/repos/acme-corp/anything").await;
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["shoal"], "fallback_local");
    assert_eq!(env.upstream().calls, 0);
}

#[tokio::test]
async fn with_public_only_a_private_repo_answers_fallback_local() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("octocat")],
        extra: "public_only = true\n".into(),
        ..Setup::default()
    })
    .await;
    let r = env.get("/repos/octo-org/secret-sauce/pulls/1").await;
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["shoal"], "fallback_local");
    // Only the visibility check reached GitHub, and it is remembered.
    assert_eq!(env.upstream().calls, 1);
    assert_eq!(env.get("/repos/octo-org/secret-sauce/issues/2").await.status(), 403);
    assert_eq!(env.upstream().calls, 1);
    // A public repo is served; its visibility check is one more call, then the read.
    assert_eq!(env.get("/repos/octo-org/hello-world/pulls/1").await.status(), 200);
    assert_eq!(env.upstream().calls, 3);
}

#[tokio::test]
async fn link_headers_point_at_the_caller_host_and_layout_and_are_followable() {
    let env = Env::start(Setup::default()).await;
    let r = env.get("/api/v3/repos/octo-org/hello-world/issues?per_page=2").await;
    assert_eq!(r.status(), 200);
    let link = r.headers()["link"].to_str().unwrap().to_string();
    let base = format!("{}/api/v3/", env.worker.url());
    assert!(link.contains(&format!("<{base}")), "{link}");
    assert!(!link.contains(&env.gh.url()), "{link}");
    let next = link
        .split(',')
        .find(|p| p.contains("rel=\"next\""))
        .and_then(|p| p.split_once('<'))
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(u, _)| u.to_string())
        .unwrap();
    let path = next.strip_prefix(&env.worker.url()).unwrap();
    let page2 = env.get(path).await;
    assert_eq!(page2.status(), 200, "{next}");
    let items: serde_json::Value = page2.json().await.unwrap();
    assert_eq!(items.as_array().unwrap().len(), 2);
    // The root layout gets root links.
    let r = env.get("/repos/octo-org/hello-world/pulls?per_page=1").await;
    let link = r.headers()["link"].to_str().unwrap();
    assert!(link.contains(&format!("<{}/repositories/", env.worker.url())), "{link}");
}

#[tokio::test]
async fn rate_limit_stats_metrics_and_health_answer_locally() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("bob")],
        ..Setup::default()
    })
    .await;
    env.get("/repos/octo-org/hello-world/pulls/1").await;
    env.get("/repos/octo-org/hello-world/pulls/1").await;
    let rl = env.get("/rate_limit").await;
    assert_eq!(cache_status(&rl), "BYPASS");
    let rl: serde_json::Value = rl.json().await.unwrap();
    assert_eq!(rl["resources"]["core"]["limit"], 10_000);
    assert_eq!(rl["resources"]["core"]["remaining"], 9_999);
    let stats: serde_json::Value = env.get("/_shoal/stats").await.json().await.unwrap();
    assert_eq!(stats["requests"]["hit"], 1);
    assert_eq!(stats["requests"]["miss"], 1);
    assert_eq!(stats["upstream"]["calls"], 1);
    assert_eq!(stats["identities"].as_array().unwrap().len(), 2);
    let text = env.metrics().await;
    assert!(text.contains("shoal_requests_total{cache=\"HIT\"} 1"), "{text}");
    assert!(text.contains("shoal_upstream_units_total{identity="), "{text}");
    let health = env
        .http
        .get(format!("{}/healthz", env.worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Stats need a caller token.
    let r = env
        .http
        .get(format!("{}/_shoal/stats", env.worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(env.upstream().calls, 1);
}

#[tokio::test]
async fn a_swapped_bundle_takes_effect_and_keeps_the_cache() {
    let env = Env::start(Setup::default()).await;
    env.get("/repos/octo-org/hello-world/pulls/1").await;
    let mut b = env.bundle.clone();
    b.version += 1;
    b.caller_tokens.clear();
    env.worker.worker.swap_bundle(&b).unwrap();
    assert_eq!(env.get("/repos/octo-org/hello-world/pulls/1").await.status(), 401);
    env.worker.worker.swap_bundle(&env.bundle).unwrap();
    let r = env.get("/repos/octo-org/hello-world/pulls/1").await;
    assert_eq!(cache_status(&r), "HIT");
    assert_eq!(env.upstream().calls, 1);
}

#[tokio::test]
async fn the_binary_prints_its_address_and_serves_the_contract() {
    use tokio::io::AsyncBufReadExt;
    let gh = shoal_fake_github::FakeGithub::start(shoal_fake_github::Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = gh.add_token("alice");
    std::fs::write(dir.path().join("id"), &token).unwrap();
    let caller = shoal_common::token::generate_token().unwrap().expose().to_string();
    let config = dir.path().join("shoal-worker.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\nallowed_owners = [\"octo-org\"]\n\n[[identity]]\nid = \"bot\"\ntoken = \"file:{}\"\n\n[[caller]]\nname = \"laptop\"\ntoken = \"env:SHOAL_TEST_CALLER\"\n",
            gh.url(),
            dir.path().join("id").display()
        ),
    )
    .unwrap();
    // The same worker from the file, then from environment variables alone.
    let from_env = [
        ("SHOAL_WORKER_LISTEN", "127.0.0.1:0".to_string()),
        ("SHOAL_WORKER_UPSTREAM", gh.url()),
        ("SHOAL_WORKER_ALLOWED_OWNERS", "octo-org".into()),
        (
            "SHOAL_WORKER_IDENTITIES",
            format!("bot=file:{}", dir.path().join("id").display()),
        ),
        ("SHOAL_WORKER_CALLERS", "laptop=env:SHOAL_TEST_CALLER".into()),
    ];
    for (args, envs) in [
        (vec!["--config".into(), config.clone()], &from_env[..0]),
        (vec![], &from_env[..]),
    ] {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shoal-worker"))
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .env("SHOAL_TEST_CALLER", &caller)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the worker printed its address")
            .unwrap()
            .unwrap();
        let url = line.strip_prefix("listening on ").expect(&line).to_string();
        assert!(url.starts_with("http://127.0.0.1:"));
        let r = reqwest::Client::new()
            .get(format!("{url}/api/v3/repos/octo-org/hello-world"))
            .header("authorization", format!("Bearer {caller}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-shoal-cache"], "MISS");
        child.kill().await.unwrap();
    }
}

#[tokio::test]
async fn searches_must_name_allowed_owners_and_spend_the_search_bucket() {
    let env = Env::start(Setup::default()).await;
    let r = env.get("/search/issues?q=is%3Apr+repo%3Aocto-org%2Fhello-world").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-resource"], "search");
    for q in ["/search/issues?q=bug", "/search/issues?q=repo%3Aacme-corp%2Fx"] {
        let r = env.get(q).await;
        assert_eq!(r.status(), 403, "{q}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["shoal"], "fallback_local");
    }
    let up = env.upstream();
    assert_eq!(up.calls, 1);
    assert_eq!(up.by_resource["search"].calls, 1);
}

#[tokio::test]
async fn an_unknown_repository_id_is_refused_until_learned() {
    let env = Env::start(Setup::default()).await;
    let r = env.get("/repositories/999999/pulls").await;
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["shoal"], "fallback_local");
    assert_eq!(env.upstream().calls, 0);
    // Reading the repo teaches the relay its id.
    let repo: serde_json::Value = env.get("/repos/octo-org/hello-world").await.json().await.unwrap();
    let id = repo["id"].as_u64().unwrap();
    assert_eq!(env.get(&format!("/repositories/{id}/pulls/1")).await.status(), 200);
}

#[tokio::test]
async fn relayed_responses_describe_the_pool_not_one_token() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("bob"), Ident::pat("carol")],
        ..Setup::default()
    })
    .await;
    let r = env.get("/repos/octo-org/hello-world/pulls/1").await;
    assert_eq!(r.headers()["x-ratelimit-limit"], "15000");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "14999");
    assert_eq!(r.headers()["x-ratelimit-resource"], "core");
    for h in [
        "x-oauth-scopes",
        "x-accepted-oauth-scopes",
        "github-authentication-token-expiration",
        "set-cookie",
    ] {
        assert!(!r.headers().contains_key(h), "{h} passed through");
    }
}

#[tokio::test]
async fn with_shoal_log_format_json_every_log_line_is_a_json_object() {
    use tokio::io::AsyncBufReadExt;
    let gh = shoal_fake_github::FakeGithub::start(shoal_fake_github::Options::default()).await;
    let token = gh.add_token("alice");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shoal-worker"))
        .env("SHOAL_WORKER_LISTEN", "127.0.0.1:0")
        .env("SHOAL_WORKER_UPSTREAM", gh.url())
        .env("SHOAL_WORKER_ALLOWED_OWNERS", "octo-org")
        .env("SHOAL_WORKER_IDENTITIES", "bot=env:SHOAL_TEST_IDENTITY")
        .env("SHOAL_TEST_IDENTITY", &token)
        .env("SHOAL_WORKER_CALLERS", "laptop=env:SHOAL_TEST_CALLER")
        .env(
            "SHOAL_TEST_CALLER",
            shoal_common::token::generate_token().unwrap().expose(),
        )
        .env("SHOAL_LOG", "debug")
        .env("SHOAL_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for _ in 0..3 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the worker logged at debug level")
            .unwrap()
            .expect("a log line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{line}");
        assert!(!line.contains(&token), "a pooled token reached the log");
    }
    child.kill().await.unwrap();
}
