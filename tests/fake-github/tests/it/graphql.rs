//! GraphQL: gh's documents, introspection, rateLimit and cost, RATE_LIMITED, mutations.

use serde_json::{Value, json};
use shoal_fake_github::{FakeGithub, Limits, Options};

use crate::{client, fake, get, header};

async fn gql(gh: &FakeGithub, token: &str, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}{path}", gh.url()))
        .header("authorization", format!("bearer {token}"))
        .json(&body)
        .send()
        .await
        .expect("graphql request")
}

/// The document `gh pr list` 2.23 sends (captured from the real client).
const PR_LIST: &str = "fragment pr on PullRequest{number,title,state,url,headRefName,headRepositoryOwner{id,login,...on User{name}},isCrossRepository,isDraft,createdAt}
query PullRequestList($owner: String!, $repo: String!, $limit: Int!, $endCursor: String, $baseBranch: String, $headBranch: String, $state: [PullRequestState!] = OPEN) {
  repository(owner: $owner, name: $repo) {
    pullRequests(states: $state, baseRefName: $baseBranch, headRefName: $headBranch, first: $limit, after: $endCursor, orderBy: {field: CREATED_AT, direction: DESC}) {
      totalCount nodes { ...pr } pageInfo { hasNextPage endCursor }
    }
  }
}";

#[tokio::test]
async fn gh_pr_list_document_is_answered_on_both_paths_and_pages() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    for path in ["/graphql", "/api/graphql"] {
        let vars = json!({"owner": "octo-org", "repo": "hello-world", "limit": 3, "state": ["OPEN"]});
        let r = gql(&gh, &t, path, json!({"query": PR_LIST, "variables": vars})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-resource"), "graphql");
        let body: Value = r.json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        let prs = &body["data"]["repository"]["pullRequests"];
        assert_eq!(prs["nodes"].as_array().unwrap().len(), 3);
        assert_eq!(prs["nodes"][0]["state"], "OPEN");
        assert_eq!(prs["nodes"][0]["headRepositoryOwner"]["login"], "octo-org");
        // Only the fields asked for, nothing more.
        let keys: Vec<&String> = prs["nodes"][0].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 9, "{keys:?}");
        assert_eq!(prs["pageInfo"]["hasNextPage"], true);
        // Walk to the end with endCursor.
        let mut cursor = prs["pageInfo"]["endCursor"].clone();
        let mut seen = 3;
        loop {
            let vars = json!({"owner": "octo-org", "repo": "hello-world", "limit": 3, "endCursor": cursor});
            let b: Value = gql(&gh, &t, path, json!({"query": PR_LIST, "variables": vars}))
                .await
                .json()
                .await
                .unwrap();
            let p = &b["data"]["repository"]["pullRequests"];
            seen += p["nodes"].as_array().unwrap().len();
            if p["pageInfo"]["hasNextPage"] != true {
                assert_eq!(seen as u64, p["totalCount"].as_u64().unwrap());
                break;
            }
            cursor = p["pageInfo"]["endCursor"].clone();
        }
    }
}

#[tokio::test]
async fn introspection_of_issue_fields_works_as_gh_sends_it() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let q = "query Issue_fields{Issue: __type(name: \"Issue\"){fields(includeDeprecated: true){name}}}";
    let body: Value = gql(&gh, &t, "/api/graphql", json!({"query": q}))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = body["data"]["Issue"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"stateReason") && names.contains(&"title"), "{names:?}");
}

