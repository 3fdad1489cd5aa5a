//! Fault injection and gzip.

use serde_json::json;
use shoal_fake_github::{Faults, Resource};

use crate::{client, fake, get, header, remaining};

const REPO: &str = "/repos/octo-org/hello-world";

#[tokio::test]
async fn fail_next_answers_5xx_uncharged_then_recovers() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    gh.set_faults(Faults {
        fail_next: 2,
        error_status: Some(503),
        ..Faults::default()
    });
    for _ in 0..2 {
        let r = get(&gh, Some(&t), REPO, &[]).await;
        assert_eq!(r.status(), 503);
    }
    let r = get(&gh, Some(&t), REPO, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(remaining(&r), 4999);
    let s = gh.stats().token(&t);
    assert_eq!((s.calls, s.faults, s.charged), (3, 2, 1));
}

#[tokio::test]
async fn error_rate_is_deterministic() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    gh.set_faults(Faults {
        error_rate: 0.5,
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&gh, Some(&t), REPO, &[]).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 502, 200, 502, 200, 502]);
    gh.clear_faults();
    assert_eq!(get(&gh, Some(&t), REPO, &[]).await.status(), 200);
}

#[tokio::test]
async fn reset_cuts_the_connection_mid_answer() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    gh.set_faults(Faults {
        reset_next: 1,
        ..Faults::default()
    });
    let outcome = match client()
        .get(format!("{}{REPO}", gh.url()))
        .header("authorization", format!("token {t}"))
        .send()
        .await
    {
        Err(_) => Err(()),
        Ok(r) => r.bytes().await.map(|_| ()).map_err(|_| ()),
    };
    assert!(outcome.is_err(), "the injected reset must surface as a transport error");
    assert_eq!(get(&gh, Some(&t), REPO, &[]).await.status(), 200);
    assert_eq!(gh.stats().faults, 1);
}

#[tokio::test]
async fn faults_are_set_over_the_control_api() {
    let gh = fake().await;
    let url = format!("{}/_fake/faults", gh.url());
    let r = client()
        .post(&url)
        .json(&json!({"fail_next": 1, "error_status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(&gh, None, REPO, &[]).await.status(), 500);
    let bad = client()
        .post(&url)
        .json(&json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(client().delete(&url).send().await.unwrap().status(), 204);
}

#[tokio::test]
async fn gzip_when_asked() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let r = get(&gh, Some(&t), REPO, &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), "gzip");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    let plain = get(&gh, Some(&t), REPO, &[]).await;
    assert!(header(&plain, "content-encoding").is_empty());
}

#[tokio::test]
async fn down_closes_every_connection_unanswered_until_it_is_lifted() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    assert_eq!(get(&gh, Some(&t), REPO, &[]).await.status(), 200);
    gh.set_faults(Faults {
        down_ms: 60_000,
        ..Faults::default()
    });
    for _ in 0..3 {
        let outcome = match client()
            .get(format!("{}{REPO}", gh.url()))
            .header("authorization", format!("token {t}"))
            .send()
            .await
        {
            Err(_) => Err(()),
            Ok(r) => r.bytes().await.map(|_| ()).map_err(|_| ()),
        };
        assert!(outcome.is_err(), "a call got an answer while GitHub was down");
    }
    gh.clear_faults();
    assert_eq!(get(&gh, Some(&t), REPO, &[]).await.status(), 200);
}

#[tokio::test]
async fn down_ends_by_itself() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    gh.set_faults(Faults {
        down_ms: 300,
        ..Faults::default()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let ok = client()
            .get(format!("{}{REPO}", gh.url()))
            .header("authorization", format!("token {t}"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still down after 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_exhausted_account_gets_the_primary_limit_until_its_reset() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let other = gh.add_token("alice");
    // Resets are whole seconds: 2 s leaves at least one to see the bucket spent.
    assert!(gh.exhaust("alice", Resource::Core, 2));
    assert!(!gh.exhaust("nobody-here", Resource::Core, 1));
    for token in [&t, &other] {
        let r = get(&gh, Some(token), REPO, &[]).await;
        assert_eq!((r.status().as_u16(), remaining(&r)), (403, 0));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while get(&gh, Some(&t), REPO, &[]).await.status() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the bucket did not refill at its reset"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = client()
        .post(format!("{}/_fake/rate-limit/exhaust", gh.url()))
        .json(&json!({"login": "alice", "resource": "search", "reset_in_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = get(&gh, Some(&t), "/search/issues?q=repo:octo-org/hello-world", &[]).await;
    assert_eq!(r.status(), 403);
    let bad = client()
        .post(format!("{}/_fake/rate-limit/exhaust", gh.url()))
        .json(&json!({"login": "alice", "resource": "bogus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
