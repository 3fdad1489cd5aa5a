//! Per-token ETags, 304s that are not charged, Last-Modified across tokens, touch.

use crate::{fake, get, header, remaining};

const PULL: &str = "/repos/octo-org/hello-world/pulls/1";

#[tokio::test]
async fn a_304_leaves_remaining_unchanged_and_is_not_charged() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let first = get(&gh, Some(&t), PULL, &[]).await;
    assert_eq!(first.status(), 200);
    let etag = header(&first, "etag");
    assert!(etag.starts_with("W/\""), "{etag}");
    let before = remaining(&first);
    for _ in 0..3 {
        let r = get(&gh, Some(&t), PULL, &[("if-none-match", &etag)]).await;
        assert_eq!(r.status(), 304);
        assert_eq!(remaining(&r), before);
        assert_eq!(header(&r, "etag"), etag);
    }
    let s = gh.stats();
    assert_eq!((s.calls, s.charged, s.not_modified), (4, 1, 3));
    assert_eq!(s.token(&t).not_modified, 3);
}

#[tokio::test]
async fn etags_are_per_token_and_another_tokens_etag_gets_a_charged_200() {
    let gh = fake().await;
    let a = gh.add_token("alice");
    let b = gh.add_token("alice");
    let ra = get(&gh, Some(&a), PULL, &[]).await;
    let rb = get(&gh, Some(&b), PULL, &[]).await;
    let (ea, eb) = (header(&ra, "etag"), header(&rb, "etag"));
    assert_ne!(ea, eb);
    let r = get(&gh, Some(&b), PULL, &[("if-none-match", &ea)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(gh.stats().charged, 3);
    // The ETag follows sha256(Accept:Authorization:Cookie:body).
    let body = get(&gh, Some(&a), PULL, &[]).await.bytes().await.unwrap();
    let mut h = reqwest::header::HeaderMap::new();
    // reqwest sends `accept: */*` by default, and Accept is part of the hash.
    h.insert("accept", "*/*".parse().unwrap());
    h.insert("authorization", format!("token {a}").parse().unwrap());
    assert_eq!(shoal_fake_github::etag_for(&h, &body), ea);
    assert!(header(&ra, "vary").contains("Authorization"));
}

#[tokio::test]
async fn etag_depends_on_accept_header() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let plain = header(&get(&gh, Some(&t), PULL, &[]).await, "etag");
    let v3 = header(
        &get(&gh, Some(&t), PULL, &[("accept", "application/vnd.github+json")]).await,
        "etag",
    );
    assert_ne!(plain, v3);
}

#[tokio::test]
async fn if_modified_since_works_across_tokens_and_touch_changes_validators() {
    let gh = fake().await;
    let a = gh.add_token("alice");
    let b = gh.add_token("bob");
    let first = get(&gh, Some(&a), PULL, &[]).await;
    let lm = header(&first, "last-modified");
    let etag = header(&first, "etag");
    assert!(lm.ends_with(" GMT"), "{lm}");
    let r = get(&gh, Some(&b), PULL, &[("if-modified-since", &lm)]).await;
    assert_eq!(r.status(), 304);
    assert_eq!(gh.stats().token(&b).charged, 0);

    gh.touch("octo-org/hello-world", "pulls/1");
    let r = get(&gh, Some(&b), PULL, &[("if-modified-since", &lm)]).await;
    assert_eq!(r.status(), 200);
    assert_ne!(header(&r, "last-modified"), lm);
    let r = get(&gh, Some(&a), PULL, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), 200);
    assert_ne!(header(&r, "etag"), etag);
}

#[tokio::test]
async fn unauthenticated_304s_are_charged() {
    let gh = fake().await;
    let first = get(&gh, None, PULL, &[]).await;
    let etag = header(&first, "etag");
    let r = get(&gh, None, PULL, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), 304);
    assert_eq!(remaining(&r), 58);
}
