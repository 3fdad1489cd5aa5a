//! The operator console and the audit log's filters: `/ops` is a 404 to everyone but the logins in
//! `SHOAL_OPERATORS`; an operator sees every tenant's month with numbers equal to direct SQL, and
//! suspends (with a reason, audited) and resumes a tenant. The audit page filters by action, actor
//! and date and pages by keyset, each row shown exactly once.

use crate::support::github::{octo_tenant_and, sign_in};
use crate::support::location;
use sqlx::PgPool;

async fn tenant_id(pool: &PgPool, slug: &str) -> uuid::Uuid {
    sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn only_operators_see_ops_and_suspend_with_a_reason_that_is_audited(pool: PgPool) {
    let (app, gh, alice) = octo_tenant_and(pool.clone(), |c| c.operators = vec!["alice".into()]).await;
    let bob = sign_in(&app, &gh, "bob").await;
    let anonymous = app.browser();
    let tenant = tenant_id(&pool, "octo").await;
    sqlx::query(
        "INSERT INTO usage_daily (tenant_id, day, requests, from_cache, units, last_request_at)
         VALUES ($1, (now() AT TIME ZONE 'UTC')::date, 120, 100, 20, now())",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();

    // Everyone else: 404, and nothing changes.
    for who in [&bob, &anonymous] {
        let (status, body) = who.get_text("/ops").await;
        assert_eq!(status, 404);
        assert!(!body.contains("octo-org"));
        let r = who.post_form("/ops/tenants/octo/suspend", &[("reason", "abuse")]).await;
        assert_eq!(r.status(), 404);
    }
    let bob_csrf = bob.csrf("/t/octo").await;
    let r = bob
        .post_form("/ops/tenants/octo/suspend", &[("csrf", &bob_csrf), ("reason", "abuse")])
        .await;
    assert_eq!(r.status(), 404);

    // The operator.
    let (status, html) = alice.get_text("/ops").await;
    assert_eq!(status, 200);
    let month: i64 = sqlx::query_scalar(
        "SELECT sum(requests)::bigint FROM usage_daily WHERE day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        html.contains(&format!("relayed <strong>{month}</strong> reads")),
        "headline"
    );
    assert!(html.contains("id=\"ops-tenant-octo\""));
    assert!(html.contains("<svg") && html.contains("Active tenants"));

    let csrf = alice.csrf("/ops").await;
    let r = alice
        .post_form("/ops/tenants/octo/suspend", &[("csrf", &csrf), ("reason", " ")])
        .await;
    assert_eq!(location(&r), "/ops");
    let status: String = sqlx::query_scalar("SELECT status FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "active", "no reason, no suspension");

    let r = alice
        .post_form(
            "/ops/tenants/octo/suspend",
            &[("csrf", &csrf), ("reason", "unpaid invoices")],
        )
        .await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/ops".to_string()));
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, suspended_reason FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("suspended", Some("unpaid invoices"))
    );
    let details: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.suspend' AND target = 'octo'",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(details["reason"], "unpaid invoices");
    let (_, html) = alice.get_text("/ops").await;
    assert!(html.contains("unpaid invoices"));

    let r = alice.post_form("/ops/tenants/octo/resume", &[("csrf", &csrf)]).await;
    assert_eq!(location(&r), "/ops");
    let status: String = sqlx::query_scalar("SELECT status FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "active");
    let resumed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.resume'")
            .bind(tenant)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(resumed, 1);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_audit_log_filters_by_action_actor_and_date_and_pages_by_keyset(pool: PgPool) {
    let (_app, _gh, alice) = octo_tenant_and(pool.clone(), |_| {}).await;
    let tenant = tenant_id(&pool, "octo").await;
    // 120 token.create rows a minute apart today, 30 member.remove rows yesterday.
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor_user_id, action, target, created_at)
         SELECT $1, (SELECT id FROM users WHERE login = 'alice'), 'token.create', 'tok-' || g, now() - g * interval '1 minute'
         FROM generate_series(1, 120) g",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor_user_id, action, target, created_at)
         SELECT $1, NULL, 'member.remove', 'gone-' || g, now() - interval '1 day' - g * interval '1 second'
         FROM generate_series(1, 30) g",
    )
    .bind(tenant)
    .execute(&pool)
    .await
    .unwrap();

    let mut seen = Vec::new();
    let mut page = "/t/octo/audit?action=token.create&actor=alice".to_string();
    for pages in 1.. {
        assert!(pages <= 3, "120 rows take 3 pages of 50; now at {page}");
        let (status, html) = alice.get_text(&page).await;
        assert_eq!(status, 200);
        for part in html.split("tok-").skip(1) {
            let n: String = part.chars().take_while(char::is_ascii_digit).collect();
            seen.push(n.parse::<u32>().unwrap());
        }
        assert!(!html.contains("gone-"));
        let Some((before, _)) = html.split_once("\" id=\"audit-older\"") else {
            break;
        };
        page = before
            .rsplit("href=\"")
            .next()
            .unwrap()
            .replace("&#38;", "&")
            .replace("&amp;", "&");
    }
    assert_eq!(seen, (1..=120).collect::<Vec<u32>>(), "every row once, newest first");

    let yesterday: String =
        sqlx::query_scalar("SELECT to_char((now() AT TIME ZONE 'UTC') - interval '1 day', 'YYYY-MM-DD')")
            .fetch_one(&pool)
            .await
            .unwrap();
    let (_, html) = alice
        .get_text(&format!(
            "/t/octo/audit?action=member.remove&from={yesterday}&to={yesterday}"
        ))
        .await;
    assert_eq!(html.matches("gone-").count(), 30);
    let (_, html) = alice.get_text("/t/octo/audit?actor=nobody").await;
    assert!(html.contains("No audit rows match."));
    for bad in ["/t/octo/audit?before=nope", "/t/octo/audit?from=yesterday"] {
        assert_eq!(alice.get(bad).await.status(), 400, "{bad}");
    }
}
