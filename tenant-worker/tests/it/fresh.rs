//! Fresh reads: a client's `Cache-Control: no-cache` or `max-age=0` revalidates now instead of
//! being served from the cache, is never a HIT, and costs nothing when the resource is unchanged.

use crate::support::{Env, PR, Setup, cache_status};
use serde_json::json;
use shoal_fake_github::Faults;

const NO_CACHE: &[(&str, &str)] = &[("cache-control", "no-cache")];

#[tokio::test]
async fn a_fresh_read_of_an_unchanged_resource_costs_one_304_and_no_units() {
    let env = Env::start(Setup::default()).await;
    assert_eq!(cache_status(&env.get(PR).await), "MISS");
    let r = env.get_with(PR, NO_CACHE).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "REVALIDATED");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 1, 1));
    // `max-age=0` asks the same.
    let r = env.get_with(PR, &[("cache-control", "max-age=0")]).await;
    assert_eq!(cache_status(&r), "REVALIDATED");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (3, 1, 2));
    // The refreshed entry serves plain reads.
    assert_eq!(cache_status(&env.get(PR).await), "HIT");
    assert_eq!(env.upstream().calls, 3);
    let s = env.stats();
    assert_eq!(s["requests"]["fresh"], 2, "{s}");
    let metrics = env.metrics().await;
    assert!(
        metrics.lines().any(|l| l == "shoal_fresh_requests_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_fresh_read_after_a_change_returns_the_new_body_and_refreshes_the_entry() {
    let env = Env::start(Setup::default()).await;
    let before = env.get(PR).await.text().await.unwrap();
    env.gh.touch("octo-org/hello-world", "pulls/1");
    // Within the TTL a plain read still gets the cached answer; a fresh one gets the change.
    assert_eq!(cache_status(&env.get(PR).await), "HIT");
    let r = env.get_with(PR, NO_CACHE).await;
    assert_eq!(cache_status(&r), "MISS");
    let after = r.text().await.unwrap();
    assert_ne!(after, before);
    let plain = env.get(PR).await;
    assert_eq!(cache_status(&plain), "HIT");
    assert_eq!(plain.text().await.unwrap(), after);
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 2, 0));
}

#[tokio::test]
async fn concurrent_fresh_reads_of_one_key_share_one_revalidation() {
    let env = std::sync::Arc::new(Env::start(Setup::default()).await);
    env.get(PR).await;
    // Slow upstream answers keep the first fresh read's call in flight while the others join.
    env.gh.set_faults(Faults {
        latency_ms: 500,
        ..Faults::default()
    });
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let env = env.clone();
            tokio::spawn(async move { cache_status(&env.get_with(PR, NO_CACHE).await) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "REVALIDATED");
    }
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 1, 1));
    let s = env.stats();
    assert_eq!(s["requests"]["fresh"], 20);
    assert_eq!(s["requests"]["coalesced"], 19);
}

#[tokio::test]
async fn a_fresh_graphql_query_goes_upstream_and_is_never_a_hit() {
    let env = Env::start(Setup::default()).await;
    let body = json!({
        "query": "query { repository(owner: \"octo-org\", name: \"hello-world\") { pullRequest(number: 1) { title } } }"
    });
    let post = |fresh: bool| {
        let mut rb = env
            .http
            .post(format!("{}/graphql", env.worker.url()))
            .header("authorization", format!("token {}", env.caller))
            .json(&body);
        if fresh {
            rb = rb.header("cache-control", "no-cache");
        }
        rb.send()
    };
    let graphql_calls = || env.upstream().by_resource.get("graphql").map_or(0, |c| c.calls);
    assert_eq!(cache_status(&post(false).await.unwrap()), "MISS");
    let r = post(true).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "MISS");
    assert_eq!(graphql_calls(), 2);
    assert_eq!(cache_status(&post(false).await.unwrap()), "HIT");
    assert_eq!(graphql_calls(), 2);
    assert_eq!(env.stats()["requests"]["fresh"], 1);
}
