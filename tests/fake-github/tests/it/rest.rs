//! REST routes and shapes.

use serde_json::Value;

use crate::{fake, get, header};

#[tokio::test]
async fn repo_routes_answer_under_root_api_v3_and_repositories_id() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let repo: Value = get(&gh, Some(&t), "/repos/octo-org/hello-world", &[])
        .await
        .json()
        .await
        .unwrap();
    let id = repo["id"].as_u64().unwrap();
    assert_eq!(repo["full_name"], "octo-org/hello-world");
    for path in [
        "/api/v3/repos/octo-org/hello-world/pulls".to_string(),
        format!("/repositories/{id}/pulls"),
        format!("/api/v3/repositories/{id}/pulls/1/files"),
    ] {
        let r = get(&gh, Some(&t), &path, &[]).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "x-github-media-type"), "github.v3; format=json");
        assert!(!header(&r, "x-github-request-id").is_empty());
    }
}

#[tokio::test]
async fn every_listed_endpoint_answers() {
    let gh = fake().await;
    let t = gh.add_token("octocat");
    let sha = {
        let c: Value = get(&gh, Some(&t), "/repos/octo-org/hello-world/commits", &[])
            .await
            .json()
            .await
            .unwrap();
        c[0]["sha"].as_str().unwrap().to_string()
    };
    let run_id = {
        let r: Value = get(&gh, Some(&t), "/repos/octo-org/hello-world/actions/runs", &[])
            .await
            .json()
            .await
            .unwrap();
        r["workflow_runs"][0]["id"].as_u64().unwrap()
    };
    let paths = [
        "/repos/octo-org/hello-world/pulls/1/commits".to_string(),
        "/repos/octo-org/hello-world/pulls/1/reviews".into(),
        "/repos/octo-org/hello-world/issues".into(),
        "/repos/octo-org/hello-world/issues/2/comments".into(),
        format!("/repos/octo-org/hello-world/commits/{sha}"),
        format!("/repos/octo-org/hello-world/commits/{sha}/check-runs"),
        "/repos/octo-org/hello-world/commits/main/check-runs".into(),
        format!("/repos/octo-org/hello-world/actions/runs/{run_id}"),
        "/repos/octo-org/hello-world/releases".into(),
        "/repos/octo-org/hello-world/releases/latest".into(),
        "/repos/octo-org/hello-world/contents/README.md".into(),
        "/repos/octo-org/hello-world/contents/src".into(),
        "/repos/octo-org/hello-world/readme".into(),
        "/repos/octo-org/hello-world/compare/v1.0.0...main".into(),
        "/user/orgs".into(),
        "/orgs/octo-org".into(),
        "/user/memberships/orgs/octo-org".into(),
        "/meta".into(),
        "/users/octocat".into(),
    ];
    for p in &paths {
        let r = get(&gh, Some(&t), p, &[]).await;
        assert_eq!(r.status(), 200, "{p}");
    }
    let m: Value = get(&gh, Some(&t), "/user/memberships/orgs/octo-org", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(m["role"], "admin");
    assert_eq!(m["state"], "active");
    assert_eq!(
        get(&gh, Some(&t), "/orgs/octo-org/members/monalisa", &[])
            .await
            .status(),
        204
    );
    assert_eq!(
        get(&gh, Some(&t), "/orgs/octo-org/members/alice", &[]).await.status(),
        404
    );
    gh.add_org_member("octo-org", "alice", "member");
    assert_eq!(
        get(&gh, Some(&t), "/orgs/octo-org/members/alice", &[]).await.status(),
        204
    );
}

#[tokio::test]
async fn private_repo_is_404_not_403_for_a_token_that_cannot_see_it() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let r = get(&gh, Some(&t), "/repos/octo-org/secret-sauce/pulls", &[]).await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Not Found");
    assert_eq!(get(&gh, None, "/repos/octo-org/secret-sauce", &[]).await.status(), 404);
    gh.add_org_member("octo-org", "alice", "member");
    assert_eq!(
        get(&gh, Some(&t), "/repos/octo-org/secret-sauce/pulls", &[])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn diff_and_patch_media_types_on_pulls_and_commits() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let r = get(
        &gh,
        Some(&t),
        "/repos/octo-org/hello-world/pulls/1",
        &[("accept", "application/vnd.github.diff")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-github-media-type"), "github.v3; param=diff; format=diff");
    assert!(r.text().await.unwrap().starts_with("diff --git a/"));
    let r = get(
        &gh,
        Some(&t),
        "/repos/octo-org/hello-world/commits/main",
        &[("accept", "application/vnd.github.v3.patch")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with("From "));
}

#[tokio::test]
async fn renamed_repo_answers_301_and_tarball_302() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let r = get(&gh, Some(&t), "/repos/octo-org/hello-old", &[]).await;
    assert_eq!(r.status(), 301);
    assert!(header(&r, "location").contains("/repositories/"));
    let r = get(&gh, Some(&t), "/repos/octo-org/hello-world/tarball/v1.0.0", &[]).await;
    assert_eq!(r.status(), 302);
    assert!(!header(&r, "location").is_empty());
}

#[tokio::test]
async fn installation_style_user_endpoints_need_a_user_token() {
    let gh = fake().await;
    let r = get(&gh, None, "/user", &[]).await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn author_me_in_a_search_is_the_tokens_own_login() {
    let gh = fake().await;
    for login in ["monalisa", "hubot"] {
        let t = gh.add_token(login);
        let found: Value = get(
            &gh,
            Some(&t),
            "/search/issues?q=repo%3Aocto-org%2Fhello-world+author%3A%40me",
            &[],
        )
        .await
        .json()
        .await
        .unwrap();
        let items = found["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{login}");
        assert!(items.iter().all(|i| i["user"]["login"] == login), "{login}");
    }
}
