//! The internal API, spoken to over real HTTP with signed requests: a worker gets its own
//! tenant's bundle (and long-polls for the next), never another's; usage reports land once.

use crate::support::TestApp;
use reqwest::StatusCode;
use shoal_common::crypto::DataKey;
use shoal_common::protocol::{
    Budget, Bundle, CacheStatus, Credential, EVENTS_PAGE, EventPage, HealthState, IdentityHealth, PROTOCOL_VERSION,
    RequestCounter, UpstreamCounter, UsageReport,
};
use shoal_common::signing::{self, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_WORKER};
use shoal_common::{IdentityId, Secret, TenantId, WorkerId};
use shoal_control_plane::config::Keys;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone)]
struct Seeded {
    tenant: TenantId,
    worker: WorkerId,
    secret: Secret,
}

/// A tenant with a worker secret, a member with one live and one revoked caller token, and a PAT.
async fn seed(pool: &PgPool, keys: &Keys, slug: &str) -> Seeded {
    let tenant = TenantId::new();
    let worker = WorkerId::new();
    let dk = DataKey::generate().unwrap();
    let wrapped = keys.keyring.current().wrap(&dk, tenant).unwrap();
    let secret = Secret::new(format!("worker-secret-{slug}"));
    let sealed_worker = dk.seal(secret.expose().as_bytes(), tenant, worker.as_uuid()).unwrap();
    let identity = IdentityId::new();
    let sealed_pat = dk
        .seal(format!("ghp_canary_{slug}").as_bytes(), tenant, identity.as_uuid())
        .unwrap();
    let user = Uuid::new_v4();
    let mut q = sqlx::query("INSERT INTO tenants (id, slug, github_org, github_org_id, wrapped_data_key) VALUES ($1, $2, 'octo-org', 1, $3)")
        .bind(tenant.as_uuid())
        .bind(slug)
        .bind(wrapped.as_bytes());
    q.execute(pool).await.unwrap();
    q = sqlx::query("INSERT INTO workers (tenant_id, id, sealed_secret, bundle_version) VALUES ($1, $2, $3, 5)")
        .bind(tenant.as_uuid())
        .bind(worker.as_uuid())
        .bind(sealed_worker.as_bytes());
    q.execute(pool).await.unwrap();
    sqlx::query("INSERT INTO policies (tenant_id, allowed_owners) VALUES ($1, ARRAY['octo-org'])")
        .bind(tenant.as_uuid())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (id, github_id, login) VALUES ($1, (random() * 1e9)::bigint, $2)")
        .bind(user)
        .bind(format!("member-of-{slug}"))
        .execute(pool)
        .await
        .unwrap();
    for revoked in [false, true] {
        sqlx::query(
            "INSERT INTO caller_tokens (id, tenant_id, user_id, name, token_hash, display_prefix, revoked_at)
             VALUES (gen_random_uuid(), $1, $2, 'laptop', $3, 'shoal_x', CASE WHEN $4 THEN now() END)",
        )
        .bind(tenant.as_uuid())
        .bind(user)
        .bind(Uuid::new_v4().as_bytes().repeat(2))
        .bind(revoked)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO identities (id, tenant_id, kind, name, sealed_secret, account_login) VALUES ($1, $2, 'pat', 'bot', $3, 'octo-bot')")
        .bind(identity.as_uuid())
        .bind(tenant.as_uuid())
        .bind(sealed_pat.as_bytes())
        .execute(pool)
        .await
        .unwrap();
    Seeded { tenant, worker, secret }
}

/// The real server, with bundle long polls cut to 5 s.
async fn serve(pool: &PgPool) -> TestApp {
    TestApp::spawn_with(pool.clone(), |c| c.bundle_long_poll = Duration::from_secs(5)).await
}

fn signed(
    client: &reqwest::Client,
    method: reqwest::Method,
    base: &str,
    path: &str,
    body: &[u8],
    worker: WorkerId,
    secret: &Secret,
) -> reqwest::RequestBuilder {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let s = signing::sign(secret, method.as_str(), path, body, now).unwrap();
    client
        .request(method, format!("{base}{path}"))
        .header(HEADER_WORKER, worker.to_string())
        .header(HEADER_TIMESTAMP, s.timestamp.to_string())
        .header(HEADER_NONCE, s.nonce)
        .header(HEADER_SIGNATURE, s.signature)
        .body(body.to_vec())
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_worker_gets_its_own_bundle_with_live_tokens_and_opened_secrets(pool: PgPool) {
    let app = serve(&pool).await;
    let keys = app.config.keys.clone();
    let a = seed(&pool, &keys, "acme").await;
    let url = app.url.clone();
    let c = reqwest::Client::new();

    let resp = signed(
        &c,
        reqwest::Method::GET,
        &url,
        "/internal/v1/bundle",
        b"",
        a.worker,
        &a.secret,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let b: Bundle = resp.json().await.unwrap();
    assert_eq!(b.tenant.id, a.tenant);
    assert_eq!(b.tenant.slug, "acme");
    assert_eq!(b.version, 5);
    assert_eq!(b.caller_tokens.len(), 1, "revoked tokens are not in the bundle");
    assert_eq!(b.caller_tokens[0].user_login, "member-of-acme");
    assert_eq!(b.identities.len(), 1);
    assert!(matches!(&b.identities[0].credential, Credential::Pat { token } if token.expose() == "ghp_canary_acme"));
    assert_eq!(b.policy.allowed_owners, ["octo-org"]);
    assert_eq!(b.token_pepper.expose(), hex::encode(keys.pepper.as_bytes()));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_worker_cannot_read_another_tenants_bundle_or_forge_or_replay(pool: PgPool) {
    let app = serve(&pool).await;
    let keys = app.config.keys.clone();
    let a = seed(&pool, &keys, "acme").await;
    let b = seed(&pool, &keys, "other").await;
    let url = app.url.clone();
    let c = reqwest::Client::new();

    // Claiming B's worker id with A's secret fails.
    let r = signed(
        &c,
        reqwest::Method::GET,
        &url,
        "/internal/v1/bundle",
        b"",
        b.worker,
        &a.secret,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let text = r.text().await.unwrap();
    assert!(!text.contains("ghp_canary"), "{text}");
    // Unsigned.
    let r = c.get(format!("{url}/internal/v1/bundle")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Signed for another path.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let s = signing::sign(&a.secret, "GET", "/internal/v1/usage", b"", now).unwrap();
    let r = c
        .get(format!("{url}/internal/v1/bundle"))
        .header(HEADER_WORKER, a.worker.to_string())
        .header(HEADER_TIMESTAMP, s.timestamp.to_string())
        .header(HEADER_NONCE, &s.nonce)
        .header(HEADER_SIGNATURE, &s.signature)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The same signed request twice: the second is a replay.
    let s = signing::sign(&a.secret, "GET", "/internal/v1/bundle", b"", now).unwrap();
    let send = || {
        c.get(format!("{url}/internal/v1/bundle"))
            .header(HEADER_WORKER, a.worker.to_string())
            .header(HEADER_TIMESTAMP, s.timestamp.to_string())
            .header(HEADER_NONCE, &s.nonce)
            .header(HEADER_SIGNATURE, &s.signature)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_long_poll_answers_as_soon_as_the_bundle_changes(pool: PgPool) {
    let app = serve(&pool).await;
    let keys = app.config.keys.clone();
    let a = seed(&pool, &keys, "acme").await;
    let url = app.url.clone();
    let c = reqwest::Client::new();

    let unchanged = signed(
        &c,
        reqwest::Method::GET,
        &url,
        "/internal/v1/bundle?after=5",
        b"",
        a.worker,
        &a.secret,
    );
    let started = Instant::now();
    let pending = tokio::spawn(unchanged.send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "answered before anything changed");
    sqlx::query("UPDATE workers SET bundle_version = 6 WHERE tenant_id = $1")
        .bind(a.tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Bundle>().await.unwrap().version, 6);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    // Nothing changes: 304 at the end of the window.
    let r = signed(
        &c,
        reqwest::Method::GET,
        &url,
        "/internal/v1/bundle?after=6",
        b"",
        a.worker,
        &a.secret,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = signed(
        &c,
        reqwest::Method::GET,
        &url,
        "/internal/v1/bundle?after=x",
        b"",
        a.worker,
        &a.secret,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn usage_reports_land_once_per_report_id_and_only_for_the_own_tenant(pool: PgPool) {
    let app = serve(&pool).await;
    let keys = app.config.keys.clone();
    let a = seed(&pool, &keys, "acme").await;
    let b = seed(&pool, &keys, "other").await;
    let url = app.url.clone();
    let c = reqwest::Client::new();
    let identity = IdentityId::new();
    let now = time::OffsetDateTime::now_utc();
    let report = UsageReport {
        protocol_version: PROTOCOL_VERSION,
        report_id: Uuid::new_v4(),
        tenant: a.tenant,
        bundle_version: 5,
        period_start: now,
        period_end: now,
        requests: vec![
            RequestCounter {
                caller_token: None,
                route_class: "pulls".into(),
                cache_status: CacheStatus::Hit,
                count: 7,
            },
            RequestCounter {
                caller_token: None,
                route_class: "pulls".into(),
                cache_status: CacheStatus::Miss,
                count: 1,
            },
        ],
        upstream: vec![UpstreamCounter {
            identity,
            resource: "core".into(),
            calls: 2,
            units: 1,
            not_modified: 1,
        }],
        identity_health: vec![IdentityHealth {
            identity,
            state: HealthState::Quarantined { reason: "401".into() },
            budgets: vec![Budget {
                resource: "core".into(),
                limit: 5000,
                remaining: 4990,
                reset: None,
            }],
        }],
        policy_module: Default::default(),
        last_served: None,
        top_repositories: vec![],
        worker_version: String::new(),
        errors: 0,
    };
    let body = serde_json::to_vec(&report).unwrap();
    for expected in ["applied", "duplicate"] {
        let r = signed(
            &c,
            reqwest::Method::POST,
            &url,
            "/internal/v1/usage",
            &body,
            a.worker,
            &a.secret,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], expected);
    }
    let hits: i64 = sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_requests_hourly WHERE tenant_id = $1")
        .bind(a.tenant.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(hits, 8);
    let (calls, units): (i64, i64) =
        sqlx::query_as("SELECT calls, units FROM usage_upstream_hourly WHERE tenant_id = $1")
            .bind(a.tenant.as_uuid())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((calls, units), (2, 1));
    let (state, remaining): (String, i64) =
        sqlx::query_as("SELECT state, (budgets->0->>'remaining')::bigint FROM identity_health WHERE tenant_id = $1")
            .bind(a.tenant.as_uuid())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), remaining), ("quarantined", 4990));

    // B's worker cannot report for A.
    let mut forged = report.clone();
    forged.report_id = Uuid::new_v4();
    let body = serde_json::to_vec(&forged).unwrap();
    let r = signed(
        &c,
        reqwest::Method::POST,
        &url,
        "/internal/v1/usage",
        &body,
        b.worker,
        &b.secret,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Malformed JSON is a 400 and changes nothing.
    let r = signed(
        &c,
        reqwest::Method::POST,
        &url,
        "/internal/v1/usage",
        b"{not json",
        a.worker,
        &a.secret,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let reports: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_reports")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reports, 1);
}

/// Stores a webhook event for `tenant` as the receiving side does; returns its cursor.
async fn store_event(pool: &PgPool, tenant: TenantId, event: &str, payload: serde_json::Value) -> u64 {
    let cursor: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_events (tenant_id, delivery_id, event, payload) VALUES ($1, $2, $3, $4) RETURNING cursor",
    )
    .bind(tenant.as_uuid())
    .bind(Uuid::new_v4().to_string())
    .bind(event)
    .bind(payload)
    .fetch_one(pool)
    .await
    .unwrap();
    cursor.unsigned_abs()
}

/// One signed `GET /internal/v1/events` as `s`'s worker.
async fn events(url: &str, s: &Seeded, after: Option<u64>) -> reqwest::Response {
    let path = after.map_or("/internal/v1/events".to_string(), |c| {
        format!("/internal/v1/events?after={c}")
    });
    let c = reqwest::Client::new();
    signed(&c, reqwest::Method::GET, url, &path, b"", s.worker, &s.secret)
        .send()
        .await
        .unwrap()
}

async fn page(url: &str, s: &Seeded, after: Option<u64>) -> EventPage {
    let r = events(url, s, after).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// The server, tenants A and B, and one event of B's (`other/x`).
async fn two_tenants_b_with_an_event(pool: &PgPool) -> (TestApp, Seeded, Seeded) {
    let app = serve(pool).await;
    let keys = app.config.keys.clone();
    let a = seed(pool, &keys, "acme").await;
    let b = seed(pool, &keys, "other").await;
    let push = serde_json::json!({"repository": {"full_name": "other/x"}});
    store_event(pool, b.tenant, "push", push).await;
    (app, a, b)
}

fn pr_payload(repo: &str, number: u64) -> serde_json::Value {
    serde_json::json!({"number": number, "repository": {"full_name": repo},
        "pull_request": {"number": number, "head": {"sha": "abc123", "ref": "feature"}}})
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_stored_event_reaches_its_tenants_worker_within_a_second_and_never_another(pool: PgPool) {
    let (app, a, b) = two_tenants_b_with_an_event(&pool).await;
    let end = page(&app.url, &a, None).await;
    assert!(end.events.is_empty());

    let (url, a_worker) = (app.url.clone(), a.clone());
    let waiting = tokio::spawn(async move { page(&url, &a_worker, Some(end.next)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "answered before any event of A's was stored");
    let started = Instant::now();
    store_event(
        &pool,
        b.tenant,
        "issues",
        serde_json::json!({"repository": {"full_name": "other/y"}}),
    )
    .await;
    let cursor = store_event(&pool, a.tenant, "pull_request", pr_payload("octo-org/app", 7)).await;
    let got = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("within a second")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(got.events.len(), 1, "{got:?}");
    let e = &got.events[0];
    assert_eq!((e.cursor, e.event.as_str(), got.next), (cursor, "pull_request", cursor));
    assert_eq!(e.repository.as_deref(), Some("octo-org/app"));
    assert_eq!(
        (e.number, e.head_sha.as_deref(), e.git_ref.as_deref()),
        (Some(7), Some("abc123"), Some("feature"))
    );

    // From the very start, each worker sees only its own tenant's events.
    let all_a = page(&app.url, &a, Some(0)).await;
    assert_eq!(all_a.events.iter().map(|e| e.cursor).collect::<Vec<_>>(), [cursor]);
    let all_b = page(&app.url, &b, Some(0)).await;
    assert_eq!(all_b.events.len(), 2);
    assert!(
        all_b
            .events
            .iter()
            .all(|e| e.repository.as_deref().is_some_and(|r| r.starts_with("other/")))
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_event_feed_refuses_forged_or_other_workers_signatures(pool: PgPool) {
    let (app, a, b) = two_tenants_b_with_an_event(&pool).await;
    let c = reqwest::Client::new();
    // B's worker id signed with A's secret.
    let r = signed(
        &c,
        reqwest::Method::GET,
        &app.url,
        "/internal/v1/events?after=0",
        b"",
        b.worker,
        &a.secret,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!r.text().await.unwrap().contains("other/x"));
    // Unsigned.
    let r = c
        .get(format!("{}/internal/v1/events?after=0", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Signed for another cursor than the one asked.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let s = signing::sign(&b.secret, "GET", "/internal/v1/events?after=5", b"", now).unwrap();
    let r = c
        .get(format!("{}/internal/v1/events?after=0", app.url))
        .header(HEADER_WORKER, b.worker.to_string())
        .header(HEADER_TIMESTAMP, s.timestamp.to_string())
        .header(HEADER_NONCE, &s.nonce)
        .header(HEADER_SIGNATURE, &s.signature)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(events(&app.url, &b, Some(0)).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_worker_resuming_from_its_cursor_misses_none_of_a_burst_in_pages(pool: PgPool) {
    let app = serve(&pool).await;
    let keys = app.config.keys.clone();
    let a = seed(&pool, &keys, "acme").await;
    store_event(
        &pool,
        a.tenant,
        "push",
        serde_json::json!({"repository": {"full_name": "octo-org/old"}}),
    )
    .await;
    // The cursor a worker kept before it went down.
    let kept = page(&app.url, &a, None).await.next;
    let mut stored = Vec::new();
    for n in 0..EVENTS_PAGE as u64 + 5 {
        stored.push(store_event(&pool, a.tenant, "pull_request", pr_payload("octo-org/app", n)).await);
    }
    let first = page(&app.url, &a, Some(kept)).await;
    assert_eq!(first.events.len(), EVENTS_PAGE, "a page is bounded");
    let second = page(&app.url, &a, Some(first.next)).await;
    let seen: Vec<u64> = first.events.iter().chain(&second.events).map(|e| e.cursor).collect();
    assert_eq!(seen, stored, "every event once, in cursor order");
    assert_eq!(second.next, *stored.last().unwrap());
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_event_long_poll_waits_the_window_when_nothing_arrives(pool: PgPool) {
    let app = TestApp::spawn_with(pool.clone(), |c| c.bundle_long_poll = Duration::from_secs(1)).await;
    let keys = app.config.keys.clone();
    let a = seed(&pool, &keys, "acme").await;
    let end = page(&app.url, &a, None).await.next;
    let started = Instant::now();
    let empty = page(&app.url, &a, Some(end)).await;
    assert!(empty.events.is_empty());
    assert_eq!(empty.next, end);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(events(&app.url, &a, Some(u64::MAX)).await.status(), StatusCode::OK);
    let r = events(&app.url, &a, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let c = reqwest::Client::new();
    let r = signed(
        &c,
        reqwest::Method::GET,
        &app.url,
        "/internal/v1/events?after=x",
        b"",
        a.worker,
        &a.secret,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_free_bundle_counts_this_months_reads_and_an_unpaid_tenants_worker_is_refused_it(pool: PgPool) {
    let app = TestApp::spawn_with(pool.clone(), |c| {
        c.billing = shoal_control_plane::config::BillingConfig::on_for_tests();
    })
    .await;
    let s = seed(&pool, &app.config.keys, "acme").await;
    // Reads this month (hits included) count; last month's do not.
    sqlx::query(
        "INSERT INTO usage_requests_hourly (tenant_id, hour, route_class, cache_status, requests) VALUES
           ($1, date_trunc('hour', now()), 'repos', 'HIT', 7),
           ($1, date_trunc('hour', now()), 'repos', 'MISS', 2),
           ($1, date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 hour', 'repos', 'HIT', 100)",
    )
    .bind(s.tenant.as_uuid())
    .execute(&pool)
    .await
    .unwrap();
    let c = reqwest::Client::new();
    let get = || {
        signed(
            &c,
            reqwest::Method::GET,
            &app.url,
            "/internal/v1/bundle",
            b"",
            s.worker,
            &s.secret,
        )
        .send()
    };

    let b: Bundle = get().await.unwrap().json().await.unwrap();
    assert_eq!(b.plan, "free");
    let allowance = b.allowance.unwrap();
    assert_eq!((allowance.reads_per_month, allowance.reads_this_month), (50_000, 9));
    assert_eq!((allowance.month_start.day(), allowance.month_start.hour()), (1, 0));
    assert_eq!(allowance.upgrade_url, format!("{}/t/acme/billing", app.url));

    sqlx::query("UPDATE tenants SET subscription_status = 'unpaid' WHERE id = $1")
        .bind(s.tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let refused = get().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    sqlx::query("UPDATE tenants SET plan = 'team', subscription_status = 'active' WHERE id = $1")
        .bind(s.tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let b: Bundle = get().await.unwrap().json().await.unwrap();
    assert_eq!(
        (b.plan.as_str(), b.allowance),
        ("team", None),
        "a metered plan is not capped"
    );
    assert_eq!(b.version, 7, "each billing change bumped the bundle");
}

/// Found by the bad-input suite: a count beyond `i64::MAX` was stored wrapped (negative, lowering
/// the tenant's usage and bill), and a timestamp header near `i64::MIN` overflowed the window check.
#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn absurd_counts_and_timestamps_are_refused_and_change_nothing(pool: PgPool) {
    let app = serve(&pool).await;
    let a = seed(&pool, &app.config.keys, "acme").await;
    let c = reqwest::Client::new();
    let now = time::OffsetDateTime::now_utc();
    let counter = |count| RequestCounter {
        caller_token: None,
        route_class: "pulls".into(),
        cache_status: CacheStatus::Hit,
        count,
    };
    let upstream = |calls, units| UpstreamCounter {
        identity: IdentityId::new(),
        resource: "core".into(),
        calls,
        units,
        not_modified: 0,
    };
    for (requests, upstream) in [
        (vec![counter(u64::MAX)], vec![]),
        (vec![counter(1), counter(i64::MAX as u64 + 1)], vec![]),
        (vec![], vec![upstream(1, u64::MAX)]),
        (vec![], vec![upstream(1 << 41, 1)]),
    ] {
        let report = UsageReport {
            protocol_version: PROTOCOL_VERSION,
            report_id: Uuid::new_v4(),
            tenant: a.tenant,
            bundle_version: 5,
            period_start: now,
            period_end: now,
            requests,
            upstream,
            identity_health: vec![],
            policy_module: Default::default(),
            last_served: None,
            top_repositories: vec![],
            worker_version: String::new(),
            errors: 0,
        };
        let body = serde_json::to_vec(&report).unwrap();
        let r = signed(
            &c,
            reqwest::Method::POST,
            &app.url,
            "/internal/v1/usage",
            &body,
            a.worker,
            &a.secret,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let msg: serde_json::Value = r.json().await.unwrap();
        assert!(msg["message"].as_str().unwrap().contains("at most"), "{msg}");
    }
    for table in ["usage_reports", "usage_requests_hourly", "usage_upstream_hourly"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    for timestamp in [i64::MIN, i64::MAX] {
        let r = c
            .get(format!("{}/internal/v1/bundle", app.url))
            .header(HEADER_WORKER, a.worker.to_string())
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, "n")
            .header(HEADER_SIGNATURE, format!("v1={}", "00".repeat(32)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "timestamp {timestamp}");
    }
}

/// How often this process's long polls looked at Postgres for `feed`.
async fn long_poll_checks(app: &TestApp, feed: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let name = format!("shoal_internal_long_poll_checks_total{{feed=\"{feed}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&name))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn long_polls_are_woken_by_changes_another_pool_commits_not_by_polling(pool: PgPool) {
    // Windows and rechecks of a minute: only a notification can answer these polls in time.
    let app = TestApp::spawn_with(pool.clone(), |c| {
        c.bundle_long_poll = Duration::from_secs(60);
        c.long_poll_recheck = Duration::from_secs(60);
    })
    .await;
    let a = seed(&pool, &app.config.keys, "acme").await;
    let b = seed(&pool, &app.config.keys, "other").await;
    // Another replica's writes: its own pool, its own connections.
    let other = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let within = |secs| Duration::from_secs(secs);

    let waiting = tokio::spawn(
        signed(
            &c,
            reqwest::Method::GET,
            &app.url,
            "/internal/v1/bundle?after=5",
            b"",
            a.worker,
            &a.secret,
        )
        .send(),
    );
    crate::support::until(10, "the bundle poll looked once", async || {
        (long_poll_checks(&app, "bundle").await == 1).then_some(())
    })
    .await;
    // Another tenant's change does not wake A's poll; A's own does, at once.
    sqlx::query("UPDATE workers SET bundle_version = bundle_version + 1 WHERE tenant_id = $1")
        .bind(b.tenant.as_uuid())
        .execute(&other)
        .await
        .unwrap();
    sqlx::query("UPDATE workers SET bundle_version = 6 WHERE tenant_id = $1")
        .bind(a.tenant.as_uuid())
        .execute(&other)
        .await
        .unwrap();
    let resp = tokio::time::timeout(within(20), waiting)
        .await
        .expect("answered long before the minute's window")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Bundle>().await.unwrap().version, 6);
    // One look when the poll began, one when A's change was notified: none on a timer.
    assert_eq!(long_poll_checks(&app, "bundle").await, 2);

    let end = page(&app.url, &a, None).await;
    assert_eq!(long_poll_checks(&app, "events").await, 1);
    let (url, a_worker) = (app.url.clone(), a.clone());
    let waiting = tokio::spawn(async move { page(&url, &a_worker, Some(end.next)).await });
    crate::support::until(10, "the event poll looked once", async || {
        (long_poll_checks(&app, "events").await == 2).then_some(())
    })
    .await;
    let cursor: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_events (tenant_id, delivery_id, event, payload) VALUES ($1, 'd-1', 'push', '{}') RETURNING cursor",
    )
    .bind(a.tenant.as_uuid())
    .fetch_one(&other)
    .await
    .unwrap();
    let got = tokio::time::timeout(within(20), waiting)
        .await
        .expect("answered long before the minute's window")
        .unwrap();
    assert_eq!(
        got.events.iter().map(|e| e.cursor).collect::<Vec<_>>(),
        [cursor.unsigned_abs()]
    );
    assert_eq!(long_poll_checks(&app, "events").await, 3);
}
