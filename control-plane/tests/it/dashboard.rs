//! The tenant dashboard, its JSON and its CSV against the database: usage reports applied as the
//! internal API applies them, then every number on `/t/{slug}?range=`, in `GET .../stats?range=`
//! and in `usage.csv?range=` compared with a direct SQL sum over the same hours; the range picker
//! changes them; the Restart button restarts the worker (a new pid, an audit row); an admin of
//! one tenant sees nothing of another's.

use crate::support::github::octo_tenant;
use crate::support::{self, Browser, TestApp, location, until, workers};
use serde_json::Value;
use shoal_common::protocol::{
    Budget, CacheStatus, HealthState, IdentityHealth, PROTOCOL_VERSION, RepositoryCounter, RequestCounter,
    UpstreamCounter, UsageReport,
};
use shoal_common::{CallerTokenId, IdentityId, TenantId};
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::scheduler::process::{Isolation, ProcessRuntime};
use shoal_control_plane::tenants::usage::apply_report;
use shoal_control_plane::tokens::admin::create_admin_token;
use sqlx::PgPool;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The tenant `slug`'s id.
async fn tenant_id(pool: &PgPool, slug: &str) -> TenantId {
    TenantId(
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_one(pool)
            .await
            .unwrap(),
    )
}

/// A caller token of `login` in `tenant`, inserted as the tokens page would.
async fn caller_token(pool: &PgPool, tenant: TenantId, login: &str, name: &str) -> CallerTokenId {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO caller_tokens (id, tenant_id, user_id, name, token_hash, display_prefix)
         SELECT $1, $2, u.id, $3, sha256($1::text::bytea), 'shoal_' || left($3, 4) FROM users u WHERE u.login = $4",
    )
    .bind(id)
    .bind(tenant.as_uuid())
    .bind(name)
    .bind(login)
    .execute(pool)
    .await
    .unwrap();
    CallerTokenId(id)
}

async fn identity(pool: &PgPool, tenant: TenantId, name: &str) -> IdentityId {
    let id = IdentityId::new();
    sqlx::query(
        "INSERT INTO identities (id, tenant_id, kind, name, sealed_secret) VALUES ($1, $2, 'pat', $3, '\\x00')",
    )
    .bind(id.as_uuid())
    .bind(tenant.as_uuid())
    .bind(name)
    .execute(pool)
    .await
    .unwrap();
    id
}

fn counter(token: CallerTokenId, route: &str, status: CacheStatus, count: u64) -> RequestCounter {
    RequestCounter {
        caller_token: Some(token),
        route_class: route.into(),
        cache_status: status,
        count,
    }
}

fn report(tenant: TenantId, at: OffsetDateTime, requests: Vec<RequestCounter>) -> UsageReport {
    UsageReport {
        protocol_version: PROTOCOL_VERSION,
        report_id: Uuid::new_v4(),
        tenant,
        bundle_version: 1,
        period_start: at,
        period_end: at,
        requests,
        upstream: vec![],
        identity_health: vec![],
        policy_module: Default::default(),
        top_repositories: vec![],
        worker_version: "0.1.0".into(),
        errors: 0,
        last_served: None,
    }
}

