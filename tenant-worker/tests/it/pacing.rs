//! Cost-aware pacing against the fake: GraphQL reservations of the query's points, the bounded
//! wait for budget, and 404s that must not hide a private repo from identities that can see it.

use crate::support::{Env, Ident, Setup, TWO_POINTS, cache_status, issues_page};
use serde_json::json;

/// Polls (with a deadline) until `n` requests wait for budget.
async fn until_waiting(env: &Env, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env.stats()["pacing"]["waiting"] != n {
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} waiting: {}",
            env.stats()["pacing"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn waiters_within_the_queue_bound_succeed_after_a_cooldown_and_the_others_fail_fast() {
    let env = std::sync::Arc::new(
        Env::start(Setup {
            extra: "[pacing]\nmax_wait_secs = 5\nmax_waiters = 2\n".into(),
            ..Setup::default()
        })
        .await,
    );
    env.gh.set_secondary_limit(&env.tokens[0], 429, 3);
    let spawn = |n: usize| {
        let env = env.clone();
        tokio::spawn(async move {
            let r = env.get(&issues_page(n)).await;
            (r.status().as_u16(), cache_status(&r))
        })
    };
    // The first read meets the secondary limit: the only identity cools down for 3 s, within
    // the 5 s bound, so it waits; so does a second.
    let first = spawn(1);
    until_waiting(&env, 1).await;
    let second = spawn(2);
    until_waiting(&env, 2).await;
    // The queue is full: a third fails fast in GitHub's shape, with the cooldown's retry-after.
    let r = env.get(&issues_page(3)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(env.upstream().calls, 1);
    env.gh.clear_secondary_limit(&env.tokens[0]);
    env.advance(3);
    assert_eq!(first.await.unwrap(), (200, "MISS".into()));
    assert_eq!(second.await.unwrap(), (200, "MISS".into()));
    let up = env.upstream();
    assert_eq!((up.calls, up.secondary_limited, up.charged), (3, 1, 2));
    assert_eq!(
        env.stats()["pacing"],
        json!({"waiting": 0, "waited": 2, "queue_full": 1})
    );
    // A cooldown beyond the bound is not waited for.
    env.gh.set_secondary_limit(&env.tokens[0], 429, 60);
    let r = env.get(&issues_page(4)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["retry-after"], "60");
    assert_eq!(env.upstream().calls, 4);
    assert_eq!(env.stats()["pacing"]["waited"], 2);
}

/// 1 + 20 * 100 connection requests: 20 points by GitHub's formula.
fn twenty_points() -> String {
    let fields: String = (0..20)
        .map(|i| format!("l{i}: labels(first: 1) {{ totalCount }} "))
        .collect();
    format!(
        "query Wide($owner: String!, $repo: String!) {{ repository(owner: $owner, name: $repo) {{ pullRequests(first: 100) {{ nodes {{ {fields} }} }} }} }}"
    )
}

const ONE_POINT: &str = "query T($owner: String!, $repo: String!, $n: Int!) { repository(owner: $owner, name: $repo) { pullRequest(number: $n) { title } } }";

#[tokio::test]
async fn a_graphql_query_reserves_its_expected_points() {
    let mut tokens = Vec::new();
    let opts = shoal_fake_github::Options {
        limits: shoal_fake_github::Limits {
            graphql: 30,
            ..Default::default()
        },
        ..Default::default()
    };
    let env = crate::support::bundle::Env::start_with(opts, crate::support::bundle::policy(), |gh| {
        tokens.push(gh.add_token("octo-bot"));
        tokens.push(gh.add_token("hubot"));
        vec![
            crate::support::bundle::pat("bot", &tokens[0]),
            crate::support::bundle::pat("hu", &tokens[1]),
        ]
    })
    .await;
    let ask = |q: &str, vars: serde_json::Value| json!({"query": q, "variables": vars});
    // Learn both windows (30 points each, 3 kept for the owner), then spend 2 more on one: 26
    // and 24 spendable.
    for n in 1..=2 {
        let (s, _, b) = env
            .graphql(&ask(
                ONE_POINT,
                json!({"owner": "octo-org", "repo": "hello-world", "n": n}),
            ))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, _, _) = env
        .graphql(&ask(TWO_POINTS, json!({"owner": "octo-org", "repo": "hello-world"})))
        .await;
    assert_eq!(s, 200);
    // Two concurrent 20-point queries: the first reserves 20 on the account with 26, so the
    // second goes to the other one. Reserving one unit each would send both to the first and
    // overdraw it.
    let wide = twenty_points();
    let (q1, q2) = (
        ask(&wide, json!({"owner": "octo-org", "repo": "hello-world"})),
        ask(&wide, json!({"owner": "octo-org", "repo": "Hello-World"})),
    );
    let (a, b) = tokio::join!(env.graphql(&q1), env.graphql(&q2));
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.2, b.2);
    assert!(
        a.2.get("errors").is_none() && b.2.get("errors").is_none(),
        "{} {}",
        a.2,
        b.2
    );
    let fake = env.gh.stats();
    assert_eq!(fake.rate_limited, 0);
    let charged = |t: &str| fake.token(t).by_resource.get("graphql").map_or(0, |c| c.charged);
    let mut spent = [charged(&tokens[0]), charged(&tokens[1])];
    spent.sort();
    assert_eq!(spent, [21, 23]);
    // Neither account can pay 20 more (7 and 9 left, 3 kept): refused locally, no call.
    let calls = fake.by_resource["graphql"].calls;
    let (s, h, body) = env
        .graphql(&ask(&wide, json!({"owner": "octo-org", "repo": "HELLO-WORLD"})))
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(h.contains_key("retry-after"));
    assert_eq!(env.gh.stats().by_resource["graphql"].calls, calls);
    // A cheap query still fits.
    let (s, _, _) = env
        .graphql(&ask(
            ONE_POINT,
            json!({"owner": "octo-org", "repo": "hello-world", "n": 3}),
        ))
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_404_for_an_identity_without_access_does_not_hide_a_private_repo() {
    // alice is not a member of octo-org; hubot is and sees its private repo.
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("hubot")],
        ..Setup::default()
    })
    .await;
    // Page 1 goes to one identity, page 2 to the other (more budget left); the next pick is the
    // least recently used, the first. Make that alice.
    env.get(&issues_page(1)).await;
    let alice_first = env.calls_of(0) == 1;
    env.get(&issues_page(2)).await;
    if !alice_first {
        env.get(&issues_page(3)).await;
    }
    let warmup = env.upstream().calls;
    let repo = "/repos/octo-org/secret-sauce";
    let r = env.get(repo).await;
    assert_eq!((r.status().as_u16(), cache_status(&r)), (404, "MISS".into()));
    // The cached 404 is alice's: hubot has not seen it, so the next read asks hubot.
    let r = env.get(repo).await;
    assert_eq!((r.status().as_u16(), cache_status(&r)), (200, "MISS".into()));
    let r = env.get(repo).await;
    assert_eq!((r.status().as_u16(), cache_status(&r)), (200, "HIT".into()));
    assert_eq!(env.upstream().calls, warmup + 2);
    // Something missing for everyone: each identity confirms it once, then it is a hit.
    let missing = "/repos/octo-org/secret-sauce/pulls/99999";
    for _ in 0..2 {
        assert_eq!(env.get(missing).await.status(), 404);
    }
    let r = env.get(missing).await;
    assert_eq!((r.status().as_u16(), cache_status(&r)), (404, "HIT".into()));
    assert_eq!(env.upstream().path(missing).calls, 2);
    // Under a repo known to be public a 404 is the same for everyone: one call.
    assert_eq!(env.get("/repos/octo-org/hello-world").await.status(), 200);
    let missing = "/repos/octo-org/hello-world/pulls/99999";
    assert_eq!(env.get(missing).await.status(), 404);
    let r = env.get(missing).await;
    assert_eq!((r.status().as_u16(), cache_status(&r)), (404, "HIT".into()));
    assert_eq!(env.upstream().path(missing).calls, 1);
}

