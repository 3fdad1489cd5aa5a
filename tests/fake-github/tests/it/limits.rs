//! Primary and secondary rate limits, buckets per account, revoked tokens.

use serde_json::Value;

use crate::{fake, fake_with_core_limit, get, header, remaining};

#[tokio::test]
async fn exhaustion_flips_to_403_at_exactly_the_limit() {
    let gh = fake_with_core_limit(5).await;
    let t = gh.add_token("alice");
    for i in 1..=5u64 {
        let r = get(&gh, Some(&t), "/repos/octo-org/hello-world", &[]).await;
        assert_eq!(r.status(), 200, "call {i}");
        assert_eq!(remaining(&r), 5 - i);
        assert_eq!(header(&r, "x-ratelimit-used"), i.to_string());
        assert_eq!(header(&r, "x-ratelimit-limit"), "5");
        assert_eq!(header(&r, "x-ratelimit-resource"), "core");
    }
    let r = get(&gh, Some(&t), "/repos/octo-org/hello-world", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(remaining(&r), 0);
    assert!(header(&r, "x-ratelimit-reset").parse::<i64>().unwrap() > 0);
    let id = gh.user_id("alice").unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], format!("API rate limit exceeded for user ID {id}."));
    let s = gh.stats();
    assert_eq!((s.calls, s.charged, s.rate_limited), (6, 5, 1));
}

#[tokio::test]
async fn two_pats_of_one_user_share_a_bucket_and_other_users_do_not() {
    let gh = fake_with_core_limit(10).await;
    let a1 = gh.add_token("alice");
    let a2 = gh.add_token("alice");
    let b = gh.add_token("bob");
    assert_eq!(
        remaining(&get(&gh, Some(&a1), "/repos/octo-org/hello-world", &[]).await),
        9
    );
    assert_eq!(
        remaining(&get(&gh, Some(&a2), "/repos/octo-org/hello-world", &[]).await),
        8
    );
    assert_eq!(
        remaining(&get(&gh, Some(&b), "/repos/octo-org/hello-world", &[]).await),
        9
    );
    let s = gh.stats();
    assert_eq!(s.token(&a1).charged, 1);
    assert_eq!(s.token(&a2).charged, 1);
    assert_eq!(s.token(&a1).login, "alice");
}

#[tokio::test]
async fn revoked_token_gets_401_bad_credentials_and_is_not_charged() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    assert_eq!(get(&gh, Some(&t), "/user", &[]).await.status(), 200);
    gh.revoke(&t);
    let r = get(&gh, Some(&t), "/user", &[]).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Bad credentials");
    let pre = gh.add_revoked_token("bob");
    assert_eq!(get(&gh, Some(&pre), "/user", &[]).await.status(), 401);
    assert_eq!(get(&gh, Some("ghp_unknown"), "/user", &[]).await.status(), 401);
    let s = gh.stats();
    assert_eq!(
        (s.token(&t).calls, s.token(&t).charged, s.token(&t).unauthorized),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn secondary_limit_answers_429_with_retry_after_until_cleared() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    gh.set_secondary_limit(&t, 429, 42);
    let r = get(&gh, Some(&t), "/repos/octo-org/hello-world", &[]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "42");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("You have exceeded a secondary rate limit")
    );
    gh.set_secondary_limit(&t, 403, 7);
    assert_eq!(
        get(&gh, Some(&t), "/repos/octo-org/hello-world", &[]).await.status(),
        403
    );
    gh.clear_secondary_limit(&t);
    assert_eq!(
        get(&gh, Some(&t), "/repos/octo-org/hello-world", &[]).await.status(),
        200
    );
    let s = gh.stats().token(&t);
    assert_eq!((s.calls, s.secondary_limited, s.charged), (3, 2, 1));
}

#[tokio::test]
async fn unauthenticated_calls_get_60_per_hour_per_ip() {
    let gh = fake().await;
    let r = get(&gh, None, "/repos/octo-org/hello-world", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-limit"), "60");
    assert_eq!(remaining(&r), 59);
    for _ in 0..59 {
        assert_eq!(get(&gh, None, "/repos/octo-org/hello-world", &[]).await.status(), 200);
    }
    let r = get(&gh, None, "/repos/octo-org/hello-world", &[]).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded for 127.0.0.1.")
    );
    assert_eq!(gh.stats().token("anonymous").charged, 60);
}

#[tokio::test]
async fn rate_limit_endpoint_is_free_and_reports_every_resource() {
    let gh = fake_with_core_limit(100).await;
    let t = gh.add_token("alice");
    get(&gh, Some(&t), "/repos/octo-org/hello-world", &[]).await;
    let r = get(&gh, Some(&t), "/rate_limit", &[]).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["resources"]["core"]["remaining"], 99);
    assert_eq!(body["resources"]["core"]["limit"], 100);
    assert_eq!(body["resources"]["search"]["limit"], 30);
    assert_eq!(body["resources"]["graphql"]["limit"], 5000);
    assert_eq!(body["rate"]["used"], 1);
    assert_eq!(gh.stats().charged, 1);
}

#[tokio::test]
async fn search_spends_the_search_bucket() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let r = get(&gh, Some(&t), "/search/issues?q=repo:octo-org/hello-world+is:pr", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-resource"), "search");
    assert_eq!(header(&r, "x-ratelimit-limit"), "30");
    assert_eq!(remaining(&r), 29);
    let body: Value = r.json().await.unwrap();
    assert!(body["total_count"].as_u64().unwrap() > 0);
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.get("pull_request").is_some())
    );
    assert_eq!(gh.stats().by_resource["search"].charged, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_flip_to_403_at_exactly_the_limit() {
    let gh = fake_with_core_limit(20).await;
    let t = gh.add_token("alice");
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let url = format!("{}/repos/octo-org/hello-world", gh.url());
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            crate::client()
                .get(url)
                .header("authorization", format!("token {t}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for task in tasks {
        match task.await.unwrap() {
            200 => ok += 1,
            403 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, limited), (20, 20));
    let s = gh.stats();
    assert_eq!((s.charged, s.rate_limited), (20, 20));
}
