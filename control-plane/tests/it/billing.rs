//! Plan caps: with billing on, a tenant's plan bounds its identities and members; with billing
//! off nothing is capped.

use crate::support::github::octo_tenant_and;
use crate::support::{self, TestApp, location};
use shoal_common::TenantId;
use shoal_control_plane::Error;
use shoal_control_plane::config::BillingConfig;
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::tenants::members;
use shoal_control_plane::tokens::admin::create_admin_token;
use shoal_fake_github::FakeGithub;
use sqlx::PgPool;

async fn count_identities(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM identities")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// An app with billing on or off, a tenant `acme` on `plan`, and an admin API bearer for it.
async fn acme(pool: &PgPool, billing: BillingConfig, plan: &str) -> (TestApp, FakeGithub, String) {
    let (app, gh) = support::github::app_with_github_and(pool.clone(), |c| c.billing = billing).await;
    let keys = app.config.keys.clone();
    let alice = support::user(pool, "alice").await;
    let acme = support::tenant(pool, &keys, &alice, "acme", "acme-org").await;
    sqlx::query("UPDATE tenants SET plan = $1 WHERE id = $2")
        .bind(plan)
        .bind(acme.id.as_uuid())
        .execute(pool)
        .await
        .unwrap();
    let mut tx = begin_tenant(pool, acme.id).await.unwrap();
    let token = create_admin_token(&mut tx, &keys.pepper, support::actor(&alice), alice.id, "script")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (app, gh, format!("Bearer {}", token.expose()))
}

async fn add_pat(app: &TestApp, gh: &FakeGithub, auth: &str, name: &str) -> (u16, serde_json::Value) {
    let pat = gh.add_token(&format!("{name}-bot"));
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/tenants/acme/identities", app.url))
        .header("authorization", auth)
        .json(&serde_json::json!({ "kind": "pat", "name": name, "token": pat }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_free_tenants_second_identity_is_refused_over_the_api_with_402_and_nothing_saved(pool: PgPool) {
    let (app, gh, auth) = acme(&pool, BillingConfig::on_for_tests(), "free").await;
    assert_eq!(add_pat(&app, &gh, &auth, "one").await.0, 201);
    let (status, body) = add_pat(&app, &gh, &auth, "two").await;
    assert_eq!(status, 402, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("free plan") && msg.contains("at most 1 identity") && msg.contains("/pricing"),
        "{msg}"
    );
    assert_eq!(count_identities(&pool).await, 1);
}

async fn a_second_identity_fits(pool: PgPool, billing: BillingConfig, plan: &str) {
    let (app, gh, auth) = acme(&pool, billing, plan).await;
    assert_eq!(add_pat(&app, &gh, &auth, "one").await.0, 201);
    assert_eq!(add_pat(&app, &gh, &auth, "two").await.0, 201);
    assert_eq!(count_identities(&pool).await, 2);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn with_billing_off_a_free_tenant_adds_a_second_identity(pool: PgPool) {
    a_second_identity_fits(pool, BillingConfig::default(), "free").await;
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_team_tenant_may_add_a_second_identity(pool: PgPool) {
    a_second_identity_fits(pool, BillingConfig::on_for_tests(), "team").await;
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_free_tenants_second_identity_is_refused_on_the_page_with_an_upgrade_link(pool: PgPool) {
    let (_app, gh, alice) = octo_tenant_and(pool.clone(), |c| c.billing = BillingConfig::on_for_tests()).await;
    let csrf = alice.csrf("/t/octo/identities").await;
    for name in ["one", "two"] {
        let pat = gh.add_token(&format!("{name}-bot"));
        let r = alice
            .post_form(
                "/t/octo/identities/pat",
                &[("csrf", &csrf), ("name", name), ("token", &pat), ("scopes", "")],
            )
            .await;
        assert_eq!(location(&r), "/t/octo/identities");
    }
    let (_, html) = alice.get_text("/t/octo/identities").await;
    assert!(
        html.contains("the free plan allows at most 1 identity") && html.contains("/pricing"),
        "{html}"
    );
    assert_eq!(count_identities(&pool).await, 1);
}

/// Joins `n` new users named `<prefix>0..` to the tenant `slug`, each in its own transaction.
async fn join_users(
    pool: &PgPool,
    billing: &BillingConfig,
    slug: &str,
    prefix: &str,
    n: usize,
) -> Vec<Result<(), Error>> {
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(pool)
        .await
        .unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let u = support::user(pool, &format!("{prefix}{i}")).await;
        let mut tx = begin_tenant(pool, TenantId(id)).await.unwrap();
        let joined = members::join_tenant(&mut tx, billing, support::actor(&u), u.id, false).await;
        if joined.is_ok() {
            tx.commit().await.unwrap();
        }
        out.push(joined.map(|_| ()));
    }
    out
}

async fn count_members(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM memberships")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_free_tenant_refuses_a_sixth_member_at_join_unless_billing_is_off(pool: PgPool) {
    let on = BillingConfig::on_for_tests();
    let (_app, _gh, _auth) = acme(&pool, on.clone(), "free").await;
    // alice, the creator, is the first of five.
    let joins = join_users(&pool, &on, "acme", "m", 5).await;
    assert!(joins[..4].iter().all(Result::is_ok), "{joins:?}");
    let refused = joins[4].as_ref().unwrap_err();
    assert_eq!(refused.status(), 402);
    let msg = refused.to_string();
    assert!(
        msg.contains("free plan") && msg.contains("at most 5 members") && msg.contains("/pricing"),
        "{msg}"
    );
    assert_eq!(count_members(&pool).await, 5);

    let off = join_users(&pool, &BillingConfig::default(), "acme", "x", 1).await;
    assert!(off[0].is_ok());
    assert_eq!(count_members(&pool).await, 6);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn signing_in_to_a_full_free_tenant_is_refused_at_join_with_the_plan_message(pool: PgPool) {
    let on = BillingConfig::on_for_tests();
    let (app, gh, _alice) = octo_tenant_and(pool.clone(), |c| c.billing = on.clone()).await;
    assert!(join_users(&pool, &on, "octo", "m", 4).await.iter().all(Result::is_ok));
    let bob = support::sign_in(&app, &gh, "bob").await;
    let (_, html) = bob.get_text("/").await;
    assert!(
        html.contains("octo could not add you: the free plan allows at most 5 members") && html.contains("/pricing"),
        "{html}"
    );
    assert_eq!(count_members(&pool).await, 5);
    assert_eq!(bob.get("/t/octo").await.status(), 404);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn two_concurrent_joins_for_the_last_seat_cannot_both_pass(pool: PgPool) {
    let on = BillingConfig::on_for_tests();
    let (_app, _gh, _auth) = acme(&pool, on.clone(), "free").await;
    assert!(join_users(&pool, &on, "acme", "m", 3).await.iter().all(Result::is_ok));
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (first, second) = (
        support::user(&pool, "first").await,
        support::user(&pool, "second").await,
    );
    let mut tx1 = begin_tenant(&pool, TenantId(id)).await.unwrap();
    members::join_tenant(&mut tx1, &on, support::actor(&first), first.id, false)
        .await
        .unwrap();
    let racer = {
        let (pool, on) = (pool.clone(), on.clone());
        tokio::spawn(async move {
            let mut tx2 = begin_tenant(&pool, TenantId(id)).await.unwrap();
            members::join_tenant(&mut tx2, &on, support::actor(&second), second.id, false).await
        })
    };
    // The second join waits on the tenant row the first one locked.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the second join never waited");
        tokio::task::yield_now().await;
    }
    assert!(!racer.is_finished());
    tx1.commit().await.unwrap();
    let refused = racer.await.unwrap().unwrap_err();
    assert_eq!(refused.status(), 402, "{refused}");
    assert_eq!(count_members(&pool).await, 5);
}
