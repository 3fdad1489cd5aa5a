//! HTTP behaviour that needs no GitHub: headers, limits, CSRF, sign-in configuration errors,
//! the admin API with admin tokens and the login exchange's input checks.

use crate::support::{self, TestApp, location};
use shoal_control_plane::audit::AUDIT_LIMIT;
use shoal_control_plane::billing::Plan;
use shoal_control_plane::config::BillingConfig;
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::tenants::members;
use shoal_control_plane::tokens::admin::create_admin_token;
use sqlx::PgPool;

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn every_response_carries_the_security_headers_and_health_still_answers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let b = app.browser();
    for path in ["/", "/healthz", "/pricing", "/t/nope", "/api/v1/openapi.json"] {
        let r = b.get(path).await;
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("script-src") || !csp.contains("'unsafe"));
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
    let (status, body) = b.get_text("/healthz").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""database":"ok""#), "{body}");
    let css = b.get("/static/app.css").await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn signed_out_visitors_see_the_landing_page_and_tenant_pages_send_them_there(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let b = app.browser();
    let (status, html) = b.get_text("/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Sign-in is not configured"),
        "no OAuth app in for_tests()"
    );
    for path in ["/t/acme", "/t/acme/tokens", "/tenants/new"] {
        let r = b.get(path).await;
        assert_eq!((r.status().as_u16(), location(&r)), (303, "/".to_string()), "{path}");
    }
    // Sign-in without an OAuth app says how to configure it.
    let r = b.get("/auth/github/login").await;
    assert_eq!(location(&r), "/");
    let (_, html) = b.get_text("/").await;
    assert!(html.contains("SHOAL_GITHUB_CLIENT_ID"), "{html}");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_pricing_page_is_public_and_shows_every_plan_from_the_table(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (status, html) = app.browser().get_text("/pricing").await;
    assert_eq!(status, 200);
    for plan in Plan::ALL {
        let limits = plan.limits();
        assert!(html.contains(&format!(r#"id="plan-{plan}""#)), "{plan}: {html}");
        assert!(html.contains(&limits.included_reads_display()), "{plan}: {html}");
    }
    for text in [
        "free",
        "team",
        "business",
        "50,000",
        "2,000,000",
        "20,000,000",
        "unlimited",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn login_attempts_are_rate_limited_per_address(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| c.login_attempts_per_minute = 3).await;
    let b = app.browser();
    for _ in 0..3 {
        assert_eq!(b.get("/auth/github/login").await.status(), 303);
    }
    let r = b.get("/auth/github/login").await;
    assert_eq!(r.status(), 303, "the limit is explained on the start page");
    let (_, html) = b.get_text("/").await;
    assert!(html.contains("too many attempts"), "{html}");
    let r = b
        .http
        .post(format!("{}/api/v1/login/exchange", app.url))
        .json(&serde_json::json!({"github_token": "x", "tenant": "acme", "device_name": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Behind the edge every request comes from loopback: the address the edge forwards is the
    // bucket, so another client is not locked out by this one.
    let exchange = |client: &'static str| {
        b.http
            .post(format!("{}/api/v1/login/exchange", app.url))
            .header("x-forwarded-for", client)
            .json(&serde_json::json!({"github_token": "x", "tenant": "acme", "device_name": "d"}))
            .send()
    };
    for _ in 0..3 {
        assert_ne!(exchange("203.0.113.7").await.unwrap().status(), 429);
    }
    assert_eq!(exchange("203.0.113.7").await.unwrap().status(), 429);
    assert_ne!(exchange("203.0.113.8").await.unwrap().status(), 429);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn forms_without_the_sessions_csrf_token_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let b = app.browser();
    let _ = b.get("/").await;
    let r = b.post_form("/auth/logout", &[("csrf", "0".repeat(64).as_str())]).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("reload the page"));
    let r = b.post_form("/auth/logout", &[]).await;
    assert!(r.status().is_client_error());
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn oversized_bodies_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let big = "x".repeat(200 * 1024);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/login/exchange", app.url))
        .header("content-type", "application/json")
        .body(format!(r#"{{"github_token":"{big}","tenant":"a","device_name":"d"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn login_exchange_explains_bad_input_before_asking_github(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/login/exchange", app.url);
    let cases = [
        (serde_json::json!({"tenant": "acme"}), 400, "github_token"),
        (
            serde_json::json!({"github_token": "t", "tenant": "acme", "device_name": ""}),
            400,
            "device_name",
        ),
        (
            serde_json::json!({"github_token": "t", "tenant": "nope", "device_name": "laptop"}),
            404,
            "no tenant named",
        ),
    ];
    for (body, status, says) in cases {
        let r = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let msg: serde_json::Value = r.json().await.unwrap();
        assert!(msg["message"].as_str().unwrap().contains(says), "{msg}");
    }
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_admin_api_works_with_an_admin_token_and_only_for_its_own_tenant(pool: PgPool) {
    let (app, gh) = support::app_with_github(pool.clone()).await;
    gh.register_app(1, &support::rsa_public_pem());
    let installation = gh.add_installation(1, "acme-org");
    let keys = app.config.keys.clone();
    let alice = support::user(&pool, "alice").await;
    let bob = support::user(&pool, "bob").await;
    let acme = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let other = support::tenant(&pool, &keys, &bob, "other", "other-org").await;
    let mut tx = begin_tenant(&pool, acme.id).await.unwrap();
    members::join_tenant(&mut tx, &BillingConfig::default(), support::actor(&bob), bob.id, false)
        .await
        .unwrap();
    let token = create_admin_token(&mut tx, &keys.pepper, support::actor(&alice), alice.id, "script")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = begin_tenant(&pool, other.id).await.unwrap();
    let other_token = create_admin_token(&mut tx, &keys.pepper, support::actor(&bob), bob.id, "x")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1/tenants/acme{path}", app.url);
    let auth = format!("Bearer {}", token.expose());

    let r = http
        .get(api("/members"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let members: serde_json::Value = r.json().await.unwrap();
    assert_eq!(members.as_array().unwrap().len(), 2);

    // Another tenant's admin token, no token, a bad token: refused, nothing leaks.
    let r = http
        .get(api("/members"))
        .header("authorization", format!("Bearer {}", other_token.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(http.get(api("/members")).send().await.unwrap().status(), 401);
    let r = http
        .get(api("/members"))
        .header("authorization", "Bearer shoal_x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/api/v1/tenants/nope/members", app.url))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Tokens: create, list (prefix only), revoke.
    let r = http
        .post(api("/tokens"))
        .header("authorization", &auth)
        .json(&serde_json::json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["caller_token"]["id"].as_str().unwrap().to_string();
    let listed = http
        .get(api("/tokens"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&secret) && listed.contains(&secret[..12]));
    let r = http
        .delete(api(&format!("/tokens/{id}")))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let revoked: serde_json::Value = r.json().await.unwrap();
    assert!(revoked["revoked_at"].is_string());

    // Policy: bad input is a 400 that changes nothing; good input is saved.
    let before = http
        .get(api("/policy"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = http
        .put(api("/policy"))
        .header("authorization", &auth)
        .json(&serde_json::json!({"allowed_owners": ["bad owner"], "public_only": true, "search_allowed": true, "token_free_reads": false, "ttl_overrides": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .put(api("/policy"))
        .header("authorization", &auth)
        .json(&serde_json::json!({"allowed_owners": "not a list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let msg: serde_json::Value = r.json().await.unwrap();
    assert!(msg["message"].as_str().unwrap().starts_with("invalid JSON body"));
    let after = http
        .get(api("/policy"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(before, after);

    // A GitHub App identity; the key never comes back.
    let pem = support::rsa_pem();
    let canary = pem.lines().nth(1).unwrap().to_string();
    let r = http
        .post(api("/identities"))
        .header("authorization", &auth)
        .json(&serde_json::json!({"kind": "github_app", "name": "app", "app_id": 1, "installation_id": installation, "private_key": pem, "scopes": ["acme-org"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ident: serde_json::Value = r.json().await.unwrap();
    let iid = ident["id"].as_str().unwrap().to_string();
    let r = http
        .patch(api(&format!("/identities/{iid}")))
        .header("authorization", &auth)
        .json(&serde_json::json!({"enabled": false, "scopes": ["acme-org/api"]}))
        .send()
        .await
        .unwrap();
    let patched: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (patched["enabled"].as_bool(), patched["scopes"][0].as_str()),
        (Some(false), Some("acme-org/api"))
    );
    let all = http
        .get(api("/identities"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!all.contains(&canary));

    // Tenant other's admin cannot reach acme's records through its own tenant's paths.
    let other_auth = format!("Bearer {}", other_token.expose());
    let other_api = |path: &str| format!("{}/api/v1/tenants/other{path}", app.url);
    for (method, path) in [
        (reqwest::Method::DELETE, format!("/identities/{iid}")),
        (reqwest::Method::PATCH, format!("/identities/{iid}")),
        (reqwest::Method::DELETE, format!("/tokens/{id}")),
        (reqwest::Method::DELETE, format!("/members/{}", alice.id)),
        (reqwest::Method::PATCH, format!("/members/{}", alice.id)),
    ] {
        let r = http
            .request(method.clone(), other_api(&path))
            .header("authorization", &other_auth)
            .json(&serde_json::json!({"enabled": true, "role": "member"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    let still: i64 = sqlx::query_scalar("SELECT count(*) FROM identities WHERE NOT enabled")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(still, 1, "acme's identity is untouched");

    // Members: the last admin rule over HTTP, then removal.
    let r = http
        .patch(api(&format!("/members/{}", alice.id)))
        .header("authorization", &auth)
        .json(&serde_json::json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = http
        .delete(api(&format!("/members/{}", bob.id)))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // Every action left an audit row with the actor, and no secret.
    let audit = http
        .get(api("/audit"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for action in [
        "token.create",
        "token.revoke",
        "identity.add",
        "identity.disable",
        "member.remove",
    ] {
        assert!(audit.contains(action), "{action} missing from {audit}");
    }
    assert!(!audit.contains(&secret) && !audit.contains(&canary) && !audit.contains(token.expose()));
}
#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_audit_page_and_the_admin_api_show_the_same_latest_rows(pool: PgPool) {
    let (app, _gh, alice) = support::octo_tenant(pool.clone()).await;
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, action, target)
         SELECT id, 'test.filler', 'row ' || n FROM tenants, generate_series(1, $1) AS n",
    )
    .bind(AUDIT_LIMIT as i32 + 10)
    .execute(&pool)
    .await
    .unwrap();
    let (status, page) = alice.get_text("/t/octo/audit").await;
    assert_eq!(status, 200);
    let csrf = alice.csrf("/t/octo").await;
    let r = alice
        .with_cookie(alice.http.get(format!("{}/api/v1/tenants/octo/audit", app.url)))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    let api: Vec<serde_json::Value> = r.json().await.unwrap();
    // The page shows the latest page of rows (older ones a link away), the API the latest 500.
    assert_eq!(
        page.matches(r#"<td data-label="Action">"#).count(),
        shoal_control_plane::audit::AUDIT_PAGE as usize
    );
    assert!(page.contains("id=\"audit-older\""));
    assert_eq!(api.len(), AUDIT_LIMIT as usize);
    let first_target = api[0]["target"].as_str().unwrap();
    assert!(page.contains(&format!(">{first_target}<")), "{first_target}");
}
