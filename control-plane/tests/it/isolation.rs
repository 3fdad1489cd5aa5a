//! Tenant isolation, table by table and door by door. Every table that carries `tenant_id` is
//! listed in [`TENANT_OWNED`] with the tests that prove another tenant cannot reach its rows (a new
//! table without an entry fails [`every_tenant_owned_table_has_its_cross_tenant_test`]); row-level
//! security is checked generically for all of them, and the doors (pages, admin API, edge, relay,
//! internal API) are driven with two tenants that share repositories, a GitHub account behind
//! their identities, and a member.

use crate::support::{self, TestApp, location};
use shoal_control_plane::config::Keys;
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::tenants::Tenant;
use sqlx::PgPool;
use std::collections::BTreeSet;

/// Every table with a `tenant_id` column, and where its cross-tenant refusals are tested (beside
/// the generic row-level security check in this module, which covers every RLS table).
const TENANT_OWNED: &[(&str, &str)] = &[
    (
        "memberships",
        "a_session_of_one_tenants_admin_gets_404_on_every_page_and_form_of_another; it::flows::an_org_admin_creates_a_tenant_members_join_by_signing_in_and_others_cannot",
    ),
    (
        "caller_tokens",
        "a_caller_token_of_one_tenant_is_unknown_at_the_others_host_and_caches_stay_apart; cross-ids in an_admin_api_token_of_one_tenant_reaches_nothing_of_another",
    ),
    (
        "identities",
        "an_admin_api_token_of_one_tenant_reaches_nothing_of_another; it::domain::identity_secrets_are_sealed_in_the_database_and_open_only_for_their_tenant_and_record",
    ),
    (
        "policies",
        "an_admin_api_token_of_one_tenant_reaches_nothing_of_another (policy and module routes)",
    ),
    (
        "workers",
        "it::internal::a_worker_cannot_read_another_tenants_bundle_or_forge_or_replay",
    ),
    (
        "usage_requests_hourly",
        "it::internal::usage_reports_land_once_per_report_id_and_only_for_the_own_tenant",
    ),
    (
        "usage_upstream_hourly",
        "it::internal::usage_reports_land_once_per_report_id_and_only_for_the_own_tenant",
    ),
    (
        "usage_reports",
        "it::internal::usage_reports_land_once_per_report_id_and_only_for_the_own_tenant",
    ),
    (
        "audit_log",
        "an_admin_api_token_of_one_tenant_reaches_nothing_of_another (audit route); a_session_of_one_tenants_admin_gets_404_on_every_page_and_form_of_another",
    ),
    (
        "admin_api_tokens",
        "an_admin_api_token_of_one_tenant_reaches_nothing_of_another; it::domain::admin_api_tokens_work_only_while_their_owner_is_an_admin",
    ),
    (
        "identity_health",
        "it::internal::usage_reports_land_once_per_report_id_and_only_for_the_own_tenant (health arrives with usage, keyed by the signer's tenant)",
    ),
    (
        "member_removals",
        "an_admin_api_token_of_one_tenant_reaches_nothing_of_another (removed-members routes)",
    ),
    ("webhook_secrets", "it::webhooks::another_tenants_secret_is_refused"),
    (
        "webhook_events",
        "it::internal::a_stored_event_reaches_its_tenants_worker_within_a_second_and_never_another; it::internal::the_event_feed_refuses_forged_or_other_workers_signatures",
    ),
    (
        "policy_modules",
        "an_admin_api_token_of_one_tenant_reaches_nothing_of_another (module routes)",
    ),
    (
        "policy_module_failures",
        "it::internal::usage_reports_land_once_per_report_id_and_only_for_the_own_tenant; it::policy_module::failures_and_log_lines_a_worker_reports_are_shown_to_the_admin",
    ),
    (
        "policy_module_logs",
        "it::policy_module::failures_and_log_lines_a_worker_reports_are_shown_to_the_admin",
    ),
    (
        "usage_daily",
        "it::dashboard::an_admin_of_one_tenant_sees_nothing_of_another; it::dashboard::every_number_on_the_page_in_the_json_and_in_the_csv_equals_a_direct_sql_sum_for_each_range",
    ),
    (
        "usage_repos_hourly",
        "it::dashboard::an_admin_of_one_tenant_sees_nothing_of_another (top repositories)",
    ),
    (
        "usage_budget_hourly",
        "it::dashboard::an_admin_of_one_tenant_sees_nothing_of_another (budget history)",
    ),
    (
        "usage_errors_hourly",
        "it::dashboard::an_admin_of_one_tenant_sees_nothing_of_another (errors)",
    ),
    (
        "billing_events",
        "JOB: not readable by shoal_app at all (every_tenant_owned_table_shows_a_tenant_transaction_only_its_own_rows)",
    ),
    (
        "billing_meter_outbox",
        "JOB: not readable by shoal_app at all (every_tenant_owned_table_shows_a_tenant_transaction_only_its_own_rows)",
    ),
];

