//! The OAuth web flow: `/login/oauth/authorize` and `/login/oauth/access_token`.
//!
//! Follows <https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps>:
//! authorize redirects back with `code` and `state` (here the test chose the approving user with
//! `set_oauth_approver`), the exchange answers JSON with `Accept: application/json` and
//! form-encoded otherwise, and errors come back as 200 with an `error` field, as on GitHub.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::state::{OAuthCode, Shared, TokenKind};

fn pairs(s: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(a, b)| (a.into_owned(), b.into_owned()))
        .collect()
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(a, _)| a == k).map(|(_, b)| b.as_str())
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", ser.finish())
}

/// `GET /login/oauth/authorize`.
pub async fn authorize(State(sh): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = pairs(q.as_deref().unwrap_or(""));
    let Some(client_id) = get(&p, "client_id") else {
        return (StatusCode::BAD_REQUEST, "client_id is required").into_response();
    };
    let Some(redirect_uri) = get(&p, "redirect_uri") else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri is required by the fake (no registered callback)",
        )
            .into_response();
    };
    let state = get(&p, "state").unwrap_or("");
    let approver = {
        let auth = sh.auth();
        if !auth.oauth_apps.contains_key(client_id) {
            return (
                StatusCode::NOT_FOUND,
                "unknown OAuth app (register it with register_oauth_app)",
            )
                .into_response();
        }
        auth.oauth_approver.clone()
    };
    let Some(login) = approver else {
        let url = with_params(
            redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user has denied your application access."),
                (
                    "error_uri",
                    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied",
                ),
                ("state", state),
            ],
        );
        return redirect(&url);
    };
    let challenge = match (get(&p, "code_challenge"), get(&p, "code_challenge_method")) {
        (Some(c), Some("S256") | None) => Some(c.to_string()),
        (Some(_), Some(_)) => {
            return (StatusCode::BAD_REQUEST, "only code_challenge_method=S256 is supported").into_response();
        }
        (None, _) => None,
    };
    let code = sh.mint_secret("", 20);
    sh.auth_mut().oauth_codes.insert(
        code.clone(),
        OAuthCode {
            client_id: client_id.to_string(),
            login,
            redirect_uri: Some(redirect_uri.to_string()),
            code_challenge: challenge,
            scope: get(&p, "scope").unwrap_or("").replace(' ', ","),
        },
    );
    redirect(&with_params(redirect_uri, &[("code", &code), ("state", state)]))
}

fn redirect(url: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = url.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `POST /login/oauth/access_token` (form, JSON or query parameters).
pub async fn access_token(
    State(sh): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut p = pairs(q.as_deref().unwrap_or(""));
    if ct.contains("json") {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(&body) {
            for (k, v) in m {
                if let Some(s) = v.as_str() {
                    p.push((k, s.to_string()));
                }
            }
        }
    } else {
        p.extend(pairs(&String::from_utf8_lossy(&body)));
    }
    // RFC 6749 2.3.1: client credentials may come as HTTP Basic (the oauth2 crate's default).
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
        && let Ok(raw) = String::from_utf8(raw)
        && let Some((id, secret)) = raw.split_once(':')
    {
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        p.retain(|(k, _)| k != "client_id" && k != "client_secret");
        p.push(("client_id".into(), dec(id).unwrap_or_default()));
        p.push(("client_secret".into(), dec(secret).unwrap_or_default()));
    }
    let json_wanted = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("json"));
    let result = exchange(&sh, &p);
    let fields: Vec<(&str, String)> = match result {
        Ok((token, scope)) => vec![("access_token", token), ("scope", scope), ("token_type", "bearer".into())],
        Err((error, description)) => vec![
            ("error", error.into()),
            ("error_description", description.into()),
            ("error_uri", "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors".into()),
        ],
    };
    if json_wanted {
        let m: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        (StatusCode::OK, axum::Json(serde_json::Value::Object(m))).into_response()
    } else {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            ser.append_pair(k, v);
        }
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")],
            ser.finish(),
        )
            .into_response()
    }
}

type ExchangeError = (&'static str, &'static str);

fn exchange(sh: &Shared, p: &[(String, String)]) -> Result<(String, String), ExchangeError> {
    let bad_client = (
        "incorrect_client_credentials",
        "The client_id and/or client_secret passed are incorrect.",
    );
    let bad_code = ("bad_verification_code", "The code passed is incorrect or expired.");
    let client_id = get(p, "client_id").ok_or(bad_client)?;
    let secret = get(p, "client_secret").unwrap_or("");
    let code = get(p, "code").ok_or(bad_code)?;
    let grant = {
        let mut auth = sh.auth_mut();
        let app = auth.oauth_apps.get(client_id).ok_or(bad_client)?;
        if !bool::from(app.secret.as_bytes().ct_eq(secret.as_bytes())) {
            return Err(bad_client);
        }
        let grant = auth.oauth_codes.get(code).cloned().ok_or(bad_code)?;
        if grant.client_id != client_id {
            return Err(bad_code);
        }
        if let (Some(want), Some(got)) = (&grant.redirect_uri, get(p, "redirect_uri"))
            && want != got
        {
            return Err((
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            ));
        }
        if let Some(challenge) = &grant.code_challenge {
            let verifier = get(p, "code_verifier").ok_or(bad_code)?;
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                return Err(bad_code);
            }
        }
        // Codes are single use.
        auth.oauth_codes.remove(code);
        grant
    };
    let scopes_header = grant
        .scope
        .split(',')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let token = sh.add_user_token(&grant.login, TokenKind::OAuth, false, &scopes_header);
    Ok((token, grant.scope))
}
