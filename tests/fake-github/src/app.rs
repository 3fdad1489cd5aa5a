//! GitHub App installations: `POST /app/installations/{id}/access_tokens` verifies an RS256 JWT
//! (iss = app id, exp at most 10 minutes ahead) against the app's registered public key and mints
//! a 1-hour installation token (`ghs_...`) with its own rate-limit bucket.
//! Follows <https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app>
//! and <https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app>.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::call::{self, credential};
use crate::error::FakeError;
use crate::render;
use crate::state::{AccountKey, Resource, Shared, TokenInfo, TokenKind, token_key};
use crate::stats::Counters;

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Value,
    exp: i64,
    iat: Option<i64>,
}

/// Verifies an app JWT and returns the app id.
fn verify_jwt(sh: &Shared, jwt: &str) -> Result<u64, FakeError> {
    let undecodable = || FakeError::Unauthorized("A JSON web token could not be decoded".into());
    // Read the issuer before verifying, to pick the key; the signature check below is what counts.
    let payload = jwt.split('.').nth(1).ok_or_else(undecodable)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| undecodable())?;
    let peek: Claims = serde_json::from_slice(&raw).map_err(|_| undecodable())?;
    let app_id = match &peek.iss {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| FakeError::Unauthorized("'Issuer' claim ('iss') must be an Integer".into()))?;
    let pem = sh
        .auth()
        .apps
        .get(&app_id)
        .map(|a| a.public_key_pem.clone())
        .ok_or_else(|| FakeError::Unauthorized("Integration not found".into()))?;
    let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| undecodable())?;
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 0;
    v.validate_aud = false;
    let data = jsonwebtoken::decode::<Claims>(jwt, &key, &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
            FakeError::Unauthorized("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires".into())
        }
        _ => FakeError::Unauthorized(
            "A JSON web token could not be decoded".into(),
        ),
    })?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    // GitHub refuses an exp more than 10 minutes ahead (a little clock drift is tolerated).
    if data.claims.exp > now + 600 + 30 {
        return Err(FakeError::Unauthorized(
            "'Expiration time' claim ('exp') is too far in the future".into(),
        ));
    }
    if data.claims.iat.is_some_and(|iat| iat > now + 60) {
        return Err(FakeError::Unauthorized(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued".into(),
        ));
    }
    Ok(app_id)
}

/// `POST /app/installations/{id}/access_tokens`.
pub fn create_installation_token(sh: &Shared, id: &str, headers: &HeaderMap, _prefix: &str) -> Response {
    let req_id = call::request_id(sh);
    let route = "POST /app/installations/{installation_id}/access_tokens";
    let path = format!("/app/installations/{id}/access_tokens");
    let result = mint(sh, id, headers);
    let counters = Counters {
        calls: 1,
        unauthorized: u64::from(matches!(result, Err(FakeError::Unauthorized(_)))),
        ..Counters::default()
    };
    call::record(sh, "app-jwt", "", Resource::Core, route, &path, counters);
    match result {
        Ok(body) => {
            let mut r = call::base_response(StatusCode::CREATED, Body::from(body.to_string()), &req_id);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r
        }
        Err(e) => e.into_response_with(&req_id),
    }
}

fn mint(sh: &Shared, id: &str, headers: &HeaderMap) -> Result<Value, FakeError> {
    let jwt =
        credential(headers).ok_or_else(|| FakeError::Unauthorized("A JSON web token could not be decoded".into()))?;
    let app_id = verify_jwt(sh, &jwt)?;
    let installation_id: u64 = id.parse().map_err(|_| FakeError::NotFound)?;
    let inst = sh
        .auth()
        .installations
        .get(&installation_id)
        .cloned()
        .ok_or(FakeError::NotFound)?;
    if inst.app_id != app_id {
        return Err(FakeError::NotFound);
    }
    let token = sh.mint_secret("ghs_", 36);
    let expires = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        + Duration::hours(1);
    let info = TokenInfo {
        token: token.clone(),
        account: AccountKey::Installation(installation_id),
        login: format!("installation-{installation_id}"),
        account_id: installation_id,
        kind: TokenKind::Installation,
        revoked: false,
        expires_at: Some(expires),
        scopes: String::new(),
        installation_owner: Some(inst.account.clone()),
    };
    sh.auth_mut().tokens.insert(token_key(&token), info);
    Ok(json!({
        "token": token,
        "expires_at": render::ts(expires),
        "permissions": {"actions": "read", "checks": "read", "contents": "read", "issues": "read",
                        "metadata": "read", "pull_requests": "read", "members": "read"},
        "repository_selection": "all"
    }))
}