/// Job tables drained across tenants by the control plane itself: no RLS policy, and no grant to
/// the tenant-scoped role either.
const JOB_TABLES: &[&str] = &["billing_events", "billing_meter_outbox"];

async fn tables_with_tenant_id(pool: &PgPool) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT table_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'tenant_id'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn every_tenant_owned_table_has_its_cross_tenant_test(pool: PgPool) {
    let in_schema = tables_with_tenant_id(&pool).await;
    let listed: BTreeSet<String> = TENANT_OWNED.iter().map(|(t, _)| t.to_string()).collect();
    assert_eq!(
        in_schema, listed,
        "a tenant-owned table was added or removed: list it in TENANT_OWNED with the test that refuses another tenant"
    );
    for table in &in_schema {
        let (rls, policies): (bool, i64) = sqlx::query_as(
            "SELECT c.relrowsecurity, (SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname)
             FROM pg_class c WHERE c.relname = $1 AND c.relnamespace = 'public'::regnamespace",
        )
        .bind(table)
        .fetch_one(&pool)
        .await
        .unwrap();
        if JOB_TABLES.contains(&table.as_str()) {
            assert!(
                !rls,
                "{table} is listed as a job table but has RLS: move it out of JOB_TABLES"
            );
        } else {
            assert!(
                rls && policies == 1,
                "{table} carries tenant_id but has no row-level security policy"
            );
        }
    }
}

