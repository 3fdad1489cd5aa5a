//! Bad input at every door: malformed JSON, JSON that is not an object, odd or missing content
//! types, bytes that are not UTF-8, absurd nesting and oversized bodies on every admin API
//! operation with a body, on every form, at the login exchange, the internal API and the webhook
//! receivers. Each is a clear 4xx and the tenant's rows are exactly as they were.

use crate::support::{self, location};
use shoal_control_plane::api::API_ROUTES;
use shoal_control_plane::app::BODY_LIMIT;
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::tenants::policy_module::UPLOAD_BODY_LIMIT;
use shoal_control_plane::tokens::admin::create_admin_token;
use sqlx::PgPool;

/// Bodies no JSON operation accepts, with their content type.
fn bad_json_bodies(limit: usize) -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    let json = Some("application/json");
    vec![
        ("malformed", json, b"{".to_vec()),
        ("trailing garbage", json, br#"{"name": "x"} x"#.to_vec()),
        ("an array", json, b"[]".to_vec()),
        ("a string", json, br#""x""#.to_vec()),
        ("null", json, b"null".to_vec()),
        ("empty", json, Vec::new()),
        ("not UTF-8", json, b"{\"name\": \"\xff\xfe\"}".to_vec()),
        (
            "deeply nested",
            json,
            format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        ),
        ("a huge number", json, br#"{"name": 1e400, "role": 1e400}"#.to_vec()),
        ("text/plain", Some("text/plain"), br#"{"name": "x"}"#.to_vec()),
        ("a form", Some("application/x-www-form-urlencoded"), b"name=x".to_vec()),
        ("multipart", Some("multipart/form-data; boundary=x"), b"--x--".to_vec()),
        ("no content type", None, br#"{"name": "x"}"#.to_vec()),
        (
            "JSON in UTF-16",
            Some("application/json; charset=utf-16"),
            "{}".encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
        (
            "oversized",
            json,
            format!("{{\"name\": \"{}\"}}", "x".repeat(limit)).into_bytes(),
        ),
    ]
}

/// A 4xx in the API's one error body.
async fn json_refusal(r: reqwest::Response, what: &str) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.text().await.unwrap();
    assert!((400..500).contains(&status), "{what}: {status} {body}");
    assert_eq!(ct, "application/json", "{what}: {status} {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: {body}"));
    assert!(!v["message"].as_str().unwrap_or_default().is_empty(), "{what}: {body}");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn bad_bodies_on_every_api_operation_are_4xx_json_and_change_nothing(pool: PgPool) {
    let (app, _gh, _alice) = support::octo_tenant(pool.clone()).await;
    let tenant = shoal_control_plane::tenants::resolve(&pool, "octo").await.unwrap();
    let alice: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'alice'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut tx = begin_tenant(&pool, tenant.id).await.unwrap();
    let alice_id = shoal_common::UserId(alice);
    let token = create_admin_token(
        &mut tx,
        &app.config.keys.pepper,
        shoal_control_plane::audit::Actor::user(alice_id, None),
        alice_id,
        "script",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let before = support::tenant_rows(&pool, tenant.id).await;
    let http = reqwest::Client::new();
    let mut tried = 0;
    for (method, template) in API_ROUTES {
        if *method == "get" || *method == "delete" {
            continue;
        }
        let limit = if template.ends_with("/policy/module") {
            UPLOAD_BODY_LIMIT
        } else {
            BODY_LIMIT
        };
        let url = format!(
            "{}{}",
            app.url,
            template
                .replace("{slug}", "octo")
                .replace("{user_id}", &alice.to_string())
                .replace("{identity_id}", &uuid::Uuid::new_v4().to_string())
        );
        for (what, content_type, body) in bad_json_bodies(limit) {
            let mut req = http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .header("authorization", format!("Bearer {}", token.expose()))
                .body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            json_refusal(req.send().await.unwrap(), &format!("{method} {template} with {what}")).await;
            tried += 1;
        }
    }
    assert!(tried >= 9 * 15, "{tried}");
    // Unknown fields and values of the wrong type, per operation.
    for (method, template, body) in [
        ("post", "/tokens", r#"{"name": "x", "expires_at": 5}"#),
        ("post", "/tokens", r#"{"name": ["x"]}"#),
        ("post", "/identities", r#"{"kind": "pat"}"#),
        ("post", "/identities", r#"{"kind": "nope", "name": "x", "token": "t"}"#),
        (
            "post",
            "/identities",
            r#"{"kind": "github_app", "name": "x", "app_id": -1, "installation_id": 1, "private_key": "k"}"#,
        ),
        ("patch", "/members/{alice}", r#"{"role": "owner"}"#),
        ("patch", "/members/{alice}", r#"{"role": null}"#),
        ("put", "/policy", r#"{"allowed_owners": [1]}"#),
        (
            "put",
            "/policy",
            r#"{"allowed_owners": [], "public_only": "yes", "search_allowed": true, "token_free_reads": false, "ttl_overrides": {}}"#,
        ),
        (
            "put",
            "/policy",
            r#"{"allowed_owners": [], "public_only": true, "search_allowed": true, "token_free_reads": false, "ttl_overrides": {"fast": -1}}"#,
        ),
        ("put", "/policy/module/on-failure", r#"{"on_failure": "explode"}"#),
        ("post", "/policy/module/test", r#"{"method": 7}"#),
        ("put", "/policy/module", r#"{"wat": 7}"#),
    ] {
        let url = format!(
            "{}/api/v1/tenants/octo{}",
            app.url,
            template.replace("{alice}", &alice.to_string())
        );
        let r = http
            .request(method.to_uppercase().parse().unwrap(), &url)
            .header("authorization", format!("Bearer {}", token.expose()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        json_refusal(r, &format!("{method} {template} with {body}")).await;
    }
    // The login exchange, which has no token.
    for (what, content_type, body) in bad_json_bodies(BODY_LIMIT) {
        let mut req = http.post(format!("{}/api/v1/login/exchange", app.url)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        json_refusal(req.send().await.unwrap(), &format!("login exchange with {what}")).await;
    }
    assert_eq!(support::tenant_rows(&pool, tenant.id).await, before);
}

/// Form routes whose form has no field but its CSRF token (a button): their action would run
/// with a valid token, whatever else the body holds.
fn is_button(path: &str) -> bool {
    [
        "/revoke",
        "/remove",
        "/allow",
        "/delete",
        "/webhook-secret",
        "/restore",
        "/portal",
        "/worker/restart",
        "/auth/logout",
    ]
    .iter()
    .any(|end| path.ends_with(end))
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn bad_bodies_on_every_form_are_refused_and_change_nothing(pool: PgPool) {
    let (_app, _gh, alice) = support::octo_tenant(pool.clone()).await;
    let tenant = shoal_control_plane::tenants::resolve(&pool, "octo").await.unwrap();
    let alice_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'alice'")
        .fetch_one(&pool)
        .await
        .unwrap();
    // A caller token to aim the token forms at.
    let csrf = alice.csrf("/t/octo/tokens").await;
    let r = alice
        .post_form("/t/octo/tokens", &[("csrf", &csrf), ("name", "laptop")])
        .await;
    assert_eq!(r.status(), 200);
    let token_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM caller_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    // The policy page makes the tenant's webhook secret on first sight: see it before taking stock.
    assert_eq!(alice.get_text("/t/octo/policy").await.0, 200);
    let before = support::tenant_rows(&pool, tenant.id).await;

    let mut routes: Vec<String> = support::tenant_page_routes()
        .into_iter()
        .map(|t| {
            t.replace("{slug}", "octo")
                .replace("{user}", &alice_id.to_string())
                .replace("{id}", &token_id.to_string())
        })
        .collect();
    routes.extend(["/tenants/new".to_string(), "/auth/logout".to_string()]);
    let form = "application/x-www-form-urlencoded";
    for path in routes {
        let limit = if path.ends_with("/policy/module") {
            UPLOAD_BODY_LIMIT
        } else {
            BODY_LIMIT
        };
        let mut cases: Vec<(&str, &str, Vec<u8>)> = vec![
            (
                "JSON",
                "application/json",
                format!(r#"{{"csrf": "{csrf}"}}"#).into_bytes(),
            ),
            (
                "multipart",
                "multipart/form-data; boundary=x",
                format!("--x\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--x--").into_bytes(),
            ),
            ("no CSRF token", form, b"name=x&role=member".to_vec()),
            (
                "a wrong CSRF token",
                form,
                format!("csrf={}", "0".repeat(64)).into_bytes(),
            ),
            (
                "oversized",
                form,
                format!("csrf={csrf}&name={}", "x".repeat(limit)).into_bytes(),
            ),
        ];
        if !is_button(&path) {
            cases.extend([
                ("not UTF-8", form, [format!("csrf={csrf}&name=").as_bytes(), b"\xff\xfe"].concat()),
                ("broken escapes", form, format!("csrf={csrf}&name=%zz&role=%&enabled=%FF&scopes=%00").into_bytes()),
                ("values of the wrong kind", form, format!("csrf={csrf}&role=owner&enabled=maybe&scopes=no%20such%20owner!&name=&plan=gold&on_failure=explode&app_id=x&installation_id=-1&ttl_fast=-5&slug=NO&org=&allowed_owners=%21%21not%20an%20owner&ttl_overrides=fast%3D-5&module=not%20wasm&method=BREW&path=nope").into_bytes()),
            ]);
        }
        for (what, content_type, body) in cases {
            let r = alice
                .with_cookie(alice.http.post(format!("{}{path}", alice.base)))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let back = location(&r);
            let text = r.text().await.unwrap();
            // A refusal: a 4xx page, or the form's page again with what was wrong (flashed).
            if status == 303 {
                let (_, page) = alice.get_text(&back).await;
                assert!(
                    page.contains("flash flash-error"),
                    "POST {path} with {what}: redirected to {back} without an error"
                );
            } else {
                assert!((400..500).contains(&status), "POST {path} with {what}: {status} {text}");
            }
        }
        assert_eq!(
            support::tenant_rows(&pool, tenant.id).await,
            before,
            "POST {path} changed the tenant"
        );
    }
    // Still signed in: none of this ended the session.
    assert_eq!(alice.get_text("/t/octo").await.0, 200);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn bad_bodies_at_the_internal_api_and_the_webhook_receivers_are_4xx_and_store_nothing(pool: PgPool) {
    use shoal_common::github::webhook::sign;
    use shoal_common::signing::{self, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_WORKER};

    let (app, _gh, alice) = support::octo_tenant(pool.clone()).await;
    let tenant = shoal_control_plane::tenants::resolve(&pool, "octo").await.unwrap();
    // The tenant's webhook secret, as its admin sees it.
    let (_, html) = alice.get_text("/t/octo/policy").await;
    let marker = "id=\"webhook-secret\">";
    let at = html.find(marker).unwrap() + marker.len();
    let hook_secret = html[at..at + html[at..].find('<').unwrap()].to_string();
    // A worker secret for the tenant's worker row.
    let worker: uuid::Uuid = sqlx::query_scalar("SELECT id FROM workers WHERE tenant_id = $1")
        .bind(tenant.id.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT wrapped_data_key FROM tenants WHERE id = $1")
        .bind(tenant.id.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    let dk = app
        .config
        .keys
        .keyring
        .unwrap_key(&shoal_common::crypto::WrappedDataKey::from_bytes(wrapped), tenant.id)
        .unwrap();
    let worker_secret = shoal_common::Secret::new("worker-secret-for-bad-input");
    let sealed = dk.seal(worker_secret.expose().as_bytes(), tenant.id, worker).unwrap();
    sqlx::query("UPDATE workers SET sealed_secret = $2 WHERE id = $1")
        .bind(worker)
        .bind(sealed.as_bytes())
        .execute(&pool)
        .await
        .unwrap();
    let before = support::tenant_rows(&pool, tenant.id).await;
    let http = reqwest::Client::new();

    let big = vec![b'{'; shoal_control_plane::internal::MAX_BODY_BYTES + 1];
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("malformed", b"{".to_vec()),
        ("an array", b"[]".to_vec()),
        ("not UTF-8", b"{\"a\": \"\xff\"}".to_vec()),
        ("deeply nested", "[".repeat(100_000).into_bytes()),
        (
            "the wrong shape",
            br#"{"protocol_version": 1, "report_id": 5}"#.to_vec(),
        ),
        ("oversized", big),
    ];
    for (what, body) in &bodies {
        // Signed by the tenant's own worker: the signature is right, the body is not.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let s = signing::sign(&worker_secret, "POST", "/internal/v1/usage", body, now).unwrap();
        let r = http
            .post(format!("{}/internal/v1/usage", app.url))
            .header(HEADER_WORKER, worker.to_string())
            .header(HEADER_TIMESTAMP, s.timestamp.to_string())
            .header(HEADER_NONCE, s.nonce)
            .header(HEADER_SIGNATURE, s.signature)
            .header("content-type", "text/plain")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(matches!(status, 400 | 413), "usage with {what}: {status}");
        // Unsigned.
        let r = http
            .post(format!("{}/internal/v1/usage", app.url))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status().as_u16(), 401 | 413), "unsigned usage with {what}");
        if *what == "the wrong shape" {
            // An object, as GitHub's payloads are: a webhook stores it (its fields are read later).
            continue;
        }
        // GitHub's webhook, signed with the tenant's secret. Found here: a signed array was stored.
        let r = http
            .post(format!("{}/webhooks/github/octo", app.url))
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", format!("d-{what}"))
            .header("x-hub-signature-256", sign(hook_secret.as_bytes(), body))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "webhook with {what}: {status}");
        // Stripe's (billing is off here): refused whatever the body.
        let r = http
            .post(format!("{}/webhooks/stripe", app.url))
            .header("stripe-signature", "t=1,v1=00")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!((400..500).contains(&r.status().as_u16()), "stripe webhook with {what}");
    }
    assert_eq!(support::tenant_rows(&pool, tenant.id).await, before);
}