/// Reports for `tenant` now, 3 hours, 2 days, 10 days and 40 days ago, as its worker would send
/// them; `laptop` and `ci` are caller tokens of alice and bob, `bot` an identity.
async fn seed_usage(pool: &PgPool, tenant: TenantId, laptop: CallerTokenId, ci: CallerTokenId, bot: IdentityId) {
    let now = OffsetDateTime::now_utc();
    let mut r = report(
        tenant,
        now,
        vec![
            counter(laptop, "pulls", CacheStatus::Hit, 26),
            counter(laptop, "pulls", CacheStatus::Revalidated, 5),
            counter(laptop, "pulls", CacheStatus::Miss, 3),
            counter(ci, "graphql", CacheStatus::Hit, 4),
            counter(ci, "graphql", CacheStatus::Miss, 2),
        ],
    );
    r.upstream = vec![UpstreamCounter {
        identity: bot,
        resource: "core".into(),
        calls: 10,
        units: 5,
        not_modified: 5,
    }];
    r.identity_health = vec![IdentityHealth {
        identity: bot,
        state: HealthState::Healthy,
        budgets: vec![Budget {
            resource: "core".into(),
            limit: 5000,
            remaining: 4990,
            reset: Some(now + Duration::minutes(30)),
        }],
    }];
    r.errors = 3;
    r.top_repositories = vec![
        RepositoryCounter {
            repository: "octo-org/hello-world".into(),
            requests: 30,
        },
        RepositoryCounter {
            repository: "octo-org/spoon-knife".into(),
            requests: 10,
        },
    ];
    assert!(apply_report(pool, tenant, &r).await.unwrap());
    let mut r = report(
        tenant,
        now - Duration::hours(3),
        vec![counter(laptop, "issues", CacheStatus::Miss, 7)],
    );
    r.upstream = vec![UpstreamCounter {
        identity: bot,
        resource: "core".into(),
        calls: 7,
        units: 7,
        not_modified: 0,
    }];
    assert!(apply_report(pool, tenant, &r).await.unwrap());
    let r = report(
        tenant,
        now - Duration::days(2),
        vec![counter(ci, "pulls", CacheStatus::Hit, 100)],
    );
    assert!(apply_report(pool, tenant, &r).await.unwrap());
    let r = report(
        tenant,
        now - Duration::days(10),
        vec![counter(laptop, "pulls", CacheStatus::Stale, 50)],
    );
    assert!(apply_report(pool, tenant, &r).await.unwrap());
    let r = report(
        tenant,
        now - Duration::days(40),
        vec![counter(laptop, "pulls", CacheStatus::Hit, 1000)],
    );
    assert!(apply_report(pool, tenant, &r).await.unwrap());
}

/// What direct SQL says for the last `hours` hours (the current one included).
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    requests: i64,
    from_cache: i64,
    calls: i64,
    units: i64,
    laptop: i64,
}

async fn expected(pool: &PgPool, tenant: TenantId, hours: i64, laptop: CallerTokenId) -> Expected {
    let since = "hour >= date_trunc('hour', now()) - ($2 - 1) * interval '1 hour'";
    let (requests, from_cache, laptop): (i64, i64, i64) = sqlx::query_as(&format!(
        "SELECT coalesce(sum(requests), 0)::bigint,
                coalesce(sum(requests) FILTER (WHERE cache_status IN ('HIT', 'REVALIDATED', 'STALE')), 0)::bigint,
                coalesce(sum(requests) FILTER (WHERE caller_token_id = $3), 0)::bigint
         FROM usage_requests_hourly WHERE tenant_id = $1 AND {since}"
    ))
    .bind(tenant.as_uuid())
    .bind(hours)
    .bind(laptop.as_uuid())
    .fetch_one(pool)
    .await
    .unwrap();
    let (calls, units): (i64, i64) = sqlx::query_as(&format!(
        "SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(units), 0)::bigint
         FROM usage_upstream_hourly WHERE tenant_id = $1 AND {since}"
    ))
    .bind(tenant.as_uuid())
    .bind(hours)
    .fetch_one(pool)
    .await
    .unwrap();
    Expected {
        requests,
        from_cache,
        calls,
        units,
        laptop,
    }
}

/// The number in the element with `id` on a page.
fn number_at(html: &str, id: &str) -> i64 {
    let at = html
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id}"))
        + id.len()
        + 6;
    let end = html[at..].find('<').unwrap();
    html[at..at + end]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("#{id} is {:?}", &html[at..at + end]))
}

