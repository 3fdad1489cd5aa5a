//! GitHub App identities: installation tokens minted from an RS256 JWT, refreshed 5 minutes
//! before expiry (clock injected), and a failed exchange cooling the identity down.

use crate::support::bundle::{APP_PRIVATE_KEY_PKCS1, APP_PUBLIC_KEY, Env, OTHER_PRIVATE_KEY, app, pat};
use serde_json::json;
use std::time::Duration;

const EXCHANGE: &str = "POST /app/installations/{installation_id}/access_tokens";

fn exchanges(env: &Env) -> u64 {
    env.gh.stats().route(EXCHANGE).calls
}

/// Calls made with installation tokens (`ghs_...`), any resource.
fn installation_calls(env: &Env) -> u64 {
    env.gh
        .stats()
        .by_token
        .iter()
        .filter(|(t, _)| t.starts_with("ghs_"))
        .map(|(_, s)| s.calls)
        .sum()
}

#[tokio::test]
async fn an_app_identity_serves_reads_after_a_token_exchange_and_refreshes_before_expiry() {
    let env = Env::start(|gh| {
        gh.register_app(4242, APP_PUBLIC_KEY);
        let inst = gh.add_installation(4242, "octo-org");
        vec![app("app", 4242, inst, APP_PRIVATE_KEY_PKCS1)]
    })
    .await;
    let (status, _, body) = env.get("/repos/octo-org/hello-world", None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(exchanges(&env), 1);
    assert_eq!(installation_calls(&env), 1);
    // GraphQL with the same installation token.
    let (status, _, body) = env
        .graphql(&json!({"query": "{ repository(owner: \"octo-org\", name: \"hello-world\") { name } }"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["repository"]["name"], "hello-world");
    assert_eq!(exchanges(&env), 1);
    // 54 minutes on: the 1-hour token is still used.
    env.clock.advance(Duration::from_secs(54 * 60));
    let (status, _, _) = env.get("/repos/octo-org/hello-world/pulls/1", None).await;
    assert_eq!(status, 200);
    assert_eq!(exchanges(&env), 1);
    // 56 minutes: within 5 minutes of expiry, a new token is minted before the call.
    env.clock.advance(Duration::from_secs(2 * 60));
    let (status, _, _) = env.get("/repos/octo-org/hello-world/issues/2", None).await;
    assert_eq!(status, 200);
    assert_eq!(exchanges(&env), 2);
    assert_eq!(installation_calls(&env), 4);
    let tokens: Vec<_> = env
        .gh
        .stats()
        .by_token
        .keys()
        .filter(|t| t.starts_with("ghs_"))
        .cloned()
        .collect();
    assert_eq!(tokens.len(), 2, "the refreshed token is a new one");
    // Budgets are tracked like a PAT's, and no token shows in the stats.
    let view = env.identity("app");
    assert_eq!(view["state"], "healthy");
    assert_eq!(view["upstream"]["core"]["units"], 3);
    assert_eq!(view["upstream"]["graphql"]["units"], 1);
    let text = env.stats().to_string();
    assert!(tokens.iter().all(|t| !text.contains(t.as_str())));
    // A new bundle with the same App credentials keeps the installation token.
    let mut next = env.bundle.clone();
    next.version += 1;
    env.relay.worker.swap_bundle(&next).unwrap();
    let (status, _, _) = env.get("/repos/octo-org/hello-world/releases", None).await;
    assert_eq!(status, 200);
    assert_eq!(exchanges(&env), 2);
}

#[tokio::test]
async fn a_failed_app_token_exchange_cools_the_identity_down_while_others_serve() {
    let mut pat_token = String::new();
    let env = Env::start(|gh| {
        gh.register_app(4242, APP_PUBLIC_KEY);
        let inst = gh.add_installation(4242, "octo-org");
        pat_token = gh.add_token("octo-bot");
        // Signed with a key the app does not have: GitHub answers 401 to the exchange.
        vec![app("app", 4242, inst, OTHER_PRIVATE_KEY), pat("bot", &pat_token)]
    })
    .await;
    for path in [
        "/repos/octo-org/hello-world",
        "/repos/octo-org/hello-world/pulls/1",
        "/repos/octo-org/hello-world/issues/2",
    ] {
        let (status, _, _) = env.get(path, None).await;
        assert_eq!(status, 200, "{path}");
    }
    assert_eq!(exchanges(&env), 1, "tried once, then cooling down");
    assert_eq!(env.gh.stats().token(&pat_token).calls, 3);
    assert_eq!(env.identity("app")["state"], "cooling_down");
    assert_eq!(env.identity("bot")["state"], "healthy");
}

#[tokio::test]
async fn a_refused_installation_token_is_replaced_after_a_cooldown_not_quarantined_forever() {
    let env = Env::start(|gh| {
        gh.register_app(4242, APP_PUBLIC_KEY);
        let inst = gh.add_installation(4242, "octo-org");
        vec![app("app", 4242, inst, APP_PRIVATE_KEY_PKCS1)]
    })
    .await;
    let (status, _, _) = env.get("/repos/octo-org/hello-world", None).await;
    assert_eq!(status, 200);
    let token = env
        .gh
        .stats()
        .by_token
        .keys()
        .find(|t| t.starts_with("ghs_"))
        .cloned()
        .unwrap();
    env.gh.revoke(&token);
    // GitHub refuses the token: the only identity cools down, and the caller is told so (no
    // rate limit is claimed) and sent to its own gh meanwhile.
    let (status, _, body) = env.get("/repos/octo-org/hello-world/pulls/1", None).await;
    assert_eq!(status, 503);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["shoal"], "fallback_local");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("app: GitHub refused its installation token"),
        "{message}"
    );
    assert_eq!(env.identity("app")["state"], "cooling_down");
    assert_eq!(exchanges(&env), 1);
    // After the cooldown a new token is minted and serves.
    env.clock.advance(Duration::from_secs(61));
    let (status, _, _) = env.get("/repos/octo-org/hello-world/pulls/1", None).await;
    assert_eq!(status, 200);
    assert_eq!(exchanges(&env), 2);
    assert_eq!(env.identity("app")["state"], "healthy");
}
