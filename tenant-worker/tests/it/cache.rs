//! The cache against the fake: hits, revalidation, single-flight, stale answers.

use crate::support::{Env, Ident, PR, REVIEWS, Setup, cache_status};

#[tokio::test]
async fn a_repeated_read_costs_one_upstream_call() {
    let env = Env::start(Setup::default()).await;
    let first = env.get(PR).await;
    assert_eq!(first.status(), 200);
    assert_eq!(cache_status(&first), "MISS");
    let body1 = first.text().await.unwrap();
    // Same resource through the other layout and with different owner case: same entry, with
    // its API URLs on the layout the caller used.
    let second = env.get("/api/v3/repos/Octo-Org/hello-world/pulls/1").await;
    assert_eq!(cache_status(&second), "HIT");
    let root = env.worker.url();
    assert!(body1.contains(&format!("\"url\":\"{root}/repos/octo-org/hello-world/pulls/1\"")));
    assert_eq!(
        second.text().await.unwrap(),
        body1.replace(&format!("\"{root}/"), &format!("\"{root}/api/v3/"))
    );
    let up = env.upstream();
    assert_eq!((up.calls, up.charged), (1, 1));
    assert_eq!(env.stats()["requests"]["hit"], 1);
}

#[tokio::test]
async fn a_stale_read_of_an_unchanged_resource_costs_one_304_and_no_units() {
    let env = Env::start(Setup::default()).await;
    assert_eq!(cache_status(&env.get(PR).await), "MISS");
    env.advance(21); // past the `fast` TTL of 20 s
    let r = env.get(PR).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "REVALIDATED");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 1, 1));
    // The refreshed entry is fresh again.
    assert_eq!(cache_status(&env.get(PR).await), "HIT");
    assert_eq!(env.upstream().calls, 2);
    assert_eq!(env.stats()["revalidations"]["if_modified_since"]["not_modified"], 1);
}

#[tokio::test]
async fn revalidation_under_another_identity_is_free_via_if_modified_since() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("bob")],
        ..Setup::default()
    })
    .await;
    env.get(PR).await;
    env.advance(21);
    assert_eq!(cache_status(&env.get(PR).await), "REVALIDATED");
    // One identity fetched it, the other (more budget left) revalidated it for free.
    assert_eq!(env.calls_of(0) + env.calls_of(1), 2);
    assert_eq!((env.calls_of(0), env.calls_of(1)), (1, 1));
    let up = env.upstream();
    assert_eq!((up.charged, up.not_modified), (1, 1));
}

#[tokio::test]
async fn without_last_modified_the_fetching_identity_revalidates_with_its_own_etag() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("bob")],
        ..Setup::default()
    })
    .await;
    env.get(REVIEWS).await;
    let fetcher = if env.calls_of(0) == 1 { 0 } else { 1 };
    env.advance(21);
    assert_eq!(cache_status(&env.get(REVIEWS).await), "REVALIDATED");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 1, 1));
    assert_eq!(env.calls_of(fetcher), 2);
    assert_eq!(env.stats()["revalidations"]["etag"]["not_modified"], 1);
}

#[tokio::test]
async fn computed_etags_revalidate_under_another_identity_when_the_fetcher_is_gone() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("bob")],
        extra: "[cache]\ncompute_etags = true\n".into(),
        ..Setup::default()
    })
    .await;
    env.get(REVIEWS).await;
    let fetcher = if env.calls_of(0) == 1 { 0 } else { 1 };
    env.gh.revoke(&env.tokens[fetcher]);
    env.advance(21);
    assert_eq!(cache_status(&env.get(REVIEWS).await), "REVALIDATED");
    // The fetcher's 401, then the other identity's free 304 with the computed ETag.
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified, up.unauthorized), (3, 1, 1, 1));
    assert_eq!(env.calls_of(1 - fetcher), 1);
    let s = env.stats();
    assert_eq!(s["revalidations"]["computed_etag"]["not_modified"], 1, "{s}");
}

#[tokio::test]
async fn a_changed_resource_is_refetched_after_its_ttl() {
    let env = Env::start(Setup::default()).await;
    let before = env.get(PR).await.text().await.unwrap();
    env.gh.touch("octo-org/hello-world", "pulls/1");
    // Within the TTL the cached answer stands.
    assert_eq!(cache_status(&env.get(PR).await), "HIT");
    env.advance(21);
    let r = env.get(PR).await;
    assert_eq!(cache_status(&r), "MISS");
    assert_ne!(r.text().await.unwrap(), before);
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 2, 0));
}

