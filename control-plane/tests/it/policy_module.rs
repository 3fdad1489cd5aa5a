//! The tenant's WebAssembly policy module in the control plane: validated with the worker's host
//! and dry-run before it is stored, carried by the bundle, restorable, testable, and the failures
//! and log lines workers report shown to the admin.

use crate::support::{self, TestApp, octo_tenant};
use base64::Engine as _;
use serde_json::{Value, json};
use shoal_common::protocol::{PolicyFailureCount, PolicyLogLine, PolicyModuleReport, UsageReport};
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::tenants::bundle::{BundleContext, build_bundle, current_version};
use shoal_control_plane::tokens::admin::create_admin_token;
use sqlx::PgPool;

fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../tenant-worker/policy-examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A tenant `acme` with an admin API token.
struct Api {
    app: TestApp,
    tenant: shoal_common::TenantId,
    auth: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(pool: &PgPool) -> Api {
        let app = TestApp::spawn(pool.clone()).await;
        let keys = app.config.keys.clone();
        let alice = support::user(pool, "alice").await;
        let acme = support::tenant(pool, &keys, &alice, "acme", "acme-org").await;
        let mut tx = begin_tenant(pool, acme.id).await.unwrap();
        let token = create_admin_token(&mut tx, &keys.pepper, support::actor(&alice), alice.id, "script")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        Api {
            app,
            tenant: acme.id,
            auth: format!("Bearer {}", token.expose()),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .http
            .request(
                method,
                format!("{}/api/v1/tenants/acme/policy/module{path}", self.app.url),
            )
            .header("authorization", &self.auth);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn upload(&self, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, "", Some(body)).await
    }
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_wat_module_is_checked_dry_run_stored_with_its_hash_and_carried_by_the_bundle(pool: PgPool) {
    let api = Api::start(&pool).await;
    let before = current_version(&pool, api.tenant).await.unwrap();
    let (status, out) = api.upload(json!({ "wat": example("deny-all.wat") })).await;
    assert_eq!(status, 200, "{out}");
    let dry_run = out["dry_run"].as_array().unwrap();
    assert_eq!(dry_run.len(), shoal_common::policy::sample_requests().len());
    assert!(
        dry_run.iter().all(|d| d["decision"] == "deny: denied by policy"),
        "{out}"
    );
    let binary = shoal_common::policy::load::to_binary(example("deny-all.wat").as_bytes()).unwrap();
    let sha = shoal_common::protocol::PolicyModule::from_binary(&binary, Default::default()).sha256;
    assert_eq!(out["module"]["current"]["sha256"], sha.as_str());
    assert_eq!(out["module"]["on_failure"], "serve");
    assert_eq!(current_version(&pool, api.tenant).await.unwrap(), before + 1);
    let bundle = bundle_of(&pool, &api).await.unwrap();
    let m = bundle.policy_module.unwrap();
    assert_eq!(m.sha256, sha);
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&m.wasm_base64)
            .unwrap(),
        binary
    );
    // A binary upload of the same module stores the same hash.
    let b64 = base64::engine::general_purpose::STANDARD.encode(&binary);
    let (status, out) = api.upload(json!({ "wasm_base64": b64 })).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["module"]["current"]["sha256"], sha.as_str());
    let (status, out) = api
        .call(
            reqwest::Method::PUT,
            "/on-failure",
            Some(json!({ "on_failure": "fallback_local" })),
        )
        .await;
    assert_eq!((status, &out["on_failure"]), (200, &json!("fallback_local")));
    let bundle = bundle_of(&pool, &api).await.unwrap();
    assert_eq!(
        bundle.policy_module.unwrap().on_failure,
        shoal_common::protocol::OnFailure::FallbackLocal
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn modules_outside_the_contract_are_refused_at_upload_and_change_nothing(pool: PgPool) {
    let api = Api::start(&pool).await;
    let before = current_version(&pool, api.tenant).await.unwrap();
    let head = r#"(global (export "shoal_policy_abi_version") i32 (i32.const 1))"#;
    let oversized =
        base64::engine::general_purpose::STANDARD.encode([b"\0asm\x01\0\0\0".as_slice(), &vec![0u8; 1 << 20]].concat());
    for (body, says) in [
        (
            json!({ "wat": format!(r#"(module (import "env" "f" (func)) {head} (func (export "decide") (result i64) (i64.const 0)))"#) }),
            "env.f",
        ),
        (
            json!({ "wat": format!(r#"(module {head} (func (export "decide") (result i64) unreachable))"#) }),
            "dry run",
        ),
        (
            json!({ "wat": format!(r#"(module {head} (func (export "decide") (result i64) (i64.const 99)))"#) }),
            "garbage",
        ),
        (
            json!({ "wat": format!(r#"(module {head} (func (export "decide") (result i64) (loop $l (br $l)) (i64.const 0)))"#) }),
            "dry run",
        ),
        (
            json!({ "wat": r#"(module (global (export "shoal_policy_abi_version") i32 (i32.const 9)) (func (export "decide") (result i64) (i64.const 0)))"# }),
            "version 9",
        ),
        (json!({ "wat": format!("(module {head})") }), "decide"),
        (json!({ "wasm_base64": oversized }), "the limit is 1048576 bytes"),
        (json!({ "wasm_base64": "%%%" }), "not base64"),
        (json!({}), "exactly one"),
    ] {
        let (status, out) = api.upload(body.clone()).await;
        // Not JSON of the right shape: 400; a well-formed module refused for what it is: 422.
        let want = if says == "exactly one" { 400 } else { 422 };
        assert_eq!(status, want, "{body}: {out}");
        let message = out["message"].as_str().unwrap();
        assert!(message.contains(says), "{says}: {message}");
    }
    assert_eq!(current_version(&pool, api.tenant).await.unwrap(), before);
    let (_, state) = api.call(reqwest::Method::GET, "", None).await;
    assert_eq!(state["current"], Value::Null);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_previous_module_is_restored_in_one_call_and_requests_can_be_tested(pool: PgPool) {
    let api = Api::start(&pool).await;
    let (status, _) = api.call(reqwest::Method::POST, "/restore", None).await;
    assert_eq!(status, 409, "nothing to restore yet");
    let (_, first) = api.upload(json!({ "wat": example("owner-only.wat") })).await;
    let (_, second) = api.upload(json!({ "wat": example("search-fallback.wat") })).await;
    let (a, b) = (
        &first["module"]["current"]["sha256"],
        &second["module"]["current"]["sha256"],
    );
    assert_eq!(&second["module"]["previous"]["sha256"], a);
    let test = |method: &'static str, path: &'static str| {
        api.call(
            reqwest::Method::POST,
            "/test",
            Some(json!({ "method": method, "path": path })),
        )
    };
    let (status, d) = test("GET", "/search/issues?q=org%3Aocto-org").await;
    assert_eq!((status, &d["decision"]), (200, &json!("fallback_local")));
    let (status, restored) = api.call(reqwest::Method::POST, "/restore", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&restored["current"]["sha256"], &restored["previous"]["sha256"]),
        (a, b)
    );
    let (_, d) = test("GET", "/repos/octo-org/hello-world/pulls/1").await;
    assert_eq!(d["decision"], "serve");
    let (_, d) = test("GET", "/repos/other/x").await;
    assert_eq!(d["decision"], "deny: this relay reads octo-org only");
    let (status, _) = test("DELETE", "/repos/other/x").await;
    assert_eq!(status, 400);
    let bundle = bundle_of(&pool, &api).await.unwrap();
    assert_eq!(&json!(bundle.policy_module.unwrap().sha256), a);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn failures_and_log_lines_a_worker_reports_are_shown_to_the_admin(pool: PgPool) {
    let (app, _gh, alice) = octo_tenant(pool.clone()).await;
    let csrf = alice.csrf("/t/octo/policy").await;
    let r = alice
        .post_form(
            "/t/octo/policy/module",
            &[("csrf", &csrf), ("module", &example("members-only.wat"))],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = alice.get_text("/t/octo/policy").await;
    assert!(
        html.contains("Dry run: GET /repos/octo-org/hello-world → deny"),
        "{html}"
    );
    assert!(html.contains("id=\"module-current\""));
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'octo'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let report = UsageReport {
        protocol_version: shoal_common::protocol::PROTOCOL_VERSION,
        report_id: uuid::Uuid::new_v4(),
        tenant: shoal_common::TenantId(tenant),
        bundle_version: 1,
        period_start: now,
        period_end: now,
        requests: vec![],
        upstream: vec![],
        identity_health: vec![],
        policy_module: PolicyModuleReport {
            sha256: Some("ab".repeat(32)),
            failures: vec![PolicyFailureCount {
                kind: "fuel".into(),
                count: 3,
                last_detail: "all fuel consumed".into(),
            }],
            logs: vec![PolicyLogLine {
                level: "info".into(),
                message: "refused a member outside the list".into(),
                at: now,
            }],
        },
        last_served: None,
        top_repositories: vec![],
        worker_version: String::new(),
        errors: 0,
    };
    shoal_control_plane::tenants::usage::apply_report(&pool, shoal_common::TenantId(tenant), &report)
        .await
        .unwrap();
    let (_, html) = alice.get_text("/t/octo/policy").await;
    assert!(
        html.contains("<td>fuel</td><td>3</td><td>all fuel consumed</td>"),
        "{html}"
    );
    assert!(html.contains("info: refused a member outside the list"), "{html}");
    let csrf = alice.csrf("/t/octo/policy").await;
    alice
        .post_form(
            "/t/octo/policy/module/test",
            &[
                ("csrf", &csrf),
                ("method", "GET"),
                ("path", "/repos/octo-org/hello-world"),
            ],
        )
        .await;
    let (_, html) = alice.get_text("/t/octo/policy").await;
    assert!(
        html.contains("The module decides GET /repos/octo-org/hello-world → "),
        "{html}"
    );
    drop(app);
}

/// The tenant's bundle as its worker would get it.
async fn bundle_of(pool: &PgPool, api: &Api) -> Result<shoal_common::protocol::Bundle, shoal_control_plane::Error> {
    let config = &api.app.config;
    let public_url = url::Url::parse(&api.app.url).unwrap();
    let ctx = BundleContext {
        keys: &config.keys,
        upstream: "http://x",
        billing: &config.billing,
        public_url: &public_url,
    };
    build_bundle(pool, &ctx, api.tenant).await
}
