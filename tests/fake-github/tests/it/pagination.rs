//! Link pagination with absolute URLs on the fake's own host.

use serde_json::Value;

use crate::{fake, get, header};

fn next_link(link: &str) -> Option<String> {
    link.split(',').find(|p| p.contains("rel=\"next\"")).map(|p| {
        let p = p.trim();
        p[p.find('<').unwrap() + 1..p.find('>').unwrap()].to_string()
    })
}

#[tokio::test]
async fn link_headers_walk_every_page() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let all: Value = get(
        &gh,
        Some(&t),
        "/repos/octo-org/hello-world/issues?state=all&per_page=100",
        &[],
    )
    .await
    .json()
    .await
    .unwrap();
    let total = all.as_array().unwrap().len();
    assert!(total >= 24);
    let mut url = format!("{}/repos/octo-org/hello-world/issues?state=all&per_page=5", gh.url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = get(&gh, Some(&t), &url, &[]).await;
        assert_eq!(r.status(), 200);
        let link = header(&r, "link");
        let page: Value = r.json().await.unwrap();
        seen.extend(page.as_array().unwrap().iter().map(|i| i["number"].as_u64().unwrap()));
        pages += 1;
        match next_link(&link) {
            Some(next) => {
                assert!(next.starts_with(&format!("{}/repositories/", gh.url())), "{next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, total.div_ceil(5));
    assert_eq!(seen.len(), total);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total);
}

#[tokio::test]
async fn ghes_prefix_is_kept_in_links_and_first_page_has_next_and_last() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let r = get(
        &gh,
        Some(&t),
        "/api/v3/repos/octo-org/hello-world/commits?per_page=10",
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    let link = header(&r, "link");
    assert!(link.contains(&format!("<{}/api/v3/repositories/", gh.url())), "{link}");
    assert!(link.contains("rel=\"next\"") && link.contains("rel=\"last\""));
    assert!(!link.contains("rel=\"prev\""));
    let body: Value = r.json().await.unwrap();
    assert!(
        body[0]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/api/v3/repos/", gh.url()))
    );
}