/// The CSV's line of `section` and `key`, as numbers.
fn csv_line(csv: &str, section: &str, key: &str) -> Vec<Option<i64>> {
    let line = csv
        .lines()
        .find(|l| l.starts_with(&format!("{section},{key},")))
        .unwrap_or_else(|| panic!("no {section},{key} in {csv}"));
    line.split(',').skip(2).map(|v| v.parse().ok()).collect()
}

struct Octo {
    app: TestApp,
    alice: Browser,
    tenant: TenantId,
    laptop: CallerTokenId,
    admin_token: String,
}

async fn octo_with_usage(pool: &PgPool) -> Octo {
    let (app, _gh, alice) = octo_tenant(pool.clone()).await;
    // bob becomes a member by signing in once; a user row is all the token needs here.
    support::user(pool, "bob").await;
    let tenant = tenant_id(pool, "octo").await;
    sqlx::query(
        "INSERT INTO memberships (tenant_id, user_id, role) SELECT $1, id, 'member' FROM users WHERE login = 'bob'",
    )
    .bind(tenant.as_uuid())
    .execute(pool)
    .await
    .unwrap();
    let laptop = caller_token(pool, tenant, "alice", "laptop").await;
    let ci = caller_token(pool, tenant, "bob", "ci").await;
    let bot = identity(pool, tenant, "octo bot").await;
    seed_usage(pool, tenant, laptop, ci, bot).await;
    let alice_id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'alice'")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut tx = begin_tenant(pool, tenant).await.unwrap();
    let token = create_admin_token(
        &mut tx,
        &app.config.keys.pepper,
        shoal_control_plane::audit::Actor::system(),
        shoal_common::UserId(alice_id),
        "stats",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Octo {
        app,
        alice,
        tenant,
        laptop,
        admin_token: token.expose().to_string(),
    }
}

async fn stats_json(o: &Octo, slug: &str, range: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/tenants/{slug}/stats?range={range}", o.app.url))
        .header("authorization", format!("Bearer {}", o.admin_token))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn every_number_on_the_page_in_the_json_and_in_the_csv_equals_a_direct_sql_sum_for_each_range(pool: PgPool) {
    let o = octo_with_usage(&pool).await;
    let mut seen = Vec::new();
    for (range, hours) in [("1h", 1), ("24h", 24), ("7d", 168), ("30d", 720)] {
        let want = expected(&pool, o.tenant, hours, o.laptop).await;
        seen.push(want.requests);

        let (status, json) = stats_json(&o, "octo", range).await;
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["range"], range);
        let got = Expected {
            requests: json["requests"].as_i64().unwrap(),
            from_cache: json["from_cache"].as_i64().unwrap(),
            calls: json["upstream_calls"].as_i64().unwrap(),
            units: json["units"].as_i64().unwrap(),
            laptop: json["caller_tokens"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == "laptop")
                .unwrap()["requests"]
                .as_i64()
                .unwrap(),
        };
        assert_eq!(got, want, "JSON, range {range}");
        let series_total: i64 = json["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                ["hit", "revalidated", "miss", "stale", "bypass"]
                    .iter()
                    .map(|s| b["requests"][s].as_i64().unwrap())
                    .sum::<i64>()
            })
            .sum();
        assert_eq!(series_total, want.requests, "the series adds up, range {range}");
        let members: i64 = json["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["requests"].as_i64().unwrap())
            .sum();
        assert_eq!(members, want.requests);
        assert_eq!(json["units_saved"].as_i64().unwrap(), want.from_cache);
        let errors: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(errors), 0)::bigint FROM usage_errors_hourly
             WHERE tenant_id = $1 AND hour >= date_trunc('hour', now()) - ($2 - 1) * interval '1 hour'",
        )
        .bind(o.tenant.as_uuid())
        .bind(hours)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((json["errors"].as_i64().unwrap(), errors), (3, 3));

        let (status, html) = o.alice.get_text(&format!("/t/octo?range={range}")).await;
        assert_eq!(status, 200);
        assert_eq!(number_at(&html, "stat-requests"), want.requests, "page, range {range}");
        assert_eq!(number_at(&html, "stat-calls"), want.calls);
        assert_eq!(number_at(&html, "stat-errors"), errors);
        assert_eq!(number_at(&html, "stat-units"), want.units);
        assert_eq!(number_at(&html, "stat-saved"), want.from_cache);
        assert!(html.contains(&format!("href=\"/t/octo?range={range}\" class=\"active\"")));
        assert!(html.contains("<svg") && html.contains("<title>"), "charts are drawn");
        assert!(!html.contains("<script"), "no script");

        let r = o.alice.get(&format!("/t/octo/usage.csv?range={range}")).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = r.text().await.unwrap();
        assert_eq!(
            csv_line(&csv, "total", range),
            vec![
                Some(want.requests),
                Some(want.from_cache),
                Some(want.calls),
                Some(want.units)
            ],
            "CSV, range {range}"
        );
        let laptop = csv.lines().find(|l| l.starts_with("caller_token,laptop ")).unwrap();
        assert!(laptop.contains(&format!(",{},", want.laptop)), "{laptop}");
    }
    // The seeded hours make each range differ: 40 now, +7 three hours ago, +100 two days ago,
    // +50 ten days ago; the report of 40 days ago is in no range.
    assert_eq!(seen, vec![40, 47, 147, 197]);

    // The month's headline reads the daily rollup; it equals the hourly rows of this month.
    let (month_requests, month_saved): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(requests), 0)::bigint,
                coalesce(sum(requests) FILTER (WHERE cache_status IN ('HIT', 'REVALIDATED', 'STALE')), 0)::bigint
         FROM usage_requests_hourly WHERE tenant_id = $1 AND hour >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    )
    .bind(o.tenant.as_uuid())
    .fetch_one(&pool)
    .await
    .unwrap();
    let (_, json) = stats_json(&o, "octo", "24h").await;
    assert_eq!(json["month"]["requests"].as_i64().unwrap(), month_requests);
    assert_eq!(json["month"]["units_saved"].as_i64().unwrap(), month_saved);
    let (_, html) = o.alice.get_text("/t/octo").await;
    assert!(
        html.contains(&format!("This month shoal answered <strong>{month_requests}</strong> reads and saved\n  <strong>{month_saved}</strong>")),
        "headline"
    );

    // Identities, repositories and budgets.
    let bot = &json["identities"][0];
    assert_eq!(
        (bot["name"].as_str(), bot["calls"].as_i64(), bot["units"].as_i64()),
        (Some("octo bot"), Some(17), Some(12))
    );
    assert_eq!(bot["budgets"][0]["remaining"], 4990);
    assert_eq!(bot["history"][0]["remaining"].as_array().unwrap().last().unwrap(), 4990);
    assert_eq!(json["repositories"][0]["repository"], "octo-org/hello-world");
    assert_eq!(json["repositories"][0]["requests"], 30);
    assert!(html.contains("octo-org/spoon-knife"));
    assert!(html.contains("core 4990/5000 (resets"));

    // A bad range is a clear 400 in each place.
    let (status, json) = stats_json(&o, "octo", "1y").await;
    assert_eq!(status, 400);
    assert!(json["message"].as_str().unwrap().contains("1h, 24h, 7d or 30d"));
    assert_eq!(o.alice.get("/t/octo?range=1y").await.status(), 400);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_admin_of_one_tenant_sees_nothing_of_another(pool: PgPool) {
    let o = octo_with_usage(&pool).await;
    let carol = support::user(&pool, "carol").await;
    let other = support::tenant(&pool, &o.app.config.keys, &carol, "other", "other-org").await;
    let ct = caller_token(&pool, other.id, "carol", "secret-project").await;
    let bot = identity(&pool, other.id, "other bot").await;
    seed_usage(&pool, other.id, ct, ct, bot).await;

    for path in [
        "/t/other",
        "/t/other?range=30d",
        "/t/other/usage.csv?range=30d",
        "/api/v1/tenants/other/stats",
    ] {
        let (status, body) = o.alice.get_text(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            !body.contains("secret-project") && !body.contains("other bot"),
            "{path}"
        );
    }
    let (status, _) = stats_json(&o, "other", "30d").await;
    assert!(status == 401 || status == 404, "{status}");
    // Octo's own numbers are its own.
    let (_, json) = stats_json(&o, "octo", "30d").await;
    assert_eq!(json["requests"], 197);
    let text = json.to_string();
    assert!(!text.contains("secret-project") && !text.contains("other bot"));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_restart_button_restarts_the_worker_with_a_new_pid_and_an_audit_row(pool: PgPool) {
    let (app, _gh, alice) = octo_tenant(pool.clone()).await;
    let tenant = tenant_id(&pool, "octo").await;
    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(ProcessRuntime::new(
        workers::launcher(app.url.clone(), 200),
        dir.path(),
        Isolation::Plain,
    ));
    let (stop, task) = workers::reconcile(&pool, runtime.clone(), app.config.keys.clone());
    let first = until(20, "the worker running", async || {
        let (state, _) = workers::worker_state(&pool, tenant).await;
        if state == "running" {
            runtime.pid(tenant).await
        } else {
            None
        }
    })
    .await;
    let (_, html) = alice.get_text("/t/octo").await;
    assert!(html.contains("id=\"restart-worker\""), "admins get the button");

    // A form without the CSRF token changes nothing.
    let r = alice.post_form("/t/octo/worker/restart", &[]).await;
    assert_eq!(r.status(), 403);
    let csrf = alice.csrf("/t/octo").await;
    let r = alice.post_form("/t/octo/worker/restart", &[("csrf", &csrf)]).await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/t/octo".to_string()));

    let second = until(20, "a new worker process", async || {
        let (state, _) = workers::worker_state(&pool, tenant).await;
        match runtime.pid(tenant).await {
            Some(pid) if pid != first && state == "running" => Some(pid),
            _ => None,
        }
    })
    .await;
    assert_ne!(first, second);
    let (marker, restarts): (Option<OffsetDateTime>, i32) =
        sqlx::query_as("SELECT restart_requested_at, restarts FROM workers WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((marker, restarts), (None, 1));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log a JOIN users u ON u.id = a.actor_user_id
         WHERE a.tenant_id = $1 AND a.action = 'worker.restart' AND u.login = 'alice'",
    )
    .bind(tenant.as_uuid())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    let (_, html) = alice.get_text("/t/octo").await;
    assert!(html.contains("id=\"worker-restarts\">1<"), "the card counts it");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn hourly_usage_is_kept_35_days_and_daily_rows_400(pool: PgPool) {
    let keys = shoal_control_plane::config::Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let t = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    for days in [34, 36] {
        sqlx::query(
            "INSERT INTO usage_requests_hourly (tenant_id, hour, route_class, cache_status, requests)
             VALUES ($1, date_trunc('hour', now()) - make_interval(days => $2), 'pulls', 'HIT', 1)",
        )
        .bind(t.id.as_uuid())
        .bind(days)
        .execute(&pool)
        .await
        .unwrap();
    }
    for days in [399, 401] {
        sqlx::query("INSERT INTO usage_daily (tenant_id, day, requests) VALUES ($1, current_date - $2, 1)")
            .bind(t.id.as_uuid())
            .bind(days)
            .execute(&pool)
            .await
            .unwrap();
    }
    let gone = shoal_control_plane::tenants::usage::retention::prune(&pool)
        .await
        .unwrap();
    assert_eq!(gone, 2);
    let left: (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM usage_requests_hourly), (SELECT count(*) FROM usage_daily)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, (1, 1));
}
