//! Fault injection and gzip.

use serde_json::json;
use shoal_fake_github::Faults;

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
