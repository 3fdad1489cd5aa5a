//! Fields that describe the viewer are the caller's, never the pooled identity's: the pool
//! (octocat's token) reads PR 1's comments, where the fake answers `viewerDidAuthor` true for
//! octocat's own comment; each caller gets true only for their own, from one upstream call, on
//! every hit. Any other `viewer...` field hands the query back.

use crate::support::bundle::{env_with_callers, send};
use serde_json::json;

const COMMENTS: &str = "query C($owner: String!, $repo: String!) { repository(owner: $owner, name: $repo) { pullRequest(number: 1) { comments(first: 100) { nodes { author { login } viewerDidAuthor } } } } }";

/// `(author, viewerDidAuthor)` of each comment.
fn did_author(body: &serde_json::Value) -> Vec<(String, bool)> {
    body["data"]["repository"]["pullRequest"]["comments"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|c| {
            (
                c["author"]["login"].as_str().unwrap().to_string(),
                c["viewerDidAuthor"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_pooled_identitys_own_view_never_reaches_a_caller() {
    let (env, tokens) = env_with_callers(&["monalisa", "hubot"]).await;
    let url = format!("{}/graphql", env.relay.url());
    let body = json!({"query": COMMENTS, "variables": {"owner": "octo-org", "repo": "hello-world"}});

    // What the pooled identity itself sees: its own comment is marked as its own.
    let pooled = env.gh.add_token("octocat");
    let direct: serde_json::Value = env
        .client
        .post(format!("{}/graphql", env.gh.url()))
        .header("authorization", format!("bearer {pooled}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(did_author(&direct).contains(&("octocat".into(), true)), "{direct}");
    let before = env.gh.stats().by_resource["graphql"].calls;

    // Repeats are built once per caller and entry: each still gets their own answer.
    for (login, token, cache) in [
        ("monalisa", &tokens[0], "MISS"),
        ("hubot", &tokens[1], "HIT"),
        ("monalisa", &tokens[0], "HIT"),
        ("hubot", &tokens[1], "HIT"),
    ] {
        let (status, served, answer) = send(env.client.post(&url).json(&body), token).await;
        assert_eq!((status, served.as_str()), (200, cache), "{answer}");
        let seen = did_author(&answer);
        assert!(!seen.is_empty());
        for (author, mine) in seen {
            assert_eq!(
                mine,
                author == login,
                "{login} sees {author}'s comment as theirs: {mine}"
            );
        }
    }
    assert_eq!(env.gh.stats().by_resource["graphql"].calls, before + 1);

    // Fields only the caller's own credentials can answer are handed back, before any upstream call.
    for q in [
        "{ repository(owner: \"octo-org\", name: \"hello-world\") { viewerPermission } }",
        "{ repository(owner: \"octo-org\", name: \"hello-world\") { pullRequest(number: 1) { viewerCanUpdate } } }",
        "{ repository(owner: \"octo-org\", name: \"hello-world\") { pullRequest(number: 1) { comments(first: 1) { nodes { viewerDidAuthor } } } } }",
    ] {
        let (status, _, answer) = send(env.client.post(&url).json(&json!({"query": q})), &tokens[0]).await;
        assert_eq!(
            (status, &answer["shoal"]),
            (403, &json!("fallback_local")),
            "{q}: {answer}"
        );
    }
    assert_eq!(env.gh.stats().by_resource["graphql"].calls, before + 1);
}
