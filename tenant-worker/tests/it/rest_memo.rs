//! The REST hit path remembers what a request head decides (route, cache key): a remembered
//! head still meets the caller check, the tenant's rules and its policy module in force at each
//! request, and a head that differs in a field that decides the answer gets its own answer.

use crate::support::bundle::{self, pat};
use shoal_common::protocol::{OnFailure, PolicyModule};
use shoal_worker::clock::Clock;

const PR: &str = "/repos/octo-org/hello-world/pulls/1";

fn deny_all() -> PolicyModule {
    let path = format!("{}/policy-examples/deny-all.wat", env!("CARGO_MANIFEST_DIR"));
    let binary = shoal_common::policy::load::to_binary(std::fs::read(path).unwrap().as_slice()).unwrap();
    PolicyModule::from_binary(&binary, OnFailure::Serve)
}

async fn hit_twice(env: &bundle::Env) {
    for want in ["MISS", "HIT"] {
        let (status, h, _) = env.get(PR, None).await;
        assert_eq!((status, h["x-shoal-cache"].to_str().unwrap()), (200, want));
    }
}

#[tokio::test]
async fn a_revoked_caller_is_refused_on_the_next_request_after_the_bundle_changes() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    hit_twice(&env).await;
    let mut b = env.bundle.clone();
    b.version += 1;
    b.caller_tokens.clear();
    env.relay.worker.swap_bundle(&b).unwrap();
    let (status, _, _) = env.get(PR, None).await;
    assert_eq!(status, 401);
    assert_eq!(env.gh.stats().calls, 1);
}

#[tokio::test]
async fn an_expired_caller_is_refused_on_the_next_request() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    let mut b = env.bundle.clone();
    b.version += 1;
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(env.clock.now_ms()) * 1_000_000).unwrap();
    b.caller_tokens[0].expires_at = Some(now + time::Duration::seconds(10));
    env.relay.worker.swap_bundle(&b).unwrap();
    hit_twice(&env).await;
    env.clock.advance(std::time::Duration::from_secs(10));
    let (status, _, _) = env.get(PR, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_remembered_route_is_refused_once_the_bundle_disallows_its_owner() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    hit_twice(&env).await;
    let mut b = env.bundle.clone();
    b.version += 1;
    b.policy.allowed_owners = vec!["someone-else".into()];
    env.relay.worker.swap_bundle(&b).unwrap();
    let (status, _, body) = env.get(PR, None).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("fallback_local"));
    assert_eq!(env.gh.stats().calls, 1);
}

#[tokio::test]
async fn a_different_accept_gets_its_own_answer_after_a_remembered_head() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    hit_twice(&env).await;
    let (_, _, json) = env.get(PR, None).await;
    let (status, h, diff) = env.get(PR, Some("application/vnd.github.diff")).await;
    assert_eq!((status, h["x-shoal-cache"].to_str().unwrap()), (200, "MISS"));
    assert_ne!(diff, json);
    assert!(h["content-type"].to_str().unwrap().contains("diff"));
    // Each head is remembered apart: both hit, each with its own body.
    let (_, h, again) = env.get(PR, Some("application/vnd.github.diff")).await;
    assert_eq!((h["x-shoal-cache"].to_str().unwrap(), &again), ("HIT", &diff));
    let (_, h, again) = env.get(PR, Some("Application/VND.github.diff")).await;
    assert_eq!((h["x-shoal-cache"].to_str().unwrap(), &again), ("HIT", &diff));
    let (_, h, again) = env.get(PR, None).await;
    assert_eq!((h["x-shoal-cache"].to_str().unwrap(), &again), ("HIT", &json));
    // A malformed Accept is refused each time, never remembered as something else.
    for _ in 0..2 {
        let (status, _, _) = env.get(PR, Some(&"x".repeat(300))).await;
        assert_eq!(status, 400);
    }
    assert_eq!(env.gh.stats().calls, 2);
}

#[tokio::test]
async fn a_policy_module_decides_every_request_of_a_remembered_head() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    hit_twice(&env).await;
    let mut b = env.bundle.clone();
    b.version += 1;
    b.policy_module = Some(deny_all());
    env.relay.worker.swap_bundle(&b).unwrap();
    for _ in 0..5 {
        let (status, _, _) = env.get(PR, None).await;
        assert_eq!(status, 403);
    }
    assert_eq!(env.stats()["policy_module"]["decisions"]["deny"], 5);
    env.relay.worker.swap_bundle(&env.bundle).unwrap();
    let (status, h, _) = env.get(PR, None).await;
    assert_eq!((status, h["x-shoal-cache"].to_str().unwrap()), (200, "HIT"));
    assert_eq!(env.stats()["policy_module"]["decisions"]["deny"], 5);
    assert_eq!(env.gh.stats().calls, 1);
}

#[tokio::test]
async fn every_request_of_a_remembered_head_is_counted() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    for _ in 0..7 {
        let (status, _, _) = env.get(PR, None).await;
        assert_eq!(status, 200);
    }
    let stats = env.stats();
    assert_eq!(stats["requests"]["hit"], 6, "{stats}");
    assert_eq!(stats["requests"]["miss"], 1, "{stats}");
    assert_eq!(env.gh.stats().calls, 1);
}

#[tokio::test]
async fn a_hit_carries_its_own_length_and_relay_headers_for_get_head_and_304() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    hit_twice(&env).await;
    let (_, h, body) = env.get(PR, None).await;
    let etag = h["etag"].to_str().unwrap().to_string();
    let url = format!("{}{PR}", env.relay.url());
    let auth = format!("token {}", env.caller);
    let head = env
        .client
        .head(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    let not_modified = env
        .client
        .get(&url)
        .header("authorization", &auth)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    for (status, h, len) in [
        (200, h, body.len()),
        (head.status().as_u16(), head.headers().clone(), body.len()),
        (not_modified.status().as_u16(), not_modified.headers().clone(), 0),
    ] {
        assert!(status == 200 || status == 304, "{status}");
        assert_eq!(h["x-shoal-cache"], "HIT");
        assert_eq!(h["x-ratelimit-resource"], "core");
        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-used",
            "x-ratelimit-reset",
        ] {
            assert!(
                h[name].to_str().unwrap().parse::<u64>().is_ok(),
                "{status} {name}: {:?}",
                h[name]
            );
        }
        if status != 304 {
            assert_eq!(h["content-length"].to_str().unwrap(), len.to_string(), "{status}");
        }
        assert!(h.values().all(|v| !v.is_empty()), "{status}: an empty header in {h:?}");
        assert_eq!(
            h.get_all("content-length").iter().count(),
            usize::from(status != 304),
            "{status}"
        );
    }
    assert_eq!(not_modified.status(), 304);
}
