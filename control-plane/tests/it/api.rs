//! The JSON API's contract: the generated OpenAPI document against the routes and the rules the
//! handlers enforce, and every refusal in the one JSON error body.

use crate::support::{self, TestApp};
use serde_json::{Value, json};
use shoal_control_plane::api::{API_ROUTES, openapi_json};
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::http::session::SESSION_COOKIE;
use shoal_control_plane::tenants::policy::{MAX_TTL_SECS, TTL_CLASSES};
use shoal_control_plane::tokens::admin::create_admin_token;
use sqlx::PgPool;

fn document() -> Value {
    serde_json::from_str(openapi_json()).unwrap()
}

/// An error answer: its status, and its message, which must be in the JSON error body.
async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert_eq!(content_type, "application/json", "{status} {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let message = v["message"].as_str().unwrap_or_else(|| panic!("no message in {body}"));
    assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
    (status, message.to_string())
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_openapi_document_describes_exactly_the_api_routes(pool: PgPool) {
    let doc = document();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    let mut declared: Vec<(String, String)> = API_ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    documented.sort();
    declared.sort();
    assert_eq!(documented, declared);
    let login = &doc["components"]["schemas"]["LoginExchangeOut"]["required"];
    assert_eq!(login, &json!(["token", "tenant", "host", "user"]));
    assert_eq!(doc["components"]["securitySchemes"]["session"]["name"], SESSION_COOKIE);

    // Each documented operation is routed: the server answers it with something other than
    // the router's own 404/405 (which have empty bodies).
    let app = TestApp::spawn(pool).await;
    let http = reqwest::Client::new();
    let served: Value = http
        .get(format!("{}/api/v1/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, doc);
    for (method, path) in API_ROUTES {
        let url = format!(
            "{}{}",
            app.url,
            path.replace("{slug}", "acme")
                .replace("{user_id}", "00000000-0000-0000-0000-000000000000")
                .replace("{token_id}", "00000000-0000-0000-0000-000000000000")
                .replace("{identity_id}", "00000000-0000-0000-0000-000000000000")
        );
        let r = http
            .request(method.to_uppercase().parse().unwrap(), &url)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            status != 404 || body.contains("message"),
            "{method} {path} is not routed"
        );
    }
}

#[test]
fn the_openapi_document_states_the_rules_the_handlers_enforce() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let name = &schemas["CallerTokenIn"]["properties"]["name"];
    assert_eq!((&name["minLength"], &name["maxLength"]), (&json!(1), &json!(100)));
    assert!(name["pattern"].is_string(), "{name}");
    assert_eq!(schemas["LoginExchangeIn"]["properties"]["device_name"], *name);
    // A null expiry is accepted, so the document allows it.
    assert_eq!(
        schemas["CallerTokenIn"]["properties"]["expires_at"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(schemas["Role"]["enum"], json!(["admin", "member"]));
    assert_eq!(
        schemas["MemberIn"]["properties"]["role"]["$ref"],
        "#/components/schemas/Role"
    );

    let ttl = &schemas["PolicyIn"]["properties"]["ttl_overrides"];
    assert_eq!(ttl["propertyNames"]["enum"], json!(TTL_CLASSES));
    assert_eq!(ttl["additionalProperties"]["maximum"], json!(MAX_TTL_SECS));
    let owners = &schemas["PolicyIn"]["properties"]["allowed_owners"];
    assert!(owners["items"]["pattern"].is_string(), "{owners}");

    let [pat, app] = [0, 1].map(|i| &schemas["IdentityIn"]["oneOf"][i]["properties"]);
    assert_eq!(
        (&pat["kind"]["enum"], &app["kind"]["enum"]),
        (&json!(["pat"]), &json!(["github_app"]))
    );
    assert_eq!(pat["name"], *name);
    assert!(pat["scopes"]["items"]["pattern"].is_string());
    assert_eq!(pat["scopes"], app["scopes"]);
    assert_eq!(app["app_id"]["minimum"], json!(1));
    assert!(app["private_key"]["pattern"].is_string());
    let patch = &schemas["IdentityPatchIn"]["properties"];
    assert_eq!(patch["scopes"]["type"], json!(["array", "null"]));
    assert_eq!(patch["scopes"]["items"], pat["scopes"]["items"]);

    // Every refusal is documented in the one error body: the admin calls' 401/403/404, a 400
    // wherever a path id or a body can be wrong, a 413 wherever there is a body.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let mut expected: Vec<&str> = Vec::new();
            if path.starts_with("/api/v1/tenants/") {
                expected.extend(["401", "403", "404"]);
            }
            if path.ends_with("_id}") || op.get("requestBody").is_some() {
                expected.push("400");
            }
            if op.get("requestBody").is_some() {
                expected.push("413");
            }
            for status in expected {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/Error", "{method} {path} {status}");
            }
        }
    }
    assert_eq!(schemas["Error"]["required"], json!(["message"]));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_bad_path_parameter_answers_the_json_error_body(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let http = reqwest::Client::new();
    for (method, path, param) in [
        ("PATCH", "/members/not-a-uuid", "user_id"),
        ("DELETE", "/members/null,null", "user_id"),
        ("DELETE", "/removed-members/1", "user_id"),
        ("DELETE", "/tokens/x", "token_id"),
        ("PATCH", "/identities/x", "identity_id"),
        ("DELETE", "/identities/x", "identity_id"),
    ] {
        let r = http
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1/tenants/acme{path}", app.url),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let (status, message) = error_of(r).await;
        assert_eq!(status, 400, "{method} {path}: {message}");
        assert!(message.contains(param), "{method} {path}: {message}");
    }
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_bad_body_answers_the_json_error_body_and_changes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let keys = app.config.keys.clone();
    let alice = support::user(&pool, "alice").await;
    let acme = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let mut tx = begin_tenant(&pool, acme.id).await.unwrap();
    let token = create_admin_token(&mut tx, &keys.pepper, support::actor(&alice), alice.id, "script")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/tenants/acme/tokens", app.url);
    let auth = format!("Bearer {}", token.expose());
    let send = |body: &'static str, content_type: &'static str| {
        http.post(&url)
            .header("authorization", &auth)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type, says) in [
        ("{", "application/json", "invalid JSON body"),
        ("", "application/json", "invalid JSON body"),
        // serde alone would read this as {"name": "ci"}.
        (r#"["ci"]"#, "application/json", "send a JSON object"),
        (r#"{"name": 7}"#, "application/json", "invalid type"),
        (r#"{"nom": "ci"}"#, "application/json", "missing field `name`"),
        (
            r#"{"name": "ci", "expires_at": "soon"}"#,
            "application/json",
            "expires_at",
        ),
        (r#"{"name": "ci"}"#, "text/plain", "Content-Type: application/json"),
        (
            r#"{"name": "ci"}"#,
            "application/x-www-form-urlencoded",
            "Content-Type: application/json",
        ),
        (r#"{"name": "   "}"#, "application/json", "1 to 100 characters"),
    ] {
        let (status, message) = error_of(send(body, content_type).await.unwrap()).await;
        assert_eq!(status, 400, "{body:?} as {content_type}: {message}");
        assert!(message.contains(says), "{body:?} as {content_type}: {message}");
    }
    let listed: Value = http
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    // A whole number written as a float is an integer to JSON Schema, so to the API too.
    let policy = format!("{}/api/v1/tenants/acme/policy", app.url);
    let body = json!({"allowed_owners": ["acme-org"], "public_only": false, "search_allowed": true, "token_free_reads": false, "ttl_overrides": {"list": 60.0}});
    let r = http
        .put(&policy)
        .header("authorization", &auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["ttl_overrides"], json!({"list": 60}));
    let body = json!({"allowed_owners": [], "public_only": false, "search_allowed": true, "token_free_reads": false, "ttl_overrides": {"list": 60.5}});
    let r = http
        .put(&policy)
        .header("authorization", &auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, message) = error_of(r).await;
    assert_eq!(status, 400);
    assert!(message.contains("whole number of seconds"), "{message}");

    // A null expiry, as the document allows, is no expiry.
    let r = send(r#"{"name": "ci", "expires_at": null}"#, "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["caller_token"]["expires_at"], Value::Null);
}