/// One row of every tenant-owned table for tenant `t` (owned by `user`, `other` removed).
async fn seed_every_table(pool: &PgPool, t: &Tenant, user: uuid::Uuid, other: uuid::Uuid) {
    let hour = "date_trunc('hour', now())";
    for sql in [
        "INSERT INTO caller_tokens (id, tenant_id, user_id, name, token_hash, display_prefix)
         VALUES (gen_random_uuid(), $1, $2, 'x', sha256(gen_random_uuid()::text::bytea), 'shoal_x')"
            .to_string(),
        "INSERT INTO identities (id, tenant_id, kind, name, sealed_secret) VALUES (gen_random_uuid(), $1, 'pat', 'x', '\\x00')"
            .to_string(),
        format!(
            "INSERT INTO usage_requests_hourly (tenant_id, hour, route_class, cache_status, requests) VALUES ($1, {hour}, 'core', 'hit', 1)"
        ),
        format!(
            "INSERT INTO usage_upstream_hourly (tenant_id, hour, identity_id, resource, calls) VALUES ($1, {hour}, gen_random_uuid(), 'core', 1)"
        ),
        "INSERT INTO usage_daily (tenant_id, day, requests) VALUES ($1, current_date, 1)".to_string(),
        format!("INSERT INTO usage_repos_hourly (tenant_id, hour, repository, requests) VALUES ($1, {hour}, 'o/r', 1)"),
        format!(
            "INSERT INTO usage_budget_hourly (tenant_id, hour, identity_id, resource, budget_limit, remaining) VALUES ($1, {hour}, gen_random_uuid(), 'core', 5000, 1)"
        ),
        format!("INSERT INTO usage_errors_hourly (tenant_id, hour, errors) VALUES ($1, {hour}, 1)"),
        "INSERT INTO usage_reports (report_id, tenant_id) VALUES (gen_random_uuid(), $1)".to_string(),
        "INSERT INTO admin_api_tokens (id, tenant_id, user_id, name, token_hash, display_prefix)
         VALUES (gen_random_uuid(), $1, $2, 'x', sha256(gen_random_uuid()::text::bytea), 'shoal_x')"
            .to_string(),
        "INSERT INTO identity_health (tenant_id, identity_id, state) VALUES ($1, gen_random_uuid(), 'healthy')".to_string(),
        "INSERT INTO member_removals (tenant_id, user_id) VALUES ($1, $2) -- the removed one".to_string(),
        "INSERT INTO webhook_secrets (id, tenant_id, sealed_secret) VALUES (gen_random_uuid(), $1, '\\x00')".to_string(),
        "INSERT INTO webhook_events (tenant_id, delivery_id, event, payload) VALUES ($1, 'd1', 'ping', '{}')".to_string(),
        "INSERT INTO policy_modules (tenant_id, slot, wasm, sha256) VALUES ($1, 'current', '\\x00', repeat('0', 64))"
            .to_string(),
        "INSERT INTO policy_module_failures (tenant_id, sha256, kind) VALUES ($1, 'x', 'fuel')".to_string(),
        "INSERT INTO policy_module_logs (tenant_id, at, level, message) VALUES ($1, now(), 'info', 'x')".to_string(),
        format!(
            "INSERT INTO billing_meter_outbox (tenant_id, hour, identifier, stripe_customer, value) VALUES ($1, {hour}, 'm-' || $1::text, 'cus_x', 1)"
        ),
        "INSERT INTO billing_events (id, tenant_id, event_type, payload) VALUES ('evt_' || $1::text, $1, 'x', '{}')"
            .to_string(),
    ] {
        let mut q = sqlx::query(&sql).bind(t.id.as_uuid());
        if sql.contains("the removed one") {
            q = q.bind(other);
        } else if sql.contains("$2") {
            q = q.bind(user);
        }
        q.execute(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

async fn count_for(pool: &PgPool, table: &str, tenant: uuid::Uuid) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"))
        .bind(tenant)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn every_tenant_owned_table_shows_a_tenant_transaction_only_its_own_rows(pool: PgPool) {
    let keys = Keys::generate();
    // A member in common: carol is in both tenants.
    let alice = support::user(&pool, "alice").await;
    let bob = support::user(&pool, "bob").await;
    let carol = support::user(&pool, "carol").await;
    let a = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let b = support::tenant(&pool, &keys, &bob, "bobco", "bob-org").await;
    for t in [&a, &b] {
        sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'member')")
            .bind(t.id.as_uuid())
            .bind(carol.id.as_uuid())
            .execute(&pool)
            .await
            .unwrap();
    }
    seed_every_table(&pool, &a, alice.id.as_uuid(), carol.id.as_uuid()).await;
    seed_every_table(&pool, &b, bob.id.as_uuid(), carol.id.as_uuid()).await;

    let tables = tables_with_tenant_id(&pool).await;
    let privilege = async |table: &str, what: &str| -> bool {
        sqlx::query_scalar("SELECT has_table_privilege('shoal_app', $1, $2)")
            .bind(table)
            .bind(what)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    for table in &tables {
        let (a_rows, b_rows) = (
            count_for(&pool, table, a.id.as_uuid()).await,
            count_for(&pool, table, b.id.as_uuid()).await,
        );
        assert!(a_rows > 0 && b_rows > 0, "{table}: both tenants have rows to hide");
        if JOB_TABLES.contains(&table.as_str()) {
            assert!(
                !privilege(table, "SELECT").await,
                "{table}: the tenant-scoped role must not read a job table"
            );
            let mut tx = begin_tenant(&pool, a.id).await.unwrap();
            let err = sqlx::query(&format!("SELECT count(*) FROM {table}"))
                .execute(&mut *tx)
                .await
                .unwrap_err();
            assert!(err.to_string().contains("permission denied"), "{table}: {err}");
            continue;
        }
        let mut tx = begin_tenant(&pool, a.id).await.unwrap();
        let seen: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(seen, a_rows, "{table}: tenant a sees exactly its own rows");
        let named: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"))
            .bind(b.id.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(named, 0, "{table}: naming tenant b finds nothing");
        drop(tx);

        if privilege(table, "UPDATE").await {
            let mut tx = begin_tenant(&pool, a.id).await.unwrap();
            let touched = sqlx::query(&format!("UPDATE {table} SET tenant_id = tenant_id"))
                .execute(&mut *tx)
                .await
                .unwrap()
                .rows_affected();
            assert_eq!(
                touched as i64, a_rows,
                "{table}: an unfiltered UPDATE touches only a's rows"
            );
            drop(tx);
            let mut tx = begin_tenant(&pool, a.id).await.unwrap();
            let moved = sqlx::query(&format!("UPDATE {table} SET tenant_id = $1"))
                .bind(b.id.as_uuid())
                .execute(&mut *tx)
                .await;
            let err = moved.expect_err("moving a row to another tenant must fail").to_string();
            assert!(err.contains("row-level security"), "{table}: {err}");
        }
        if privilege(table, "DELETE").await {
            let mut tx = begin_tenant(&pool, a.id).await.unwrap();
            let gone = sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await
                .unwrap()
                .rows_affected();
            assert_eq!(
                gone as i64, a_rows,
                "{table}: an unfiltered DELETE removes only a's rows"
            );
            tx.commit().await.unwrap();
            assert_eq!(
                count_for(&pool, table, b.id.as_uuid()).await,
                b_rows,
                "{table}: b's rows survive a's careless DELETE"
            );
        }
    }
    // The tenants table itself (keyed by id).
    let mut tx = begin_tenant(&pool, a.id).await.unwrap();
    let slugs: Vec<String> = sqlx::query_scalar("SELECT slug FROM tenants")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(slugs, ["acme"]);
    let renamed = sqlx::query("UPDATE tenants SET github_org = 'x' WHERE id = $1")
        .bind(b.id.as_uuid())
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(renamed, 0);
}

/// Two tenants over the HTTP doors: `acme` (org acme-org, admin alice) and `bobco` (org bob-org,
/// admin bob); carol is a member of both; dave was removed from bobco. bobco owns a caller token,
/// an identity, an admin API token and a policy module, whose ids acme's people try.
struct Pair {
    app: TestApp,
    _gh: shoal_fake_github::FakeGithub,
    alice: support::Browser,
    alice_token: String,
    bob_admin_token: String,
    bob_id: uuid::Uuid,
    dave_id: uuid::Uuid,
    b: Tenant,
    b_token_id: uuid::Uuid,
    b_identity_id: uuid::Uuid,
    b_admin_token_id: uuid::Uuid,
}

impl Pair {
    async fn start(pool: PgPool) -> Self {
        let (app, gh) = support::app_with_github(pool.clone()).await;
        gh.add_org_member("acme-org", "alice", "admin");
        gh.add_org_member("bob-org", "bob", "admin");
        for org in ["acme-org", "bob-org"] {
            gh.add_org_member(org, "carol", "member");
        }
        let alice = support::sign_in(&app, &gh, "alice").await;
        let csrf = alice.csrf("/tenants/new").await;
        let r = alice
            .post_form(
                "/tenants/new",
                &[("csrf", &csrf), ("org", "acme-org"), ("slug", "acme")],
            )
            .await;
        assert_eq!(location(&r), "/t/acme");
        let bob = support::sign_in(&app, &gh, "bob").await;
        let csrf = bob.csrf("/tenants/new").await;
        let r = bob
            .post_form(
                "/tenants/new",
                &[("csrf", &csrf), ("org", "bob-org"), ("slug", "bobco")],
            )
            .await;
        assert_eq!(location(&r), "/t/bobco");
        let _carol = support::sign_in(&app, &gh, "carol").await;
        let keys = &app.config.keys;
        let user_id = async |login: &str| -> uuid::Uuid {
            sqlx::query_scalar("SELECT id FROM users WHERE login = $1")
                .bind(login)
                .fetch_one(&pool)
                .await
                .unwrap()
        };
        let (alice_id, bob_id, carol_id) = (user_id("alice").await, user_id("bob").await, user_id("carol").await);
        let dave = support::user(&pool, "dave").await;
        let a = shoal_control_plane::tenants::resolve(&pool, "acme").await.unwrap();
        let b = shoal_control_plane::tenants::resolve(&pool, "bobco").await.unwrap();
        for t in [&a, &b] {
            sqlx::query(
                "INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'member') ON CONFLICT DO NOTHING",
            )
            .bind(t.id.as_uuid())
            .bind(carol_id)
            .execute(&pool)
            .await
            .unwrap();
        }
        let actor = |u: uuid::Uuid| shoal_control_plane::audit::Actor::user(shoal_common::UserId(u), None);
        let mut tx = begin_tenant(&pool, a.id).await.unwrap();
        let alice_token = shoal_control_plane::tokens::admin::create_admin_token(
            &mut tx,
            &keys.pepper,
            actor(alice_id),
            shoal_common::UserId(alice_id),
            "script",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut tx = begin_tenant(&pool, b.id).await.unwrap();
        let (b_token, _) = shoal_control_plane::tokens::create_caller_token(
            &mut tx,
            &keys.pepper,
            actor(bob_id),
            shoal_common::UserId(carol_id),
            "carol-laptop",
            None,
        )
        .await
        .unwrap();
        let bob_admin_token = shoal_control_plane::tokens::admin::create_admin_token(
            &mut tx,
            &keys.pepper,
            actor(bob_id),
            shoal_common::UserId(bob_id),
            "bob-script",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let b_identity_id = uuid::Uuid::new_v4();
        sqlx::query("INSERT INTO identities (id, tenant_id, kind, name, sealed_secret, scopes) VALUES ($1, $2, 'pat', 'bob-bot', '\\x00', '{bob-org}')")
            .bind(b_identity_id)
            .bind(b.id.as_uuid())
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO member_removals (tenant_id, user_id) VALUES ($1, $2)")
            .bind(b.id.as_uuid())
            .bind(dave.id.as_uuid())
            .execute(&pool)
            .await
            .unwrap();
        let b_admin_token_id = sqlx::query_scalar("SELECT id FROM admin_api_tokens WHERE tenant_id = $1")
            .bind(b.id.as_uuid())
            .fetch_one(&pool)
            .await
            .unwrap();
        Pair {
            app,
            _gh: gh,
            alice,
            alice_token: alice_token.expose().to_string(),
            bob_admin_token: bob_admin_token.expose().to_string(),
            bob_id,
            dave_id: dave.id.as_uuid(),
            b,
            b_token_id: b_token.id.as_uuid(),
            b_identity_id,
            b_admin_token_id,
        }
    }

    /// Every row tenant b owns, as text: what no request of acme's people may change.
    async fn b_rows(&self) -> String {
        support::tenant_rows(&self.app.pool, self.b.id).await
    }

    /// Path templates with b's ids filled in.
    fn fill(&self, template: &str, slug: &str) -> String {
        let id = if template.contains("/identities/") {
            self.b_identity_id
        } else if template.contains("/api-tokens/") {
            self.b_admin_token_id
        } else {
            self.b_token_id
        };
        let user = if template.contains("removed-members") || template.ends_with("/allow") {
            self.dave_id
        } else {
            self.bob_id
        };
        template
            .replace("{slug}", slug)
            .replace("{user_id}", &user.to_string())
            .replace("{user}", &user.to_string())
            .replace("{token_id}", &self.b_token_id.to_string())
            .replace("{identity_id}", &self.b_identity_id.to_string())
            .replace("{id}", &id.to_string())
    }

    /// What b's secrets and names look like in a body that must not show them.
    fn shows_b(&self, body: &str) -> bool {
        [
            "bobco",
            "bob-bot",
            "bob-script",
            "carol-laptop",
            &self.b_token_id.to_string(),
            &self.b_identity_id.to_string(),
            &self.b_admin_token_id.to_string(),
            &self.bob_admin_token,
        ]
        .iter()
        .any(|s| body.contains(s))
    }
}

/// Form fields any tenant form might read.
const FORM: &[(&str, &str)] = &[
    ("role", "member"),
    ("enabled", "false"),
    ("scopes", "acme-org"),
    ("name", "x"),
    ("token", "ghp_x"),
    ("plan", "team"),
    ("allowed_owners", "acme-org"),
    ("on_failure", "serve"),
];

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_session_of_one_tenants_admin_gets_404_on_every_page_and_form_of_another(pool: PgPool) {
    let p = Pair::start(pool).await;
    let before = p.b_rows().await;
    let csrf = p.alice.csrf("/t/acme/tokens").await;
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    form.extend_from_slice(FORM);
    for template in support::tenant_page_routes() {
        // b's pages and forms: as if bobco did not exist.
        let path = p.fill(&template, "bobco");
        let (status, body) = p.alice.get_text(&path).await;
        assert!(matches!(status, 404 | 405), "GET {path}: {status}");
        assert!(!p.shows_b(&body.replace("/t/bobco", "")), "GET {path} shows b: {body}");
        let r = p.alice.post_form(&path, &form).await;
        let status = r.status().as_u16();
        assert!(matches!(status, 404 | 405), "POST {path}: {status}");
        // acme's own forms, aimed at b's records: they find nothing to act on.
        let path = p.fill(&template, "acme");
        let (_, body) = p.alice.get_text(&path).await;
        assert!(!p.shows_b(&body), "GET {path} shows b: {body}");
        let r = p.alice.post_form(&path, &form).await;
        let status = r.status().as_u16();
        assert!(status < 500, "POST {path}: {status}");
        let flash = p.alice.get_text("/t/acme").await.1;
        assert!(!p.shows_b(&flash), "after POST {path}: {flash}");
    }
    // The admin API with alice's session (and the page's CSRF token): 404 at b.
    for (method, template) in shoal_control_plane::api::API_ROUTES {
        if !template.starts_with("/api/v1/tenants/") {
            continue;
        }
        let url = format!("{}{}", p.app.url, p.fill(template, "bobco"));
        let r = p
            .alice
            .with_cookie(p.alice.http.request(method.to_uppercase().parse().unwrap(), &url))
            .header("x-csrf-token", &csrf)
            .json(&serde_json::json!({"role": "member", "enabled": false, "name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {url}");
    }
    assert_eq!(p.b_rows().await, before, "tenant b's rows changed");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_admin_api_token_of_one_tenant_reaches_nothing_of_another(pool: PgPool) {
    let p = Pair::start(pool).await;
    let before = p.b_rows().await;
    let http = reqwest::Client::new();
    let auth = format!("Bearer {}", p.alice_token);
    let bodies = serde_json::json!({"role": "member", "enabled": false, "name": "x", "scopes": ["bob-org"]});
    for (method, template) in shoal_control_plane::api::API_ROUTES {
        if !template.starts_with("/api/v1/tenants/") {
            continue;
        }
        let method: reqwest::Method = method.to_uppercase().parse().unwrap();
        // At b's paths: acme's token is unknown there.
        let url = format!("{}{}", p.app.url, p.fill(template, "bobco"));
        let r = http
            .request(method.clone(), &url)
            .header("authorization", &auth)
            .json(&bodies)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {url}");
        let body = r.text().await.unwrap();
        assert!(!p.shows_b(&body), "{method} {url}: {body}");
        // At acme's paths with b's ids: not found (or a list without them).
        let url = format!("{}{}", p.app.url, p.fill(template, "acme"));
        let r = http
            .request(method.clone(), &url)
            .header("authorization", &auth)
            .json(&bodies)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        if template.ends_with("_id}") {
            assert_eq!(status, 404, "{method} {url}: {body}");
        } else {
            assert!(status < 500, "{method} {url}: {status} {body}");
        }
        assert!(!p.shows_b(&body), "{method} {url}: {body}");
    }
    assert_eq!(p.b_rows().await, before, "tenant b's rows changed");
    // b's own token still works at b, and shows b's records (the checks above are not vacuous).
    let r = http
        .get(format!("{}/api/v1/tenants/bobco/identities", p.app.url))
        .header("authorization", format!("Bearer {}", p.bob_admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("bob-bot"));
}

/// curl to the plain edge at `edge` with these extra arguments (headers, `--path-as-is`...):
/// (status, body, headers).
async fn edge_curl(edge: std::net::SocketAddr, args: Vec<String>, path: &str) -> (u16, String, String) {
    let url = format!("http://{edge}{path}");
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "-D", "/dev/stderr", "-w", "\n%{http_code}"])
            .args(&args)
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (
            status.parse().unwrap(),
            body.to_string(),
            String::from_utf8_lossy(&out.stderr).to_ascii_lowercase(),
        )
    })
    .await
    .unwrap()
}

fn as_caller(host: &str, token: &str) -> Vec<String> {
    vec![
        "-H".into(),
        format!("Host: {host}"),
        "-H".into(),
        format!("Authorization: token {token}"),
    ]
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_caller_token_of_one_tenant_is_unknown_at_the_others_host_and_caches_stay_apart(pool: PgPool) {
    use crate::support::workers::{launcher, reconcile, seed_tenant};
    use shoal_control_plane::edge::proxy::{EdgeState, router as edge_router};
    use shoal_control_plane::edge::serve::serve_plain;
    use shoal_control_plane::scheduler::process::{Isolation, ProcessRuntime};

    // Both tenants read octo-org's repositories with a PAT of the same GitHub account.
    let gh = shoal_fake_github::FakeGithub::start(shoal_fake_github::Options::default()).await;
    let (pat_a, pat_b) = (gh.add_token("octo-bot"), gh.add_token("octo-bot"));
    let app = support::app_against(pool.clone(), &gh, |_| {}).await;
    let keys = app.config.keys.clone();
    let a = seed_tenant(&pool, &keys, "acme", "octo-org", ("alice", 4242), &pat_a).await;
    let b = seed_tenant(&pool, &keys, "bobco", "octo-org", ("bob", 4343), &pat_b).await;
    let dir = tempfile::tempdir().unwrap();
    let runtime = std::sync::Arc::new(ProcessRuntime::new(
        launcher(app.url.clone(), 200),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, task) = reconcile(&pool, runtime, keys.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let edge = listener.local_addr().unwrap();
    let cp: std::net::SocketAddr = app.url.trim_start_matches("http://").parse().unwrap();
    tokio::spawn(serve_plain(
        listener,
        edge_router(EdgeState::new(pool.clone(), "localhost", "http").with_control_plane(cp)),
    ));
    let (tok_a, tok_b) = (a.token.expose().to_string(), b.token.expose().to_string());
    const REPO: &str = "/api/v3/repos/octo-org/hello-world";
    for (host, tok) in [("acme.localhost", &tok_a), ("bobco.localhost", &tok_b)] {
        support::until(20, "both tenants serving", async || {
            let (status, _, _) = edge_curl(edge, as_caller(host, tok), "/api/v3/rate_limit").await;
            (status == 200).then_some(())
        })
        .await;
    }
    gh.reset_stats();
    let calls = |pat: &str| gh.stats().by_token.get(pat).map(|s| s.calls).unwrap_or(0);

    // acme's read is cached for acme only: bobco's first read of the same repository is a miss
    // spent on bobco's own identity.
    let (status, _, h) = edge_curl(edge, as_caller("acme.localhost", &tok_a), REPO).await;
    assert_eq!(status, 200);
    assert!(h.contains("x-shoal-cache: miss"), "{h}");
    let (_, _, h) = edge_curl(edge, as_caller("acme.localhost", &tok_a), REPO).await;
    assert!(h.contains("x-shoal-cache: hit"), "{h}");
    let (status, _, h) = edge_curl(edge, as_caller("bobco.localhost", &tok_b), REPO).await;
    assert_eq!(status, 200);
    assert!(
        h.contains("x-shoal-cache: miss"),
        "bobco was served acme's cache entry: {h}"
    );
    assert_eq!((calls(&pat_a), calls(&pat_b)), (1, 1));

    // Each caller token is unknown at the other's host, however the host is written.
    for (host, tok) in [
        ("bobco.localhost", &tok_a),
        ("BOBCO.localhost", &tok_a),
        ("bobco.localhost.", &tok_a),
        ("bobco.localhost:1", &tok_a),
        ("acme.localhost", &tok_b),
    ] {
        let (status, body, _) = edge_curl(edge, as_caller(host, tok), REPO).await;
        assert_eq!(status, 401, "{host}: {body}");
    }
    // The Host header routes, never X-Forwarded-Host or an absolute request target.
    let mut args = as_caller("bobco.localhost", &tok_a);
    args.extend(["-H".into(), "X-Forwarded-Host: acme.localhost".into()]);
    assert_eq!(edge_curl(edge, args, REPO).await.0, 401);
    let mut args = as_caller("bobco.localhost", &tok_a);
    args.extend(["--request-target".into(), format!("http://acme.localhost{REPO}")]);
    assert_eq!(edge_curl(edge, args, REPO).await.0, 401);
    for host in [
        "acme.bobco.localhost",
        "bobco.localhost@acme.localhost",
        "acme.localhost.evil.example",
        "",
    ] {
        let (status, _, _) = edge_curl(edge, as_caller(host, &tok_a), REPO).await;
        assert_eq!(status, 404, "Host: {host:?}");
    }
    // Forwarded headers a caller sends cannot point links at another host.
    let mut args = as_caller("acme.localhost", &tok_a);
    args.extend([
        "-H".into(),
        "X-Forwarded-Host: bobco.localhost".into(),
        "-H".into(),
        "X-Forwarded-Proto: https".into(),
    ]);
    let (status, body, _) = edge_curl(edge, args, REPO).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("http://acme.localhost") && !body.contains("bobco") && !body.contains("https://acme"),
        "{body}"
    );

    // Path tricks on acme's host reach neither bobco's data nor the internal API.
    for path in [
        "/api/v3/../../internal/v1/bundle",
        "/api/v3/%2e%2e/%2e%2e/internal/v1/bundle",
        "/internal/v1/bundle",
        "/internal/v1/events",
        "/api/v3/repos/octo-org/hello-world/..%2f..%2fbobco",
        "/api/v1/tenants/bobco/identities",
        "/api/v1/tenants/bobco/../acme/identities",
        "/api/v1/tenants/acme/../bobco/identities",
        "/api/v1/../v1/tenants/bobco/identities",
    ] {
        let mut args = as_caller("acme.localhost", &tok_a);
        args.push("--path-as-is".into());
        let (status, body, _) = edge_curl(edge, args, path).await;
        assert!(matches!(status, 400 | 401 | 403 | 404), "{path}: {status} {body}");
        assert!(
            !body.contains("octo-bot") && !body.contains("bundle_version"),
            "{path}: {body}"
        );
    }
    assert_eq!(
        (calls(&pat_a), calls(&pat_b)),
        (1, 1),
        "no refused request reached GitHub"
    );

    // The admin API through a tenant's host is that tenant's only: bobco's admin token works at
    // bobco's host and is refused at acme's.
    let bob: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'bob'")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(b.tenant.as_uuid())
        .bind(bob)
        .execute(&pool)
        .await
        .unwrap();
    let mut tx = begin_tenant(&pool, b.tenant).await.unwrap();
    let bob_admin = shoal_control_plane::tokens::admin::create_admin_token(
        &mut tx,
        &keys.pepper,
        shoal_control_plane::audit::Actor::user(shoal_common::UserId(bob), None),
        shoal_common::UserId(bob),
        "bob",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let admin_at = |host: &str| {
        vec![
            "-H".to_string(),
            format!("Host: {host}"),
            "-H".to_string(),
            format!("Authorization: Bearer {}", bob_admin.expose()),
        ]
    };
    let path = "/api/v1/tenants/bobco/identities";
    assert_eq!(edge_curl(edge, admin_at("bobco.localhost"), path).await.0, 200);
    let (status, body, _) = edge_curl(edge, admin_at("acme.localhost"), path).await;
    assert_eq!(status, 404, "{body}");
    let _ = stop.send(true);
    task.await.unwrap();
}
