//! The free plan's monthly allowance through the real worker: exactly the allowance is served
//! (counting on from the bundle's count, cache hits included), then every relayed read answers
//! GitHub-shaped 429 with `retry-after` until the month turns and `"shoal": "fallback_local"`; a
//! worker started from a bundle whose count is spent refuses at once.

use crate::support::bundle::{Env, pat};
use shoal_common::protocol::{Allowance, Bundle};
use shoal_worker::Worker;
use shoal_worker::clock::Clock;
use shoal_worker::config::Settings;
use std::sync::Arc;
use std::time::Duration;
use time::{Date, Month, OffsetDateTime, Time};

const REPO: &str = "/repos/octo-org/hello-world";
const UPGRADE: &str = "https://shoal.example/t/acme/billing";

fn month_starts(now_ms: u64) -> (OffsetDateTime, OffsetDateTime) {
    let d = OffsetDateTime::from_unix_timestamp((now_ms / 1000) as i64)
        .unwrap()
        .date();
    let this = Date::from_calendar_date(d.year(), d.month(), 1).unwrap();
    let next = match d.month() {
        Month::December => Date::from_calendar_date(d.year() + 1, Month::January, 1),
        m => Date::from_calendar_date(d.year(), m.next(), 1),
    }
    .unwrap();
    (
        this.with_time(Time::MIDNIGHT).assume_utc(),
        next.with_time(Time::MIDNIGHT).assume_utc(),
    )
}

/// `env`'s bundle, newer, on the free plan with `per_month` reads of which `so_far` are counted.
fn free(env: &Env, per_month: u64, so_far: u64) -> Bundle {
    let mut b = env.bundle.clone();
    b.version += 1;
    b.plan = "free".into();
    b.allowance = Some(Allowance {
        reads_per_month: per_month,
        reads_this_month: so_far,
        month_start: month_starts(env.clock.now_ms()).0,
        upgrade_url: UPGRADE.into(),
    });
    b
}

async fn start() -> Env {
    Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await
}

fn assert_spent(status: u16, headers: &reqwest::header::HeaderMap, body: &serde_json::Value, retry_after: u64) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"].to_str().unwrap(), retry_after.to_string());
    assert_eq!(body["shoal"], "fallback_local");
    assert_eq!(body["documentation_url"], "https://docs.github.com/rest");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("fallback_local: the free plan's 5 relayed reads for this month are used up")
            && message.contains(UPGRADE),
        "{message}"
    );
}

#[tokio::test]
async fn exactly_the_allowance_is_served_hits_included_then_429_fallback_local_until_the_month_turns() {
    let env = start().await;
    env.relay.worker.swap_bundle(&free(&env, 5, 2)).unwrap();

    let mut caches = Vec::new();
    for _ in 0..3 {
        let (status, headers, _) = env.get(REPO, None).await;
        assert_eq!(status, 200);
        caches.push(headers["x-shoal-cache"].to_str().unwrap().to_string());
    }
    assert_eq!(caches, ["MISS", "HIT", "HIT"]);
    assert_eq!(env.relay.worker.allowance().used(), 5);

    let next = month_starts(env.clock.now_ms()).1;
    let retry_after = (next.unix_timestamp() - (env.clock.now_ms() / 1000) as i64) as u64;
    let (status, headers, body) = env.get(REPO, None).await;
    assert_spent(status, &headers, &serde_json::from_slice(&body).unwrap(), retry_after);
    let (status, headers, body) = env
        .graphql(&serde_json::json!({ "query": "{ repository(owner: \"octo-org\", name: \"hello-world\") { name } }" }))
        .await;
    assert_spent(status, &headers, &body, retry_after);
    assert_eq!(env.gh.stats().calls, 1, "only the first read went upstream");
    assert_eq!(env.relay.worker.allowance().used(), 5, "refused reads are not counted");

    env.clock.advance(Duration::from_secs(retry_after));
    assert_eq!(env.get(REPO, None).await.0, 200, "the month turned");
    assert_eq!(env.relay.worker.allowance().used(), 1);
}

#[tokio::test]
async fn a_worker_started_from_a_spent_count_refuses_at_once_and_an_upgrade_lifts_the_cap() {
    let env = start().await;
    let spent = free(&env, 5, 5);
    let restarted = Worker::new(Settings::for_tests(), &spent, env.clock.clone() as Arc<dyn Clock>)
        .await
        .unwrap();
    let relay = shoal_worker::serve(restarted.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let get = async || {
        let r = env
            .client
            .get(format!("{}{REPO}", relay.url()))
            .header("authorization", format!("token {}", env.caller))
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.headers().clone(),
            r.json::<serde_json::Value>().await.unwrap(),
        )
    };
    let (status, headers, body) = get().await;
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_spent(status, &headers, &body, retry_after);
    assert_eq!(env.gh.stats().calls, 0);

    // Upgraded: the next bundle carries the team plan and no allowance.
    let mut team = spent.clone();
    team.version += 1;
    team.plan = "team".into();
    team.allowance = None;
    restarted.swap_bundle(&team).unwrap();
    assert_eq!(get().await.0, 200);
}