#[tokio::test]
async fn a_graphql_not_found_for_an_identity_without_access_does_not_hide_a_private_repo() {
    let mut tokens = Vec::new();
    let env = crate::support::bundle::Env::start(|gh| {
        tokens.push(gh.add_token("alice"));
        tokens.push(gh.add_token("hubot"));
        vec![
            crate::support::bundle::pat("alice", &tokens[0]),
            crate::support::bundle::pat("hubot", &tokens[1]),
        ]
    })
    .await;
    let calls_of = |t: &str| {
        env.gh
            .stats()
            .by_token
            .get(t)
            .and_then(|s| s.by_resource.get("graphql"))
            .map_or(0, |c| c.calls)
    };
    let pr = |n: u64| json!({"query": ONE_POINT, "variables": {"owner": "octo-org", "repo": "hello-world", "n": n}});
    // Same dance as for REST: make alice, who cannot see the private repo, the next pick.
    env.graphql(&pr(1)).await;
    let alice_first = calls_of(&tokens[0]) == 1;
    env.graphql(&pr(2)).await;
    if !alice_first {
        env.graphql(&pr(3)).await;
    }
    let before = (calls_of(&tokens[0]), calls_of(&tokens[1]));
    let q = json!({"query": "query { repository(owner: \"octo-org\", name: \"secret-sauce\") { name } }"});
    let (s, h, b) = env.graphql(&q).await;
    assert_eq!(s, 200);
    assert_eq!(h["x-shoal-cache"], "MISS");
    assert_eq!(b["errors"][0]["type"], "NOT_FOUND", "{b}");
    // alice's NOT_FOUND is not hubot's: the next read asks hubot.
    let (_, h, b) = env.graphql(&q).await;
    assert_eq!(h["x-shoal-cache"], "MISS");
    assert_eq!(b["data"]["repository"]["name"], "secret-sauce", "{b}");
    let (_, h, b2) = env.graphql(&q).await;
    assert_eq!(h["x-shoal-cache"], "HIT");
    assert_eq!(b2, b);
    assert_eq!(
        (calls_of(&tokens[0]), calls_of(&tokens[1])),
        (before.0 + 1, before.1 + 1)
    );
}

