//! The coordinator against the fake: spreading spend, quarantine, cooldown, accounts.

use crate::support::{Env, Ident, Setup, cache_status, issues_page};

#[tokio::test]
async fn three_identities_spread_spend_and_none_hits_403_until_the_pool_is_nearly_used() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("bob"), Ident::pat("carol")],
        core_limit: 20,
        ..Setup::default()
    })
    .await;
    // 20 per account, 10% reserve (2) kept for each owner: 54 units for the pool.
    for n in 1..=54 {
        let r = env.get(&issues_page(n)).await;
        assert_eq!(r.status(), 200, "read {n}");
        assert_eq!(cache_status(&r), "MISS");
    }
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.rate_limited), (54, 54, 0));
    for i in 0..3 {
        assert_eq!(env.charged_of(i), 18, "identity {i}");
    }
    // The pool is used up (reserves aside): refused locally with GitHub's shape, no upstream call.
    let r = env.get(&issues_page(55)).await;
    assert_eq!(r.status(), 403);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
    assert_eq!(env.upstream().calls, 54);
    // `/rate_limit` answers for the pool.
    let rl: serde_json::Value = env.get("/rate_limit").await.json().await.unwrap();
    assert_eq!(rl["resources"]["core"]["limit"], 60);
    assert_eq!(rl["resources"]["core"]["remaining"], 6);
    assert_eq!(env.upstream().calls, 54);
}

#[tokio::test]
async fn a_revoked_identity_is_quarantined_after_its_first_401_and_the_request_still_succeeds() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::revoked("bob")],
        ..Setup::default()
    })
    .await;
    for n in 1..=6 {
        let r = env.get(&issues_page(n)).await;
        assert_eq!(r.status(), 200, "read {n}");
    }
    let up = env.upstream();
    assert_eq!(up.by_token[&env.tokens[1]].calls, 1);
    assert_eq!(up.by_token[&env.tokens[1]].unauthorized, 1);
    assert_eq!(env.charged_of(0), 6);
    let bob = env.identity_stats("bob");
    assert_eq!(bob["state"], "quarantined");
    assert!(bob["reason"].as_str().unwrap().contains("401"));
}

#[tokio::test]
async fn when_every_identity_is_revoked_the_caller_is_told_why_without_a_claimed_rate_limit() {
    let env = Env::start(Setup {
        identities: vec![Ident::revoked("bob")],
        ..Setup::default()
    })
    .await;
    for n in 1..=2 {
        let r = env.get(&issues_page(n)).await;
        assert_eq!(r.status(), 503, "read {n}");
        assert!(r.headers().get("x-ratelimit-remaining").is_none());
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["shoal"], "fallback_local");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("bob-0: quarantined (GitHub answered 401"), "{message}");
        assert!(!message.contains("rate limit exceeded"), "{message}");
    }
    assert_eq!(env.upstream().calls, 1, "the quarantined identity is not asked again");
}

#[tokio::test]
async fn a_secondary_limit_cools_one_identity_down() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("bob")],
        ..Setup::default()
    })
    .await;
    env.gh.set_secondary_limit(&env.tokens[1], 429, 60);
    for n in 1..=6 {
        assert_eq!(env.get(&issues_page(n)).await.status(), 200, "read {n}");
    }
    let up = env.upstream();
    assert_eq!(up.by_token[&env.tokens[1]].calls, 1);
    assert_eq!(up.by_token[&env.tokens[1]].secondary_limited, 1);
    assert_eq!(env.identity_stats("bob")["state"], "cooling_down");
    // After the cooldown the identity serves again.
    env.gh.clear_secondary_limit(&env.tokens[1]);
    env.advance(61);
    assert_eq!(env.identity_stats("bob")["state"], "healthy");
    for n in 7..=10 {
        assert_eq!(env.get(&issues_page(n)).await.status(), 200);
    }
    assert!(env.calls_of(1) > 1);
}

#[tokio::test]
async fn tokens_of_one_account_share_one_budget_learned_from_user() {
    let env = Env::start(Setup {
        identities: vec![Ident::discovered("alice"), Ident::discovered("alice")],
        core_limit: 12,
        ..Setup::default()
    })
    .await;
    // Discovery spent 2 of alice's 12 (one /user per token); the reserve keeps 1.
    let alice = env.identity_stats("alice");
    assert_eq!(alice["account"], "alice");
    let mut ok = 0;
    for n in 1..=12 {
        if env.get(&issues_page(n)).await.status() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 9);
    assert_eq!(env.upstream().rate_limited, 0, "the shared bucket was never overdrawn");
}
