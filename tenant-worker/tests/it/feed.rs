//! Following the webhook change feed in scheduled mode, against a stand-in for the control
//! plane's `GET /internal/v1/events`: each event reaches the invalidation seam (counted per
//! repository), and a worker restarted with its data dir resumes after its kept cursor.

use crate::support::bundle::{Env, pat};
use axum::Json;
use axum::extract::{Query, State};
use shoal_common::protocol::{EventPage, PROTOCOL_VERSION, WebhookEvent};
use shoal_common::{Secret, WorkerId};
use shoal_worker::control::{ControlPlane, events_cursor_file, follow_events};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Feed = Arc<Mutex<Vec<WebhookEvent>>>;

/// The control plane's feed, minus signing (checked on its side) and long polling.
async fn serve_feed(feed: Feed) -> String {
    async fn events(State(feed): State<Feed>, Query(q): Query<HashMap<String, u64>>) -> Json<EventPage> {
        let all = feed.lock().unwrap().clone();
        let end = all.last().map_or(0, |e| e.cursor);
        let Some(&after) = q.get("after") else {
            return Json(EventPage {
                protocol_version: PROTOCOL_VERSION,
                events: Vec::new(),
                next: end,
            });
        };
        let events: Vec<WebhookEvent> = all.into_iter().filter(|e| e.cursor > after).take(100).collect();
        if events.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let next = events.last().map_or(after, |e| e.cursor);
        Json(EventPage {
            protocol_version: PROTOCOL_VERSION,
            events,
            next,
        })
    }
    let app = axum::Router::new()
        .route("/internal/v1/events", axum::routing::get(events))
        .with_state(feed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn push(feed: &Feed, event: &str, repo: &str) {
    let mut f = feed.lock().unwrap();
    let cursor = f.last().map_or(1, |e| e.cursor + 1);
    f.push(WebhookEvent {
        cursor,
        event: event.into(),
        delivery_id: format!("d-{cursor}"),
        repository: Some(repo.into()),
        ..WebhookEvent::default()
    });
}

/// Events counted for `repo`, as the stats document shows them.
fn counted(env: &Env, repo: &str) -> u64 {
    env.stats()["webhook_events"][repo].as_u64().unwrap_or(0)
}

async fn counted_within(env: &Env, repo: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let got = counted(env, repo);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{repo}: {got} events counted, want {want}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_restarted_worker_resumes_after_its_kept_cursor_and_misses_none_of_a_burst() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let worker = env.relay.worker.clone();
    let feed = Feed::default();
    push(&feed, "push", "octo-org/before");
    let cp = Arc::new(ControlPlane::new(&serve_feed(feed.clone()).await, WorkerId::new(), Secret::new("s")).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cursor_file = events_cursor_file(dir.path());

    // With nothing kept, the worker starts at the feed's end: the older event is not replayed.
    let follow = tokio::spawn(follow_events(worker.clone(), cp.clone(), Some(cursor_file.clone())));
    tokio::time::sleep(Duration::from_millis(100)).await;
    push(&feed, "pull_request", "octo-org/app");
    push(&feed, "ping", "octo-org/app");
    counted_within(&env, "octo-org/app", 1).await;
    assert_eq!(counted(&env, "octo-org/before"), 0);
    follow.abort();

    // A burst while the worker is down, then a restart from the same data dir.
    for _ in 0..150 {
        push(&feed, "check_run", "octo-org/app");
    }
    let follow = tokio::spawn(follow_events(worker.clone(), cp, Some(cursor_file.clone())));
    counted_within(&env, "octo-org/app", 151).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        counted(&env, "octo-org/app"),
        151,
        "no event counted twice, pings skipped"
    );
    assert_eq!(std::fs::read_to_string(&cursor_file).unwrap(), "153");
    follow.abort();
}
