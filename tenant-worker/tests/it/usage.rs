//! What a scheduled worker reports to the control plane: requests per caller token, route class
//! and cache status, and each identity's health with the budget its account has left.

use crate::support::bundle::{Env, pat};
use shoal_common::protocol::{CacheStatus, HealthState};
use shoal_worker::control::UsageTracker;

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
