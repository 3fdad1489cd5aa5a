//! GraphQL through the relay: caching, coalescing, refusals (`fallback_local`), the caller's own
//! `viewer { login }`, and GraphQL points per identity.

use crate::support::TWO_POINTS;
use crate::support::bundle::{Env, pat};
use serde_json::json;

const PR_TITLE: &str = "query PullRequestTitle($owner: String!, $repo: String!, $n: Int!) { repository(owner: $owner, name: $repo) { pullRequest(number: $n) { title number } } }";

fn vars() -> serde_json::Value {
    json!({"owner": "octo-org", "repo": "hello-world", "n": 1})
}

fn graphql_calls(env: &Env) -> u64 {
    env.gh.stats().by_resource.get("graphql").map(|c| c.calls).unwrap_or(0)
}

#[tokio::test]
async fn a_repeated_graphql_query_costs_one_upstream_call() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let (s1, h1, b1) = env.graphql(&json!({"query": PR_TITLE, "variables": vars()})).await;
    assert_eq!(s1, 200, "{b1}");
    assert_eq!(h1["x-shoal-cache"], "MISS");
    assert_eq!(b1["data"]["repository"]["pullRequest"]["number"], 1);
    // Same query, other formatting, variables in another order, other layout: one cache entry.
    let reformatted = PR_TITLE.replace(' ', "  ").replace("{", "{\n");
    let (s2, h2, b2) = env
        .graphql_at(
            "/api/graphql",
            &json!({"variables": {"n": 1, "repo": "hello-world", "owner": "octo-org"}, "query": reformatted}),
        )
        .await;
    assert_eq!(s2, 200);
    assert_eq!(h2["x-shoal-cache"], "HIT");
    assert_eq!(b1, b2);
    assert_eq!(graphql_calls(&env), 1);
    // Another variable value is another query.
    let (s3, h3, _) = env
        .graphql(&json!({"query": PR_TITLE, "variables": {"owner": "octo-org", "repo": "hello-world", "n": 2}}))
        .await;
    assert_eq!(s3, 200);
    assert_eq!(h3["x-shoal-cache"], "MISS");
    assert_eq!(graphql_calls(&env), 2);
}

#[tokio::test]
async fn concurrent_identical_queries_share_one_upstream_call() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let body = json!({"query": PR_TITLE, "variables": vars()});
    let results = futures::future::join_all((0..8).map(|_| env.graphql(&body))).await;
    assert!(results.iter().all(|(s, _, _)| *s == 200));
    assert_eq!(graphql_calls(&env), 1);
}

#[tokio::test]
async fn a_mutation_is_never_sent_upstream() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    for query in [
        "mutation { addComment(input: {subjectId: \"x\", body: \"hi\"}) { clientMutationId } }",
        "mutation M { ...F } fragment F on Mutation { closeIssue(input: {issueId: \"1\"}) { clientMutationId } }",
        "subscription { issueUpdated { id } }",
    ] {
        let (status, _, body) = env.graphql(&json!({"query": query})).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["shoal"], "fallback_local");
        assert!(body["message"].as_str().unwrap().contains("fallback_local"), "{body}");
        assert!(body["documentation_url"].is_string());
    }
    assert_eq!(env.gh.stats().calls, 0);
}

#[tokio::test]
async fn a_document_mixing_a_query_and_a_mutation_follows_the_selected_operation() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let doc = format!(
        "{PR_TITLE}\nmutation Close($id: ID!) {{ closeIssue(input: {{issueId: $id}}) {{ clientMutationId }} }}"
    );
    let (status, _, body) = env
        .graphql(&json!({"query": doc, "operationName": "Close", "variables": {"id": "I_1"}}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["shoal"], "fallback_local");
    assert_eq!(env.gh.stats().calls, 0);
    let (status, _, body) = env
        .graphql(&json!({"query": doc, "operationName": "PullRequestTitle", "variables": vars()}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["repository"]["pullRequest"]["number"], 1);
    assert_eq!(graphql_calls(&env), 1);
    // Without operationName the document is ambiguous: a clear 400, nothing sent.
    let (status, _, body) = env.graphql(&json!({"query": doc, "variables": vars()})).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("operationName"));
    assert_eq!(graphql_calls(&env), 1);
}

