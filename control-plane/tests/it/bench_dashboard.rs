//! The dashboard at scale (ignored; `make bench-dashboard` runs it): seeds 10 million hourly
//! request rows across 1,000 tenants (35 days x 12 route/status pairs each, the daily rollup
//! from them, an identity's spend and budget per hour), then times the busiest tenant's page over
//! 30 days and 24 hours, its stats JSON, and `/ops`, through the real server over HTTP, and prints
//! a table. Goal: under 200 ms each on this machine.

use crate::support::github::octo_tenant_and;
use sqlx::PgPool;
use std::time::{Duration, Instant};

const TENANTS: i64 = 1000;
const HOURS: i64 = 35 * 24;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
#[ignore = "a benchmark: seeds 10 million rows (make bench-dashboard)"]
async fn bench_dashboard_30_day_page_and_ops_over_10_million_hourly_rows(pool: PgPool) {
    let (app, _gh, alice) = octo_tenant_and(pool.clone(), |c| c.operators = vec!["alice".into()]).await;
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO tenants (id, slug, github_org, github_org_id, wrapped_data_key)
         SELECT gen_random_uuid(), 'bench-' || g, 'bench-org-' || g, 100000 + g, '\\x00'
         FROM generate_series(1, $1 - 1) g",
    )
    .bind(TENANTS)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO workers (tenant_id, id, observed_state) SELECT id, gen_random_uuid(), 'running' FROM tenants ON CONFLICT DO NOTHING")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO caller_tokens (id, tenant_id, user_id, name, token_hash, display_prefix)
         SELECT gen_random_uuid(), t.id, (SELECT id FROM users WHERE login = 'alice'), 'ci', sha256(t.id::text::bytea), 'shoal_ci'
         FROM tenants t",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO identities (id, tenant_id, kind, name, sealed_secret) SELECT gen_random_uuid(), id, 'pat', 'bot', '\\x00' FROM tenants",
    )
    .execute(&pool)
    .await
    .unwrap();
    // A bulk load: the indexes are built once afterwards, as a restore would.
    for drop in [
        "DROP INDEX usage_requests_hourly_key",
        "DROP INDEX usage_requests_hourly_hour_idx",
    ] {
        sqlx::query(drop).execute(&pool).await.unwrap();
    }
    sqlx::query(
        "INSERT INTO usage_requests_hourly (tenant_id, hour, caller_token_id, route_class, cache_status, requests)
         SELECT ct.tenant_id, date_trunc('hour', now()) - h * interval '1 hour', ct.id, r.route, s.status, 1 + (h * 7 + length(r.route)) % 20
         FROM caller_tokens ct
         CROSS JOIN generate_series(0, $1 - 1) h
         CROSS JOIN (VALUES ('pulls'), ('issues'), ('graphql'), ('actions')) r(route)
         CROSS JOIN (VALUES ('HIT'), ('MISS'), ('REVALIDATED')) s(status)",
    )
    .bind(HOURS)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_upstream_hourly (tenant_id, hour, identity_id, resource, calls, units, not_modified)
         SELECT i.tenant_id, date_trunc('hour', now()) - h * interval '1 hour', i.id, 'core', 20, 12, 8
         FROM identities i CROSS JOIN generate_series(0, $1 - 1) h",
    )
    .bind(HOURS)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_budget_hourly (tenant_id, hour, identity_id, resource, budget_limit, remaining, reset_at)
         SELECT i.tenant_id, date_trunc('hour', now()) - h * interval '1 hour', i.id, 'core', 5000, 5000 - (h % 60) * 50, now()
         FROM identities i CROSS JOIN generate_series(0, $1 - 1) h",
    )
    .bind(HOURS)
    .execute(&pool)
    .await
    .unwrap();
    for create in [
        "CREATE UNIQUE INDEX usage_requests_hourly_key ON usage_requests_hourly
             (tenant_id, hour, COALESCE(caller_token_id, '00000000-0000-0000-0000-000000000000'::uuid), route_class, cache_status)",
        "CREATE INDEX usage_requests_hourly_hour_idx ON usage_requests_hourly (hour)",
    ] {
        sqlx::query(create).execute(&pool).await.unwrap();
    }
    // The daily rollup as the usage reports would have left it.
    sqlx::query(
        "INSERT INTO usage_daily (tenant_id, day, requests, from_cache, last_request_at)
         SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date, sum(requests),
                sum(requests) FILTER (WHERE cache_status IN ('HIT', 'REVALIDATED', 'STALE')), max(hour)
         FROM usage_requests_hourly GROUP BY 1, 2",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE usage_daily d SET upstream_calls = u.calls, units = u.units, not_modified = u.nm
         FROM (SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date AS day, sum(calls) AS calls, sum(units) AS units,
                      sum(not_modified) AS nm FROM usage_upstream_hourly GROUP BY 1, 2) u
         WHERE d.tenant_id = u.tenant_id AND d.day = u.day",
    )
    .execute(&pool)
    .await
    .unwrap();
    for table in [
        "usage_requests_hourly",
        "usage_upstream_hourly",
        "usage_budget_hourly",
        "usage_daily",
    ] {
        sqlx::query(&format!("VACUUM ANALYZE {table}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_requests_hourly")
        .fetch_one(&pool)
        .await
        .unwrap();
    let seeded = started.elapsed();
    assert!(rows >= 10_000_000, "{rows}");

    let mut table = Vec::new();
    for (what, path) in [
        ("tenant page, 30 days", "/t/octo?range=30d"),
        ("tenant page, 24 hours", "/t/octo?range=24h"),
        ("stats JSON, 30 days (session)", "/api/v1/tenants/octo/stats?range=30d"),
        ("usage.csv, 30 days", "/t/octo/usage.csv?range=30d"),
        ("/ops (1,000 tenants)", "/ops"),
    ] {
        let (status, _) = alice.get_text(path).await;
        assert_eq!(status, 200, "{path}");
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..15 {
            let t = Instant::now();
            let (status, body) = alice.get_text(path).await;
            times.push(t.elapsed());
            assert_eq!(status, 200);
            assert!(!body.is_empty());
        }
        times.sort();
        table.push((
            what,
            times[times.len() / 2],
            times[times.len() * 9 / 10],
            times[times.len() - 1],
        ));
    }
    println!();
    println!(
        "dashboard bench: {rows} hourly request rows, {TENANTS} tenants, {HOURS} hours each; seeded in {:.0} s",
        seeded.as_secs_f64()
    );
    println!(
        "{:<32} {:>9} {:>9} {:>9} {:>7}",
        "what", "p50 ms", "p90 ms", "max ms", "goal"
    );
    for (what, p50, p90, max) in &table {
        let ok = if ms(*p50) < 200.0 { "< 200" } else { "MISSED" };
        println!(
            "{what:<32} {:>9.1} {:>9.1} {:>9.1} {ok:>7}",
            ms(*p50),
            ms(*p90),
            ms(*max)
        );
    }
    drop(app);
}
