//! Webhook events through the real worker and the fake GitHub: an event makes the entries it
//! touches revalidate on their next read (never a HIT), a confirming 304 right after it does not
//! re-freshen them for a full TTL, one tenant's events never touch another's cache, and a live
//! webhook lengthens the TTL of the routes events cover.

use crate::support::{Env, PR, Setup, cache_status};
use serde_json::json;
use shoal_common::protocol::WebhookEvent;

const REPO_OBJECT: &str = "/repos/octo-org/hello-world";
const ISSUE: &str = "/repos/octo-org/hello-world/issues/2";
const OTHER_REPO_PR: &str = "/repos/octo-org/octo-tools/pulls/1";

fn event(name: &str, number: Option<u64>) -> WebhookEvent {
    WebhookEvent {
        cursor: 1,
        event: name.into(),
        delivery_id: "d-1".into(),
        repository: Some("Octo-Org/Hello-World".into()),
        number,
        ..WebhookEvent::default()
    }
}

async fn statuses(env: &Env, paths: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for p in paths {
        out.push(cache_status(&env.get(p).await));
    }
    out
}

#[tokio::test]
async fn a_pull_request_event_makes_that_pulls_next_read_revalidate_and_leaves_the_rest_cached() {
    let env = Env::start(Setup::default()).await;
    let paths = [PR, ISSUE, REPO_OBJECT, OTHER_REPO_PR];
    assert_eq!(statuses(&env, &paths).await, ["MISS"; 4]);
    env.worker
        .worker
        .on_webhook_event(&event("pull_request", Some(1)))
        .await;
    // The repository object shows the open-issue count: it revalidates too.
    assert_eq!(
        statuses(&env, &paths).await,
        ["REVALIDATED", "HIT", "REVALIDATED", "HIT"]
    );
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (6, 4, 2));
    assert_eq!(env.stats()["webhook_events"]["Octo-Org/Hello-World"], 1);
}

#[tokio::test]
async fn a_push_makes_every_entry_of_the_repository_revalidate_and_a_changed_one_is_refetched() {
    let env = Env::start(Setup::default()).await;
    let before = env.get(PR).await.text().await.unwrap();
    env.get(ISSUE).await;
    env.gh.touch("octo-org/hello-world", "pulls/1");
    assert_eq!(cache_status(&env.get(PR).await), "HIT");
    env.worker.worker.on_webhook_event(&event("push", None)).await;
    let r = env.get(PR).await;
    assert_eq!(cache_status(&r), "MISS");
    assert_ne!(r.text().await.unwrap(), before);
    assert_eq!(cache_status(&env.get(ISSUE).await), "REVALIDATED");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (4, 3, 1));
}

#[tokio::test]
async fn a_304_within_the_window_after_an_event_does_not_refreshen_the_entry() {
    let env = Env::start(Setup::default()).await;
    env.get(PR).await;
    env.worker
        .worker
        .on_webhook_event(&event("pull_request", Some(1)))
        .await;
    // GitHub may still confirm the old representation for a few seconds: keep asking.
    env.advance(1);
    assert_eq!(cache_status(&env.get(PR).await), "REVALIDATED");
    assert_eq!(cache_status(&env.get(PR).await), "REVALIDATED");
    env.advance(4);
    assert_eq!(cache_status(&env.get(PR).await), "REVALIDATED");
    // Past the window (5 s), a confirmation is good for the full TTL again.
    assert_eq!(cache_status(&env.get(PR).await), "HIT");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (4, 1, 3));
}

#[tokio::test]
async fn a_graphql_answer_about_the_repository_is_refetched_after_its_event() {
    let env = Env::start(Setup::default()).await;
    let body = json!({
        "query": "query { repository(owner: \"octo-org\", name: \"hello-world\") { pullRequest(number: 1) { title } } }"
    });
    let post = || {
        env.http
            .post(format!("{}/graphql", env.worker.url()))
            .header("authorization", format!("token {}", env.caller))
            .json(&body)
            .send()
    };
    assert_eq!(cache_status(&post().await.unwrap()), "MISS");
    assert_eq!(cache_status(&post().await.unwrap()), "HIT");
    env.worker.worker.on_webhook_event(&event("issues", Some(9))).await;
    assert_eq!(cache_status(&post().await.unwrap()), "MISS");
    let graphql_calls = env.upstream().by_resource.get("graphql").map_or(0, |c| c.calls);
    assert_eq!(graphql_calls, 2);
}

#[tokio::test]
async fn an_event_for_one_tenant_never_touches_another_tenants_cache() {
    let a = Env::start(Setup::default()).await;
    let b = Env::start(Setup::default()).await;
    for env in [&a, &b] {
        assert_eq!(cache_status(&env.get(PR).await), "MISS");
    }
    a.worker.worker.on_webhook_event(&event("pull_request", Some(1))).await;
    assert_eq!(cache_status(&a.get(PR).await), "REVALIDATED");
    assert_eq!(cache_status(&b.get(PR).await), "HIT");
    assert_eq!(b.upstream().calls, 1);
    assert_eq!(b.stats()["webhook_events"], json!({}));
}

#[tokio::test]
async fn a_live_webhook_lengthens_covered_ttls_only_and_lapses_after_an_hour() {
    let env = Env::start(Setup::default()).await;
    let ping = WebhookEvent {
        event: "ping".into(),
        ..WebhookEvent::default()
    };
    assert_eq!(env.stats()["webhooks_live"], false);
    env.worker.worker.on_webhook_event(&ping).await;
    assert_eq!(env.stats()["webhooks_live"], true);
    assert_eq!(env.stats()["webhook_events"], json!({}), "a ping is no event");
    let search = "/search/issues?q=repo:octo-org/hello-world";
    // Pull requests (fast, 20 s) are covered; the repository object and searches are not.
    let paths = [PR, REPO_OBJECT, search];
    assert_eq!(statuses(&env, &paths).await, ["MISS"; 3]);
    env.advance(300);
    assert_eq!(statuses(&env, &paths).await, ["HIT", "REVALIDATED", "REVALIDATED"]);
    env.advance(301);
    assert_eq!(cache_status(&env.get(PR).await), "REVALIDATED");
    // An hour without an event or a ping: back to the class TTLs.
    env.advance(3_600);
    assert_eq!(env.stats()["webhooks_live"], false);
    assert_eq!(cache_status(&env.get(PR).await), "REVALIDATED");
    env.advance(21);
    assert_eq!(cache_status(&env.get(PR).await), "REVALIDATED");
}
