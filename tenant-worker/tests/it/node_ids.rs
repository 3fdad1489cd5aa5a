//! `node(id:)` and `nodes(ids:)` through the pool: admitted only for ids the relay has seen in
//! an answer from an allowed repository (or that carry such a repository's database id).

use crate::support::bundle::{Env, pat};
use serde_json::{Value, json};

const PR_CHECKS: &str = "query PullRequestStatusChecks($id: ID!) { node(id: $id) { ...on PullRequest { number } } }";
const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { ...on PullRequest { number } ...on Issue { number } } }";

async fn env() -> Env {
    Env::start(|gh| vec![pat("bot", &gh.add_token("octo-bot"))]).await
}

/// The node id of pull request #1, read through the relay over REST.
async fn pr_node_id(env: &Env) -> String {
    let (status, _, body) = env.get("/repos/octo-org/hello-world/pulls/1", None).await;
    assert_eq!(status, 200);
    let pr: Value = serde_json::from_slice(&body).unwrap();
    pr["node_id"].as_str().unwrap().to_string()
}

/// The node id of issue #2, read through the relay over GraphQL.
async fn issue_node_id(env: &Env) -> String {
    let q = "{ repository(owner: \"octo-org\", name: \"hello-world\") { issue(number: 2) { id } } }";
    let (status, _, body) = env.graphql(&json!({ "query": q })).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["repository"]["issue"]["id"].as_str().unwrap().to_string()
}

fn graphql_calls(env: &Env) -> u64 {
    env.gh.stats().by_resource.get("graphql").map(|c| c.calls).unwrap_or(0)
}

fn assert_falls_back(status: u16, body: &Value) {
    assert_eq!((status, &body["shoal"]), (403, &json!("fallback_local")), "{body}");
}

#[tokio::test]
async fn a_node_id_seen_in_an_earlier_answer_is_admitted_and_cached() {
    let env = env().await;
    let pr = pr_node_id(&env).await;
    let query = json!({ "query": PR_CHECKS, "variables": { "id": pr } });
    let (status, headers, body) = env.graphql(&query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-shoal-cache"], "MISS");
    assert_eq!(body["data"]["node"]["number"], 1);
    let (status, headers, again) = env.graphql(&query).await;
    assert_eq!((status, &headers["x-shoal-cache"]), (200, &"HIT".parse().unwrap()));
    assert_eq!(body, again);
    assert_eq!(graphql_calls(&env), 1);

    // Ids learned from a GraphQL answer count too, and `nodes` takes several.
    let issue = issue_node_id(&env).await;
    let (status, _, body) = env
        .graphql(&json!({ "query": NODES, "variables": { "ids": [pr, issue] } }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["nodes"], json!([{"number": 1}, {"number": 2}]));
}

#[tokio::test]
async fn an_unknown_node_id_falls_back_and_so_does_nodes_with_one() {
    let env = env().await;
    // A real id of the fake's, never seen through the relay.
    let unseen = "MDExOlB1bGxSZXF1ZXN0MQ==";
    let (status, _, body) = env
        .graphql(&json!({ "query": PR_CHECKS, "variables": { "id": unseen } }))
        .await;
    assert_falls_back(status, &body);
    let pr = pr_node_id(&env).await;
    let (status, _, body) = env
        .graphql(&json!({ "query": NODES, "variables": { "ids": [pr, "I_kwDOunknown"] } }))
        .await;
    assert_falls_back(status, &body);
    assert_eq!(graphql_calls(&env), 0);
}

#[tokio::test]
async fn a_node_id_under_an_owner_no_longer_allowed_falls_back() {
    let env = env().await;
    let pr = pr_node_id(&env).await;
    let mut next = env.bundle.clone();
    next.version += 1;
    next.policy.allowed_owners = vec!["someone-else".into()];
    env.relay.worker.swap_bundle(&next).unwrap();
    let (status, _, body) = env
        .graphql(&json!({ "query": PR_CHECKS, "variables": { "id": pr } }))
        .await;
    assert_falls_back(status, &body);
    assert!(body["message"].as_str().unwrap().contains("octo-org"), "{body}");
    assert_eq!(graphql_calls(&env), 0);
}
