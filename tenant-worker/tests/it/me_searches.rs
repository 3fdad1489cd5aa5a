//! `@me` in searches and in `issues(filterBy:)` is the caller, never the pooled identity: resolved
//! to the caller's login before the pool sends it, so each caller's answer is cached apart.

use crate::support::bundle::{Env, env_with_callers, send};
use serde_json::{Value, json};

const REST: &str = "/search/issues?q=repo%3Aocto-org%2Fhello-world+author%3A%40me";
const GRAPHQL: &str = "query S($q: String!) { search(query: $q, type: ISSUE, first: 100) { issueCount nodes { ...on Issue { author { login } } ...on PullRequest { author { login } } } } }";

async fn rest(env: &Env, token: &str) -> (u16, String, Value) {
    send(env.client.get(format!("{}{REST}", env.relay.url())), token).await
}

async fn graphql(env: &Env, token: &str) -> (u16, String, Value) {
    let body = json!({"query": GRAPHQL, "variables": {"q": "repo:octo-org/hello-world author:@me"}});
    send(
        env.client.post(format!("{}/graphql", env.relay.url())).json(&body),
        token,
    )
    .await
}

/// The authors of a REST search answer's items.
fn rest_authors(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["user"]["login"].as_str().unwrap().to_string())
        .collect()
}

fn graphql_authors(body: &Value) -> Vec<String> {
    body["data"]["search"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["author"]["login"].as_str().unwrap().to_string())
        .collect()
}

fn assert_only_by(authors: &[String], login: &str) {
    assert!(
        !authors.is_empty() && authors.iter().all(|a| a == login),
        "{login}: {authors:?}"
    );
}

#[tokio::test]
async fn two_callers_author_me_searches_go_upstream_as_their_own_logins_and_are_cached_apart() {
    let (env, tokens) = env_with_callers(&["monalisa", "hubot"]).await;
    for (login, token) in ["monalisa", "hubot"].iter().zip(&tokens) {
        let (status, cache, body) = rest(&env, token).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"), "{body}");
        assert_only_by(&rest_authors(&body), login);

        let (status, cache, body) = graphql(&env, token).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"), "{body}");
        assert_only_by(&graphql_authors(&body), login);
    }
    // Each caller's answer is cached under their own login.
    for (login, token) in ["monalisa", "hubot"].iter().zip(&tokens) {
        let (_, cache, body) = rest(&env, token).await;
        assert_eq!(cache, "HIT");
        assert!(rest_authors(&body).iter().all(|a| a == login));
        let (_, cache, body) = graphql(&env, token).await;
        assert_eq!(cache, "HIT");
        assert!(graphql_authors(&body).iter().all(|a| a == login));
    }
    let up = env.gh.stats();
    assert_eq!(up.by_resource["search"].calls, 2);
    assert_eq!(up.by_resource["graphql"].calls, 2);
}

#[tokio::test]
async fn a_caller_whose_login_is_unknown_searching_for_me_falls_back() {
    let (env, tokens) = env_with_callers(&[""]).await;
    let (status, _, body) = rest(&env, &tokens[0]).await;
    assert_eq!((status, &body["shoal"]), (403, &json!("fallback_local")), "{body}");
    let (status, _, body) = graphql(&env, &tokens[0]).await;
    assert_eq!((status, &body["shoal"]), (403, &json!("fallback_local")), "{body}");
    assert_eq!(env.gh.stats().calls, 0);
}

#[tokio::test]
async fn created_by_me_in_filter_by_is_each_callers_own_login() {
    let (env, tokens) = env_with_callers(&["mojombo", "defunkt", ""]).await;
    let q = "query I($f: IssueFilters) { repository(owner: \"octo-org\", name: \"hello-world\") { issues(first: 100, filterBy: $f) { nodes { author { login } } } } }";
    let body = json!({"query": q, "variables": {"f": {"createdBy": "@me"}}});
    let url = format!("{}/graphql", env.relay.url());
    for (login, token) in ["mojombo", "defunkt"].iter().zip(&tokens) {
        let (status, cache, answer) = send(env.client.post(&url).json(&body), token).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"), "{answer}");
        let authors: Vec<String> = answer["data"]["repository"]["issues"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["author"]["login"].as_str().unwrap().to_string())
            .collect();
        assert_only_by(&authors, login);
    }
    let (status, _, answer) = send(env.client.post(&url).json(&body), &tokens[2]).await;
    assert_eq!((status, &answer["shoal"]), (403, &json!("fallback_local")), "{answer}");
    assert_eq!(env.gh.stats().by_resource["graphql"].calls, 2);
}
