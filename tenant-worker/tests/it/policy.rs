//! The tenant's search rule, one reading of a query's owner qualifiers for REST and GraphQL
//! search alike.

use crate::support::bundle::{Env, pat};
use serde_json::json;

fn graphql_search(text: &str) -> serde_json::Value {
    json!({
        "query": "query S($q: String!) { search(query: $q, type: ISSUE, first: 1) { issueCount } }",
        "variables": { "q": text },
    })
}

#[tokio::test]
async fn a_quoted_owner_qualifier_limits_a_search_the_same_way_over_rest_and_graphql() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    let (status, headers, _) = env
        .get("/search/issues?q=is%3Apr+repo%3A%22octo-org%2Fhello-world%22", None)
        .await;
    assert_eq!(status, 200, "REST: a quoted allowed repo limits the search");
    assert_eq!(headers["x-ratelimit-resource"], "search");
    let (status, _, _) = env
        .graphql(&graphql_search(r#"is:pr repo:"octo-org/hello-world""#))
        .await;
    assert_eq!(status, 200, "GraphQL: a quoted allowed repo limits the search");
    for text in [r#"repo:"acme-corp/x""#, r#"org:"acme-corp""#] {
        let q = text.replace('"', "%22").replace(':', "%3A").replace('/', "%2F");
        let (status, _, body) = env.get(&format!("/search/issues?q={q}"), None).await;
        assert_eq!(status, 403, "REST {text}");
        assert!(String::from_utf8_lossy(&body).contains("fallback_local"), "REST {text}");
        let (status, _, body) = env.graphql(&graphql_search(text)).await;
        assert_eq!(
            (status, &body["shoal"]),
            (403, &json!("fallback_local")),
            "GraphQL {text}"
        );
    }
    let up = env.gh.stats();
    assert_eq!(up.by_resource["search"].calls, 1);
    assert_eq!(up.by_resource["graphql"].calls, 1);
}

#[tokio::test]
async fn a_negated_owner_qualifier_does_not_limit_a_search_over_rest_or_graphql() {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    // `-org:octo-org` searches everything except octo-org: what the pooled identity can see.
    let (status, _, body) = env.get("/search/issues?q=bug+-org%3Aocto-org", None).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("fallback_local"));
    let (status, _, body) = env.graphql(&graphql_search("bug -repo:octo-org/hello-world")).await;
    assert_eq!((status, &body["shoal"]), (403, &json!("fallback_local")));
    assert_eq!(env.gh.stats().calls, 0);
    // Beside a qualifier that limits it to an allowed owner, a negated one narrows it further.
    let (status, _, _) = env
        .get("/search/issues?q=repo%3Aocto-org%2Fhello-world+-org%3Aacme-corp", None)
        .await;
    assert_eq!(status, 200);
}
