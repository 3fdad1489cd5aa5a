//! Plan caps: with billing on, a tenant's plan bounds its identities and members; with billing
//! off nothing is capped.

use crate::support::github::octo_tenant_and;
use crate::support::{self, TestApp, location};
use shoal_control_plane::config::BillingConfig;
use shoal_control_plane::db::begin_tenant;
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
        msg.contains("free plan") && msg.contains("at most 1 identities") && msg.contains("/pricing"),
        "{msg}"
    );
    assert_eq!(count_identities(&pool).await, 1);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn with_billing_off_a_free_tenant_adds_a_second_identity(pool: PgPool) {
    let (app, gh, auth) = acme(&pool, BillingConfig::default(), "free").await;
    assert_eq!(add_pat(&app, &gh, &auth, "one").await.0, 201);
    assert_eq!(add_pat(&app, &gh, &auth, "two").await.0, 201);
    assert_eq!(count_identities(&pool).await, 2);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_team_tenant_may_add_a_second_identity(pool: PgPool) {
    let (app, gh, auth) = acme(&pool, BillingConfig::on_for_tests(), "team").await;
    assert_eq!(add_pat(&app, &gh, &auth, "one").await.0, 201);
    assert_eq!(add_pat(&app, &gh, &auth, "two").await.0, 201);
    assert_eq!(count_identities(&pool).await, 2);
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
        html.contains("the free plan allows at most 1 identities") && html.contains("/pricing"),
        "{html}"
    );
    assert_eq!(count_identities(&pool).await, 1);
}
