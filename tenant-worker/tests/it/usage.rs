//! What a scheduled worker reports to the control plane: requests per caller token, route class
//! and cache status, and each identity's health with the budget its account has left.

use crate::support::bundle::{Env, pat};
use shoal_common::protocol::{CacheStatus, HealthState};
use shoal_worker::clock::Clock;
use shoal_worker::control::UsageTracker;
use std::time::Duration;
use time::OffsetDateTime;

#[tokio::test]
async fn reports_count_requests_per_caller_token_and_carry_each_identitys_budget() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let mut tracker = UsageTracker::default();
    assert!(tracker.next_report(&env.relay.worker).is_none(), "nothing happened yet");
    for _ in 0..3 {
        assert_eq!(env.get("/repos/octo-org/hello-world", None).await.0, 200);
    }
    let query = serde_json::json!({"query": "{ repository(owner: \"octo-org\", name: \"hello-world\") { name } }"});
    assert_eq!(env.graphql(&query).await.0, 200);
    let r = tracker.next_report(&env.relay.worker).unwrap();
    let caller = env.bundle.caller_tokens[0].id;
    let mut counts: Vec<_> = r
        .requests
        .iter()
        .map(|c| (c.caller_token, c.route_class.as_str(), c.cache_status, c.count))
        .collect();
    counts.sort_by_key(|c| (c.1, c.2));
    assert_eq!(
        counts,
        [
            (Some(caller), "graphql", CacheStatus::Miss, 1),
            (Some(caller), "repos", CacheStatus::Hit, 2),
            (Some(caller), "repos", CacheStatus::Miss, 1)
        ]
    );
    let bot = &r.identity_health[0];
    assert_eq!(bot.state, HealthState::Healthy);
    let core = bot.budgets.iter().find(|b| b.resource == "core").unwrap();
    assert_eq!((core.limit, core.remaining), (5000, 4999));

    // The next report holds only what happened since.
    assert_eq!(env.get("/repos/octo-org/hello-world", None).await.0, 200);
    let r = tracker.next_report(&env.relay.worker).unwrap();
    assert_eq!(r.requests.len(), 1);
    assert_eq!((r.requests[0].cache_status, r.requests[0].count), (CacheStatus::Hit, 1));
}

#[tokio::test]
async fn a_cooling_down_identitys_reported_until_is_in_the_future() {
    let mut limited = String::new();
    let env = Env::start(|gh| {
        limited = gh.add_token("octo-bot");
        vec![pat("bot", &limited), pat("other", &gh.add_token("octo-other"))]
    })
    .await;
    env.gh.set_secondary_limit(&limited, 429, 60);
    let mut tracker = UsageTracker::default();
    // Least recently used first: one of two reads meets the limited token, which cools down.
    for n in 1..=2 {
        let path = format!("/repos/octo-org/hello-world/issues?page={n}&per_page=1");
        assert_eq!(env.get(&path, None).await.0, 200);
    }
    let r = tracker.next_report(&env.relay.worker).unwrap();
    let now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(env.clock.now_ms()) * 1_000_000).unwrap();
    let health = |name: &str| {
        let id = env.bundle.identities.iter().find(|i| i.name == name).unwrap().id;
        r.identity_health.iter().find(|h| h.identity == id).unwrap()
    };
    let HealthState::CoolingDown { until } = health("bot").state else {
        panic!("bot should cool down: {:?}", health("bot").state);
    };
    assert!(
        until > now && until <= now + Duration::from_secs(60),
        "until {until}, now {now}"
    );
    let core = health("other").budgets.iter().find(|b| b.resource == "core").unwrap();
    assert!(core.reset.is_some_and(|reset| reset > now), "{core:?}");
}