#[tokio::test]
async fn viewer_login_is_the_callers_own_and_other_viewer_reads_fall_back() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let (status, _, body) = env.graphql(&json!({"query": "query UserCurrent{viewer{login}}"})).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"data": {"viewer": {"login": "alice"}}}));
    let (status, _, body) = env
        .graphql(&json!({"query": "{ viewer { login repositories(first: 5) { nodes { name } } } }"}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["shoal"], "fallback_local");
    assert_eq!(env.gh.stats().calls, 0, "viewer never reaches a pooled identity");
}

#[tokio::test]
async fn roots_outside_the_tenants_owners_fall_back() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let (status, _, body) = env
        .graphql(&json!({"query": PR_TITLE, "variables": {"owner": "someone-else", "repo": "x", "n": 1}}))
        .await;
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("someone-else"));
    let (status, _, _) = env
        .graphql(&json!({"query": "{ user(login: \"octocat\") { name } }"}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(env.gh.stats().calls, 0);
}

#[tokio::test]
async fn introspection_is_relayed_once_and_cached() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let q = json!({"query": "query { __type(name: \"Repository\") { name fields { name } } }"});
    let (s1, _, b1) = env.graphql(&q).await;
    assert_eq!(s1, 200, "{b1}");
    assert_eq!(b1["data"]["__type"]["name"], "Repository");
    // Well past the data TTL, still a hit.
    env.clock.advance(std::time::Duration::from_secs(3600));
    let (_, h2, _) = env.graphql(&q).await;
    assert_eq!(h2["x-shoal-cache"], "HIT");
    assert_eq!(graphql_calls(&env), 1);
}

#[tokio::test]
async fn graphql_point_spend_is_tracked_per_identity() {
    let mut tokens = Vec::new();
    let env = Env::start(|gh| {
        tokens.push(gh.add_token("octo-bot"));
        tokens.push(gh.add_token("hubot"));
        vec![pat("bot", &tokens[0]), pat("hu", &tokens[1])]
    })
    .await;
    // One cheap query per identity first (the coordinator then knows each account's window), then
    // heavy ones: with `rateLimit { cost }` the body says the points, without it the headers do.
    for n in 1..=2 {
        let (s, _, b) = env
            .graphql(&json!({"query": PR_TITLE, "variables": {"owner": "octo-org", "repo": "hello-world", "n": n}}))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let with_cost = TWO_POINTS.replace(
        "pullRequests(first: 100)",
        "rateLimit { cost } pullRequests(first: 100)",
    );
    let with_cost = with_cost.replace(
        "{ repository(owner: $owner, name: $repo) { rateLimit { cost }",
        "{ rateLimit { cost } repository(owner: $owner, name: $repo) {",
    );
    for q in [TWO_POINTS, &with_cost] {
        for repo in ["hello-world", "Hello-World"] {
            let (s, _, b) = env
                .graphql(&json!({"query": q, "variables": {"owner": "octo-org", "repo": repo}}))
                .await;
            assert_eq!(s, 200, "{b}");
        }
    }
    let fake = env.gh.stats();
    let mut total = 0;
    for (name, token) in [("bot", &tokens[0]), ("hu", &tokens[1])] {
        let charged = fake
            .token(token)
            .by_resource
            .get("graphql")
            .map(|c| c.charged)
            .unwrap_or(0);
        let ours = env.identity(name)["upstream"]["graphql"]["units"].as_u64().unwrap_or(0);
        assert_eq!(ours, charged, "identity {name}");
        total += charged;
        // The coordinator's view of the account matches GitHub's.
        let remaining = env.identity(name)["budget"]["graphql"]["remaining"].as_u64().unwrap();
        assert_eq!(remaining, 5000 - charged, "identity {name}");
    }
    // 2 cheap queries (1 point each) + 4 heavy ones (2 points each).
    assert_eq!(total, 2 + 4 * 2);
}

#[tokio::test]
async fn a_stale_answer_is_served_when_github_fails_after_the_ttl() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let body = json!({"query": PR_TITLE, "variables": vars()});
    let (_, _, fresh) = env.graphql(&body).await;
    env.clock.advance(std::time::Duration::from_secs(
        crate::support::bundle::GRAPHQL_TTL_SECS + 1,
    ));
    env.gh.set_faults(shoal_fake_github::Faults {
        fail_next: 1,
        error_status: Some(503),
        ..Default::default()
    });
    let (status, headers, stale) = env.graphql(&body).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-shoal-cache"], "STALE");
    assert_eq!(stale, fresh);
    assert_eq!(graphql_calls(&env), 2);
}