#[tokio::test]
async fn a_404_on_revalidation_is_checked_with_another_identity_before_it_replaces_a_200() {
    let env = Env::start(Setup {
        identities: vec![Ident::pat("alice"), Ident::pat("hubot")],
        ..Setup::default()
    })
    .await;
    let remaining = |login: &str| {
        env.identity_stats(login)["budget"]["core"]["remaining"]
            .as_u64()
            .unwrap()
    };
    let served_by = |before: (u64, u64)| if env.calls_of(0) > before.0 { "alice" } else { "hubot" };
    let repo = "/repos/octo-org/secret-sauce";
    // Whoever gets the repo first, a 200 ends up cached (hubot's, after alice's 404 at most).
    let mut page = 1;
    for _ in 0..2 {
        if env.get(repo).await.status() == 200 {
            break;
        }
    }
    assert_eq!(cache_status(&env.get(repo).await), "HIT");
    // Public reads until alice is the next pick: more budget, or equal and hubot used last.
    loop {
        let before = (env.calls_of(0), env.calls_of(1));
        env.get(&issues_page(page)).await;
        page += 1;
        let (a, h) = (remaining("alice"), remaining("hubot"));
        if a > h || (a == h && served_by(before) == "hubot") {
            break;
        }
    }
    let calls = env.upstream().path(repo).calls;
    env.advance(121);
    // alice revalidates, gets 404 (she cannot see the repo); hubot is asked before the 200 goes.
    let r = env.get(repo).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "REVALIDATED");
    assert_eq!(env.upstream().path(repo).calls, calls + 2);
    let r = env.get(repo).await;
    assert_eq!((r.status().as_u16(), cache_status(&r)), (200, "HIT".into()));
}