#[tokio::test]
async fn two_hundred_concurrent_identical_misses_cost_one_call() {
    let env = std::sync::Arc::new(Env::start(Setup::default()).await);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            let r = env.get("/repos/octo-org/hello-world/issues/2").await;
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    let mut bodies = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200);
        bodies.insert(body);
    }
    assert_eq!(bodies.len(), 1, "every waiter gets the same answer");
    assert_eq!(env.upstream().calls, 1);
    let s = env.stats();
    let r = &s["requests"];
    assert_eq!(r["miss"].as_u64().unwrap() + r["hit"].as_u64().unwrap(), 200);
}

#[tokio::test]
async fn accept_varies_the_cache_key() {
    let env = Env::start(Setup::default()).await;
    let json = env.get(PR).await;
    assert!(json.headers()["content-type"].to_str().unwrap().contains("json"));
    let diff = env.get_with(PR, &[("accept", "application/vnd.github.diff")]).await;
    assert_eq!(cache_status(&diff), "MISS");
    assert!(diff.headers()["content-type"].to_str().unwrap().contains("diff"));
    assert!(diff.text().await.unwrap().starts_with("diff --git"));
    assert_eq!(env.upstream().calls, 2);
}

#[tokio::test]
async fn client_conditional_requests_are_answered_by_the_relay() {
    let env = Env::start(Setup::default()).await;
    let first = env.get(PR).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = env.get_with(PR, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), 304);
    assert_eq!(env.upstream().calls, 1);
    // A stale entry revalidates upstream with the relay's own validators, not the client's.
    env.advance(21);
    let r = env.get_with(PR, &[("if-none-match", "W/\"client-etag\"")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "REVALIDATED");
}

#[tokio::test]
async fn head_is_answered_from_the_cache() {
    let env = Env::start(Setup::default()).await;
    env.get(PR).await;
    let r = env
        .http
        .head(format!("{}{PR}", env.worker.url()))
        .header("authorization", format!("token {}", env.caller))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "HIT");
    assert_eq!(env.upstream().calls, 1);
}

#[tokio::test]
async fn stale_is_served_when_every_identity_is_exhausted() {
    let env = Env::start(Setup {
        core_limit: 3,
        extra: "reserve_percent = 0\n".into(),
        ..Setup::default()
    })
    .await;
    let fresh = env.get(PR).await.text().await.unwrap();
    env.get("/repos/octo-org/hello-world/issues/2").await;
    env.get("/repos/octo-org/hello-world/issues/3").await;
    assert_eq!(env.upstream().calls, 3);
    env.advance(21);
    let r = env.get(PR).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "STALE");
    assert_eq!(r.text().await.unwrap(), fresh);
    // Nothing cached: GitHub's shape of a rate-limit 403 with retry-after, and no upstream call.
    let r = env.get("/repos/octo-org/hello-world/issues/4").await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("rate limit"));
    assert_eq!(env.upstream().calls, 3);
}

#[tokio::test]
async fn stale_is_served_when_github_is_down() {
    let env = Env::start(Setup::default()).await;
    env.get(PR).await;
    assert_eq!(env.upstream().calls, 1);
    // A bundle whose upstream is a closed port: every call fails to connect.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut b = env.bundle.clone();
    b.version += 1;
    b.upstream = format!("http://{addr}");
    env.worker.worker.swap_bundle(&b).unwrap();
    env.advance(21);
    let r = env.get(PR).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "STALE");
    let r = env.get("/repos/octo-org/hello-world/issues/2").await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_404_is_cached_briefly_to_absorb_polling() {
    let env = Env::start(Setup::default()).await;
    let missing = "/repos/octo-org/hello-world/pulls/99999";
    assert_eq!(env.get(missing).await.status(), 404);
    let again = env.get(missing).await;
    assert_eq!(again.status(), 404);
    assert_eq!(cache_status(&again), "HIT");
    assert_eq!(env.upstream().calls, 1);
    env.advance(31);
    assert_eq!(cache_status(&env.get(missing).await), "MISS");
    assert_eq!(env.upstream().calls, 2);
}

#[tokio::test]
async fn concurrent_revalidations_of_one_key_make_one_call() {
    let env = std::sync::Arc::new(Env::start(Setup::default()).await);
    env.get(PR).await;
    env.advance(21);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move { env.get(PR).await.status().as_u16() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let up = env.upstream();
    assert_eq!((up.calls, up.not_modified), (2, 1));
}
