//! The OAuth web flow with PKCE.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{client, fake, get};

fn query_param(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn web_flow_with_pkce_mints_a_token_for_the_approver() {
    let gh = fake().await;
    gh.register_oauth_app("Iv1.client", "s3cret");
    gh.set_oauth_approver("alice");
    let verifier = "a-very-long-verifier-string-of-at-least-43-characters-000";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let r = client()
        .get(format!("{}/login/oauth/authorize", gh.url()))
        .query(&[
            ("client_id", "Iv1.client"),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("state", "xyz"),
            ("scope", "read:org"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("http://127.0.0.1:9/callback?"), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("xyz"));
    let code = query_param(&loc, "code").unwrap();

    // A wrong verifier is refused, and does not burn the code.
    let bad: Value = client()
        .post(format!("{}/login/oauth/access_token", gh.url()))
        .header("accept", "application/json")
        .form(&[
            ("client_id", "Iv1.client"),
            ("client_secret", "s3cret"),
            ("code", &code),
            ("code_verifier", "nope"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["error"], "bad_verification_code");

    let ok: Value = client()
        .post(format!("{}/login/oauth/access_token", gh.url()))
        .header("accept", "application/json")
        .form(&[
            ("client_id", "Iv1.client"),
            ("client_secret", "s3cret"),
            ("code", &code),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = ok["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("gho_"));
    assert_eq!(ok["token_type"], "bearer");
    let me: Value = get(&gh, Some(&token), "/user", &[]).await.json().await.unwrap();
    assert_eq!(me["login"], "alice");

    // Codes are single use.
    let again: Value = client()
        .post(format!("{}/login/oauth/access_token", gh.url()))
        .header("accept", "application/json")
        .json(&serde_json::json!({"client_id": "Iv1.client", "client_secret": "s3cret", "code": code, "code_verifier": verifier}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["error"], "bad_verification_code");
}

#[tokio::test]
async fn token_exchange_answers_form_encoded_without_json_accept_and_refuses_a_bad_secret() {
    let gh = fake().await;
    gh.register_oauth_app("cid", "sec");
    gh.set_oauth_approver("bob");
    let r = client()
        .get(format!(
            "{}/login/oauth/authorize?client_id=cid&redirect_uri=http://x/cb&state=s",
            gh.url()
        ))
        .send()
        .await
        .unwrap();
    let code = query_param(r.headers()["location"].to_str().unwrap(), "code").unwrap();
    let bad = client()
        .post(format!("{}/login/oauth/access_token", gh.url()))
        .form(&[("client_id", "cid"), ("client_secret", "wrong"), ("code", &code)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(bad.contains("error=incorrect_client_credentials"), "{bad}");
    // Client credentials as HTTP Basic, the way the oauth2 crate sends them.
    let ok = client()
        .post(format!("{}/login/oauth/access_token", gh.url()))
        .basic_auth("cid", Some("sec"))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ok.starts_with("access_token=gho_") && ok.contains("token_type=bearer"),
        "{ok}"
    );
}

#[tokio::test]
async fn authorize_without_an_approver_redirects_with_access_denied() {
    let gh = fake().await;
    gh.register_oauth_app("cid", "sec");
    let r = client()
        .get(format!(
            "{}/login/oauth/authorize?client_id=cid&redirect_uri=http://x/cb&state=s",
            gh.url()
        ))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s"));
}
