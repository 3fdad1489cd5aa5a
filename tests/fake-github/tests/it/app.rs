//! GitHub App JWTs and installation tokens.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::{client, fake, get, header};

const APP_KEY: &str = include_str!("keys/app.pem");
const APP_PUB: &str = include_str!("keys/app.pub.pem");
const WRONG_KEY: &str = include_str!("keys/wrong.pem");

fn jwt(key: &str, iss: Value, exp_in: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iat": now - 60, "exp": now + exp_in, "iss": iss});
    let key = EncodingKey::from_rsa_pem(key.as_bytes()).expect("test key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign")
}

async fn exchange(gh: &shoal_fake_github::FakeGithub, installation: u64, jwt: &str) -> reqwest::Response {
    client()
        .post(format!("{}/app/installations/{installation}/access_tokens", gh.url()))
        .header("authorization", format!("Bearer {jwt}"))
        .header("accept", "application/vnd.github+json")
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn app_jwt_mints_a_one_hour_installation_token_with_its_own_bucket() {
    let gh = fake().await;
    gh.register_app(4242, APP_PUB);
    let inst = gh.add_installation(4242, "octo-org");
    let r = exchange(&gh, inst, &jwt(APP_KEY, json!(4242), 540)).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_"));
    let expires = time::OffsetDateTime::parse(
        body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(59) && left <= time::Duration::hours(1),
        "{left}"
    );
    // The installation sees the org's private repo and has its own bucket.
    let r = get(&gh, Some(&token), "/repos/octo-org/secret-sauce", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining"), "4999");
    assert!(header(&r, "x-oauth-scopes").is_empty());
    let pat = gh.add_token("octocat");
    assert_eq!(
        header(
            &get(&gh, Some(&pat), "/repos/octo-org/hello-world", &[]).await,
            "x-ratelimit-remaining"
        ),
        "4999"
    );
    // User endpoints are not for installations.
    assert_eq!(get(&gh, Some(&token), "/user", &[]).await.status(), 403);
    let repos: Value = get(&gh, Some(&token), "/installation/repositories", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(repos["total_count"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn app_jwt_signed_with_the_wrong_key_is_refused() {
    let gh = fake().await;
    gh.register_app(4242, APP_PUB);
    let inst = gh.add_installation(4242, "octo-org");
    let r = exchange(&gh, inst, &jwt(WRONG_KEY, json!(4242), 540)).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "A JSON web token could not be decoded");
}

#[tokio::test]
async fn app_jwt_with_exp_too_far_or_unknown_app_or_foreign_installation_is_refused() {
    let gh = fake().await;
    gh.register_app(4242, APP_PUB);
    gh.register_app(7, APP_PUB);
    let inst = gh.add_installation(4242, "octo-org");
    let r = exchange(&gh, inst, &jwt(APP_KEY, json!(4242), 3600)).await;
    assert_eq!(r.status(), 401);
    let r = exchange(&gh, inst, &jwt(APP_KEY, json!("999"), 300)).await;
    assert_eq!(r.status(), 401);
    let r = exchange(&gh, inst, &jwt(APP_KEY, json!(7), 300)).await;
    assert_eq!(r.status(), 404);
    let r = exchange(&gh, inst, &jwt(APP_KEY, json!(4242), -120)).await;
    assert_eq!(r.status(), 401);
    // The iss may be a string too.
    assert_eq!(
        exchange(&gh, inst, &jwt(APP_KEY, json!("4242"), 300)).await.status(),
        201
    );
}