#[tokio::test]
async fn graphql_queries_take_the_upstream_concurrency_slot() {
    let mut settings = shoal_worker::config::Settings::for_tests();
    settings.max_upstream_concurrency = 1;
    settings.max_upstream_queue = 0;
    let env = Env::start_with_settings(
        shoal_fake_github::Options::default(),
        crate::support::bundle::policy(),
        settings,
        |gh| vec![pat("bot", &gh.add_token("octo-bot"))],
    )
    .await;
    env.gh.set_faults(shoal_fake_github::Faults {
        latency_ms: 300,
        ..Default::default()
    });
    let ask = |n: u64| json!({"query": PR_TITLE, "variables": {"owner": "octo-org", "repo": "hello-world", "n": n}});
    let (one, two) = (ask(1), ask(2));
    let (a, b) = tokio::join!(env.graphql(&one), env.graphql(&two));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    // One slot and no queue: while one query is upstream, the other is told the relay is busy.
    assert_eq!(statuses, [200, 503], "{} / {}", a.2, b.2);
    assert_eq!(graphql_calls(&env), 1);
}

#[tokio::test]
async fn graphql_points_exhausted_on_every_identity_is_githubs_403_with_retry_after() {
    let opts = shoal_fake_github::Options {
        limits: shoal_fake_github::Limits {
            graphql: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let env = Env::start_with(opts, crate::support::bundle::policy(), |gh| {
        vec![pat("bot", &gh.add_token("octo-bot"))]
    })
    .await;
    let (status, _, _) = env.graphql(&json!({"query": PR_TITLE, "variables": vars()})).await;
    assert_eq!(status, 200);
    let (status, headers, body) = env
        .graphql(&json!({"query": PR_TITLE, "variables": {"owner": "octo-org", "repo": "hello-world", "n": 2}}))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert!(body["message"].as_str().unwrap().contains("rate limit"));
    // The coordinator knows the account is empty: no further call is made.
    let (status, _, _) = env
        .graphql(&json!({"query": PR_TITLE, "variables": {"owner": "octo-org", "repo": "hello-world", "n": 3}}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(graphql_calls(&env), 1);
}

#[tokio::test]
async fn the_enterprise_api_root_reports_the_scopes_gh_wants() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let (status, headers, body) = env.get("/api/v3/", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-oauth-scopes"], "repo, read:org, gist");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(v["current_user_url"].as_str().unwrap().ends_with("/api/v3/user"));
    assert_eq!(env.gh.stats().calls, 0);
    let r = env
        .client
        .get(format!("{}/api/v3/", env.relay.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// The shape of gh's RepositoryNetwork query (run when it resolves a checkout's remotes; the fake
/// has no `parent`, so it is left out here).
const REPO_NETWORK: &str = "query RepositoryNetwork {\n\tviewer { login }\n\trepo_000: repository(owner: \"octo-org\", name: \"hello-world\") {\n\t\t...repo\n\t}\n}\nfragment repo on Repository {\n\tid\n\tname\n\towner { login }\n\tdefaultBranchRef {\n\t\tname\n\t}\n\tisPrivate\n}";

#[tokio::test]
async fn viewer_login_beside_repository_fields_is_the_callers_and_the_rest_is_pooled_and_cached() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await;
    let body = json!({"query": REPO_NETWORK});
    let (status, headers, first) = env.graphql(&body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(headers["x-shoal-cache"], "MISS");
    assert_eq!(first["data"]["viewer"], json!({"login": "alice"}), "{first}");
    assert_eq!(first["data"]["repo_000"]["name"], "hello-world");
    let (_, headers, second) = env.graphql(&body).await;
    assert_eq!(headers["x-shoal-cache"], "HIT");
    assert_eq!(second, first);
    assert_eq!(graphql_calls(&env), 1);
}