#[tokio::test]
async fn rate_limit_reports_cost_and_charges_points_by_the_formula() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    // 1 (issues) + 100 (labels under each of 100 issues) + 100 (comments) = 201 requests -> 2 points.
    let q = "{ rateLimit { cost limit remaining used nodeCount resetAt } repository(owner: \"octo-org\", name: \"hello-world\") {
        issues(first: 100) { nodes { labels(first: 10) { totalCount } comments(first: 5) { totalCount } } } } }";
    let r = gql(&gh, &t, "/graphql", json!({"query": q})).await;
    assert_eq!(header(&r, "x-ratelimit-used"), "2");
    let body: Value = r.json().await.unwrap();
    let rl = &body["data"]["rateLimit"];
    assert_eq!(rl["cost"], 2);
    assert_eq!(rl["limit"], 5000);
    assert_eq!(rl["remaining"], 4998);
    assert_eq!(rl["used"], 2);
    assert_eq!(rl["nodeCount"], 100 + 1000 + 500);
    let s = gh.stats();
    assert_eq!(s.by_resource["graphql"].charged, 2);
    assert_eq!(s.token(&t).charged, 2);
    // A query without connections costs 1.
    let b: Value = gql(
        &gh,
        &t,
        "/graphql",
        json!({"query": "{ viewer { login } rateLimit { cost remaining } }"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(b["data"]["viewer"]["login"], "alice");
    assert_eq!(b["data"]["rateLimit"]["cost"], 1);
    assert_eq!(b["data"]["rateLimit"]["remaining"], 4997);
}

#[tokio::test]
async fn exhausted_graphql_bucket_answers_200_with_rate_limited() {
    let gh = FakeGithub::start(Options {
        limits: Limits {
            graphql: 2,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let t = gh.add_token("alice");
    for _ in 0..2 {
        let b: Value = gql(&gh, &t, "/graphql", json!({"query": "{ viewer { login } }"}))
            .await
            .json()
            .await
            .unwrap();
        assert!(b.get("errors").is_none());
    }
    let r = gql(&gh, &t, "/graphql", json!({"query": "{ viewer { login } }"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["errors"][0]["type"], "RATE_LIMITED");
    let id = gh.user_id("alice").unwrap();
    assert_eq!(
        b["errors"][0]["message"],
        format!("API rate limit exceeded for user ID {id}.")
    );
    let s = gh.stats();
    assert_eq!((s.calls, s.charged, s.rate_limited), (3, 2, 1));
}

#[tokio::test]
async fn mutations_get_githubs_undefined_field_error_and_private_repos_are_not_found() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let b: Value = gql(
        &gh,
        &t,
        "/graphql",
        json!({"query": "mutation { addComment(input: {}) { clientMutationId } }"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        b["errors"][0]["message"],
        "Field 'addComment' doesn't exist on type 'Mutation'"
    );
    assert_eq!(b["errors"][0]["extensions"]["code"], "undefinedField");
    let b: Value = gql(
        &gh,
        &t,
        "/graphql",
        json!({"query": "{ repository(owner: \"octo-org\", name: \"secret-sauce\") { name } }"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(b["data"]["repository"], Value::Null);
    assert_eq!(b["errors"][0]["type"], "NOT_FOUND");
    let anon = client()
        .post(format!("{}/graphql", gh.url()))
        .json(&json!({"query": "{ viewer { login } }"}))
        .send()
        .await;
    assert_eq!(anon.unwrap().status(), 401);
}

#[tokio::test]
async fn aliases_and_fragments_are_answered_exactly_as_asked() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let q = "query { r: repository(owner: \"octo-org\", name: \"hello-world\") { pr: pullRequest(number: 1) { ...f } i: issue(number: 2) { t: title } rel: release(tagName: \"v1.0.0\") { tagName isDraft } } }
             fragment f on PullRequest { n: number state author { login } }";
    let b: Value = gql(&gh, &t, "/graphql", json!({"query": q}))
        .await
        .json()
        .await
        .unwrap();
    assert!(b.get("errors").is_none(), "{b}");
    assert_eq!(b["data"]["r"]["pr"]["n"], 1);
    assert_eq!(b["data"]["r"]["pr"].as_object().unwrap().len(), 3);
    assert!(b["data"]["r"]["i"]["t"].is_string());
    assert_eq!(b["data"]["r"]["rel"]["tagName"], "v1.0.0");
}

#[tokio::test]
async fn search_and_node_answer_ghs_issue_search_and_pr_checks() {
    let gh = fake().await;
    let t = gh.add_token("alice");
    let q = "fragment issue on Issue {number,title,labels(first:100){nodes{name},totalCount},stateReason}
        query IssueSearch($repo: String!, $owner: String!, $type: SearchType!, $limit: Int, $after: String, $query: String!) {
          repository(name: $repo, owner: $owner) { hasIssuesEnabled }
          search(type: $type, last: $limit, after: $after, query: $query) { issueCount nodes { ...issue } pageInfo { hasNextPage endCursor } }
        }";
    let vars = json!({"limit": 30, "owner": "octo-org", "repo": "hello-world", "type": "ISSUE",
                      "query": "label:bug repo:octo-org/hello-world state:open type:issue"});
    let b: Value = gql(&gh, &t, "/api/graphql", json!({"query": q, "variables": vars}))
        .await
        .json()
        .await
        .unwrap();
    assert!(b.get("errors").is_none(), "{b}");
    let nodes = b["data"]["search"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len() as u64, b["data"]["search"]["issueCount"].as_u64().unwrap());
    assert!(nodes.iter().all(|n| {
        n["labels"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "bug")
    }));

    let pr: Value = crate::get(&gh, Some(&t), "/repos/octo-org/hello-world/pulls/1", &[])
        .await
        .json()
        .await
        .unwrap();
    let q = "query($id: ID!) { node(id: $id) { ...on PullRequest { number statusCheckRollup: commits(last: 1) { nodes { commit {
        statusCheckRollup { contexts(first: 100) { nodes { __typename ...on CheckRun { name conclusion isRequired(pullRequestId: $id) } } } } } } } } } }";
    let b: Value = gql(
        &gh,
        &t,
        "/graphql",
        json!({"query": q, "variables": {"id": pr["node_id"]}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(b.get("errors").is_none(), "{b}");
    assert_eq!(b["data"]["node"]["number"], 1);
    let ctxs = &b["data"]["node"]["statusCheckRollup"]["nodes"][0]["commit"]["statusCheckRollup"]["contexts"]["nodes"];
    // Check runs, and a commit status where the commit has one (PR 1's head has a coverage report).
    let kinds: Vec<&str> = ctxs
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["__typename"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["CheckRun", "CheckRun", "CheckRun", "StatusContext"], "{ctxs}");

    let q = "query($ids: [ID!]!) { nodes(ids: $ids) { ...on PullRequest { number } } }";
    let b: Value = gql(
        &gh,
        &t,
        "/graphql",
        json!({"query": q, "variables": {"ids": [pr["node_id"], "MDU6SXNzdWU5OTk5OTk5OTk="]}}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(b["data"]["nodes"], json!([{"number": 1}, null]), "{b}");
}

/// Every request gh 2.23 sent for the everyday read commands (issue 14's list), recorded from the
/// real gh against a logging proxy in front of the fake (`tests/gh-2.23-requests.json`), is
/// answered: GraphQL without errors, REST with a 200.
#[tokio::test]
async fn every_request_gh_2_23_sends_for_the_everyday_reads_is_answered() {
    let gh = fake().await;
    let t = gh.add_token("octocat");
    let recorded: Vec<Value> =
        serde_json::from_str(include_str!("../gh-2.23-requests.json")).expect("the recording parses");
    let mut graphql_docs = 0;
    for r in &recorded {
        let command = r["command"].as_str().unwrap();
        if let Some(body) = r.get("graphql") {
            graphql_docs += 1;
            let b: Value = gql(&gh, &t, "/api/graphql", body.clone()).await.json().await.unwrap();
            assert!(
                b.get("errors").is_none() && b["data"].is_object(),
                "{command}: {}\n{b}",
                body["query"]
            );
        } else {
            let path = format!("/api/v3{}", r["rest"]["path"].as_str().unwrap());
            let accept = r["rest"]["accept"].as_str().unwrap_or("application/json");
            let resp = get(&gh, Some(&t), &path, &[("accept", accept)]).await;
            assert_eq!(resp.status(), 200, "{command}: GET {path}");
        }
    }
    assert!(graphql_docs >= 25, "{graphql_docs} GraphQL documents recorded");
}
