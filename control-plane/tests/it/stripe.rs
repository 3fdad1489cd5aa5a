//! Stripe end to end against the fake Stripe: the billing page's Upgrade goes through Checkout,
//! the fake's signed webhooks drive the tenant's plan and subscription state, and bad, replayed,
//! duplicated or out-of-order deliveries end in the right state.

use crate::support::github::octo_tenant_and;
use crate::support::{Browser, TestApp, location};
use shoal_common::Secret;
use shoal_control_plane::config::BillingConfig;
use shoal_fake_github::FakeGithub;
use shoal_fake_stripe::{DeliveryMode, FakeStripe, Options};
use sqlx::PgPool;
use std::time::{SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;

struct Billed {
    app: TestApp,
    gh: FakeGithub,
    stripe: FakeStripe,
    alice: Browser,
}

/// The tenant `octo` (admin alice signed in) on a control plane billing through a fresh fake
/// Stripe, whose webhooks go to `/webhooks/stripe`.
async fn billed(pool: PgPool) -> Billed {
    let stripe = FakeStripe::start(Options::default()).await;
    let billing = BillingConfig {
        stripe_secret_key: Some(Secret::new(stripe.secret_key())),
        stripe_webhook_secret: Some(Secret::new(stripe.webhook_secret())),
        stripe_api_base: url::Url::parse(&stripe.url()).unwrap(),
        ..BillingConfig::default()
    };
    let (app, gh, alice) = octo_tenant_and(pool, |c| c.billing = billing).await;
    stripe.set_webhook_url(&format!("{}/webhooks/stripe", app.url));
    Billed { app, gh, stripe, alice }
}

/// Clicks Upgrade on the billing page; returns the Checkout session id it was sent to.
async fn start_checkout(b: &Billed, plan: &str) -> String {
    let csrf = b.alice.csrf("/t/octo/billing").await;
    let r = b
        .alice
        .post_form("/t/octo/billing/checkout", &[("csrf", &csrf), ("plan", plan)])
        .await;
    assert_eq!(r.status(), 303);
    let url = location(&r);
    assert!(url.starts_with(&format!("{}/c/pay/cs_", b.stripe.url())), "{url}");
    url.rsplit('/').next().unwrap().to_string()
}

/// Upgrades and pays; returns the subscription id.
async fn subscribe(b: &Billed, plan: &str) -> String {
    let session = start_checkout(b, plan).await;
    b.stripe.complete_checkout(&session).await.unwrap()
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Sub {
    plan: String,
    subscription_status: String,
    stripe_subscription_id: Option<String>,
    past_due_since: Option<OffsetDateTime>,
    current_period_end: Option<OffsetDateTime>,
}

async fn sub(pool: &PgPool) -> Sub {
    sqlx::query_as(
        "SELECT plan, subscription_status, stripe_subscription_id, past_due_since, current_period_end
         FROM tenants WHERE slug = 'octo'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn billing_events(pool: &PgPool) -> i64 {
    count(pool, "SELECT count(*) FROM billing_events").await
}

async fn billing_audit(pool: &PgPool) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM audit_log WHERE action = 'billing.subscription'",
    )
    .await
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Posts `body` to the webhook with `signature` (if any).
async fn post_webhook(app: &TestApp, body: &str, signature: Option<String>) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/webhooks/stripe", app.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("stripe-signature", s);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn event_of(stripe: &FakeStripe, type_: &str) -> serde_json::Value {
    stripe
        .events()
        .into_iter()
        .find(|e| e["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} event"))
}

async fn add_pat(b: &Billed, name: &str) {
    let csrf = b.alice.csrf("/t/octo/identities").await;
    let pat = b.gh.add_token(&format!("{name}-bot"));
    let r = b
        .alice
        .post_form(
            "/t/octo/identities/pat",
            &[("csrf", &csrf), ("name", name), ("token", &pat), ("scopes", "")],
        )
        .await;
    assert_eq!(location(&r), "/t/octo/identities");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn free_to_checkout_to_webhook_makes_team_active_and_raises_the_caps(pool: PgPool) {
    let b = billed(pool.clone()).await;
    let (_, html) = b.alice.get_text("/t/octo/billing").await;
    assert!(
        html.contains(r#"id="upgrade-team""#) && html.contains("<strong>free</strong>"),
        "{html}"
    );
    add_pat(&b, "one").await;
    add_pat(&b, "two").await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM identities").await,
        1,
        "free allows one identity"
    );

    let sub_id = subscribe(&b, "team").await;
    let s = sub(&pool).await;
    assert_eq!(
        (
            s.plan.as_str(),
            s.subscription_status.as_str(),
            s.stripe_subscription_id.as_deref()
        ),
        ("team", "active", Some(sub_id.as_str()))
    );
    assert!(s.current_period_end.is_some() && s.past_due_since.is_none());
    assert_eq!(billing_events(&pool).await, 4);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM tenants WHERE stripe_customer_id IS NOT NULL"
        )
        .await,
        1
    );
    assert!(billing_audit(&pool).await >= 1);

    add_pat(&b, "three").await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM identities").await,
        2,
        "team allows ten"
    );
    let (_, html) = b.alice.get_text("/t/octo/billing").await;
    assert!(
        html.contains("<strong>team</strong>") && html.contains("2 of 10") && html.contains(r#"id="manage-billing""#),
        "{html}"
    );
    assert!(
        !html.contains(r#"id="upgrade-"#),
        "a live subscription changes plan in the portal, not a second Checkout: {html}"
    );
    let csrf = b.alice.csrf("/t/octo/billing").await;
    let again = b
        .alice
        .post_form("/t/octo/billing/checkout", &[("csrf", &csrf), ("plan", "business")])
        .await;
    assert_eq!(location(&again), "/t/octo/billing");
    assert_eq!(b.stripe.checkout_sessions().len(), 1, "no second Checkout session");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn unsigned_forged_expired_and_unparsable_webhooks_are_400_and_change_nothing(pool: PgPool) {
    let b = billed(pool.clone()).await;
    let session = start_checkout(&b, "team").await;
    b.stripe.set_webhook_url("http://127.0.0.1:9/nowhere");
    b.stripe.complete_checkout(&session).await.unwrap();
    let before = sub(&pool).await;
    let body = event_of(&b.stripe, "checkout.session.completed").to_string();
    let secret = b.stripe.webhook_secret();
    let cases = [
        ("unsigned", body.clone(), None),
        (
            "forged",
            body.clone(),
            Some(shoal_fake_stripe::signature(&body, "whsec_wrong", now())),
        ),
        (
            "expired",
            body.clone(),
            Some(shoal_fake_stripe::signature(&body, &secret, now() - 301)),
        ),
        ("garbage header", body.clone(), Some("t=abc,v1=00".to_string())),
        (
            "unparsable",
            "{\"id\": 1}".to_string(),
            Some(shoal_fake_stripe::signature("{\"id\": 1}", &secret, now())),
        ),
    ];
    for (what, body, sig) in cases {
        let (status, text) = post_webhook(&b.app, &body, sig).await;
        assert_eq!(status, 400, "{what}: {text}");
    }
    assert_eq!(billing_events(&pool).await, 0);
    assert_eq!(sub(&pool).await, before);
    assert_eq!(before.plan, "free");

    // While Stripe rolls the secret it sends a v1 per secret: any one matching passes.
    let rolled = shoal_fake_stripe::signature(&body, "whsec_old", now());
    let current = shoal_fake_stripe::signature(&body, &secret, now());
    let both = format!("{rolled},{}", current.split_once(',').unwrap().1);
    assert_eq!(post_webhook(&b.app, &body, Some(both)).await.0, 200);
    assert_eq!(sub(&pool).await.plan, "team", "the same body, validly signed, applies");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_replayed_event_is_acknowledged_and_ignored(pool: PgPool) {
    let b = billed(pool.clone()).await;
    let sub_id = subscribe(&b, "team").await;
    b.stripe.fail_payment(&sub_id).await.unwrap();
    assert_eq!(sub(&pool).await.subscription_status, "past_due");
    let (events, audits) = (billing_events(&pool).await, billing_audit(&pool).await);

    let active = b
        .stripe
        .events()
        .into_iter()
        .find(|e| e["type"] == "customer.subscription.updated" && e["data"]["object"]["status"] == "active")
        .unwrap();
    b.stripe.resend(active["id"].as_str().unwrap()).await.unwrap();
    let last = b.stripe.deliveries().pop().unwrap();
    assert_eq!(
        (last.event_id.as_str(), last.status),
        (active["id"].as_str().unwrap(), 200)
    );
    assert_eq!(sub(&pool).await.subscription_status, "past_due");
    assert_eq!(
        (billing_events(&pool).await, billing_audit(&pool).await),
        (events, audits)
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn duplicated_and_out_of_order_deliveries_end_team_active(pool: PgPool) {
    let b = billed(pool.clone()).await;
    b.stripe.set_delivery(DeliveryMode {
        duplicates: true,
        out_of_order: true,
    });
    subscribe(&b, "team").await;
    let deliveries = b.stripe.deliveries();
    assert_eq!(deliveries.len(), 8);
    assert!(deliveries.iter().all(|d| d.status == 200), "{deliveries:?}");
    assert_eq!(deliveries.last().unwrap().event_type, "customer.subscription.created");
    let s = sub(&pool).await;
    assert_eq!((s.plan.as_str(), s.subscription_status.as_str()), ("team", "active"));
    assert_eq!(billing_events(&pool).await, 4);
    assert_eq!(billing_audit(&pool).await, 1, "one change: free/none -> team/active");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_late_subscription_created_never_overwrites_a_newer_active(pool: PgPool) {
    let b = billed(pool.clone()).await;
    subscribe(&b, "business").await;
    let mut late = event_of(&b.stripe, "customer.subscription.created");
    assert_eq!(late["data"]["object"]["status"], "incomplete");
    late["id"] = "evt_late_redelivery".into();
    let body = late.to_string();
    let sig = shoal_fake_stripe::signature(&body, &b.stripe.webhook_secret(), now());
    assert_eq!(post_webhook(&b.app, &body, Some(sig)).await.0, 200);
    let s = sub(&pool).await;
    assert_eq!(
        (s.plan.as_str(), s.subscription_status.as_str()),
        ("business", "active")
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn two_concurrent_deliveries_of_one_event_process_once(pool: PgPool) {
    let b = billed(pool.clone()).await;
    let session = start_checkout(&b, "team").await;
    b.stripe.set_webhook_url("http://127.0.0.1:9/nowhere");
    b.stripe.complete_checkout(&session).await.unwrap();
    let body = event_of(&b.stripe, "checkout.session.completed").to_string();
    let secret = b.stripe.webhook_secret();
    let sig = || Some(shoal_fake_stripe::signature(&body, &secret, now()));
    let (one, two) = tokio::join!(post_webhook(&b.app, &body, sig()), post_webhook(&b.app, &body, sig()));
    assert_eq!((one.0, two.0), (200, 200));
    let mut outcomes = [one.1, two.1];
    outcomes.sort();
    assert_eq!(outcomes, [r#"{"status":"duplicate"}"#, r#"{"status":"processed"}"#]);
    assert_eq!(billing_events(&pool).await, 1);
    assert_eq!(billing_audit(&pool).await, 1);
    assert_eq!(sub(&pool).await.plan, "team");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn payment_failure_is_past_due_with_its_start_then_paying_clears_it(pool: PgPool) {
    let b = billed(pool.clone()).await;
    let sub_id = subscribe(&b, "team").await;
    b.stripe.fail_payment(&sub_id).await.unwrap();
    let s = sub(&pool).await;
    assert_eq!(s.subscription_status, "past_due");
    let since = s.past_due_since.expect("past_due_since set");
    b.stripe.fail_payment(&sub_id).await.unwrap();
    assert_eq!(
        sub(&pool).await.past_due_since,
        Some(since),
        "a second failure keeps the start"
    );
    let (_, html) = b.alice.get_text("/t/octo/billing").await;
    assert!(html.contains("past_due since"), "{html}");

    b.stripe.pay(&sub_id).await.unwrap();
    let s = sub(&pool).await;
    assert_eq!((s.subscription_status.as_str(), s.past_due_since), ("active", None));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_canceled_subscription_is_canceled_and_audited(pool: PgPool) {
    let b = billed(pool.clone()).await;
    let sub_id = subscribe(&b, "team").await;
    b.stripe.set_subscription_status(&sub_id, "canceled").await.unwrap();
    assert_eq!(sub(&pool).await.subscription_status, "canceled");
    let status: String = sqlx::query_scalar(
        "SELECT details->>'status' FROM audit_log WHERE action = 'billing.subscription' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "canceled");
    let (_, html) = b.alice.get_text("/t/octo/billing").await;
    assert!(
        html.contains(r#"id="upgrade-team""#),
        "a canceled tenant may subscribe again: {html}"
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_portal_button_sends_the_admin_to_stripes_portal(pool: PgPool) {
    let b = billed(pool.clone()).await;
    subscribe(&b, "team").await;
    let csrf = b.alice.csrf("/t/octo/billing").await;
    let r = b.alice.post_form("/t/octo/billing/portal", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(&format!("{}/p/session/", b.stripe.url())));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn with_billing_off_the_page_says_so_and_webhooks_are_400(pool: PgPool) {
    let (app, _gh, alice) = octo_tenant_and(pool.clone(), |_| {}).await;
    let (status, html) = alice.get_text("/t/octo/billing").await;
    assert_eq!(status, 200);
    assert!(html.contains("Billing is not configured"), "{html}");
    assert_eq!(post_webhook(&app, "{}", Some("t=1,v1=00".into())).await.0, 400);
    assert_eq!(billing_events(&pool).await, 0);
}

/// Two paid tenants (`meter-a`, `meter-b`) with customers at the fake, and reads two hours ago
/// 7 and 9 over the team allowance of 2,000,000. Returns the expected (identifier, value) pairs.
async fn overage_two_hours_ago(pool: &PgPool) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let keys = shoal_control_plane::Config::for_tests(dir.path().to_path_buf()).keys;
    let admin = crate::support::user(pool, "meter-admin").await;
    let mut expected = Vec::new();
    for (slug, over) in [("meter-a", 7_i64), ("meter-b", 9)] {
        let t = crate::support::tenant(pool, &keys, &admin, slug, &format!("{slug}-org")).await;
        sqlx::query(
            "UPDATE tenants SET plan = 'team', subscription_status = 'active', stripe_customer_id = $2 WHERE id = $1",
        )
        .bind(t.id.as_uuid())
        .bind(format!("cus_{slug}"))
        .execute(pool)
        .await
        .unwrap();
        let hour: String = sqlx::query_scalar(
            "INSERT INTO usage_requests_hourly (tenant_id, hour, route_class, cache_status, requests)
             VALUES ($1, date_trunc('hour', now()) - interval '2 hours', 'repo', 'HIT', $2)
             RETURNING to_char(hour AT TIME ZONE 'UTC', 'YYYYMMDDHH24')",
        )
        .bind(t.id.as_uuid())
        .bind(2_000_000 + over)
        .fetch_one(pool)
        .await
        .unwrap();
        expected.push((format!("shoal-{}-{hour}", t.id), over.to_string()));
    }
    expected.sort();
    expected
}

fn accepted(stripe: &FakeStripe) -> Vec<(String, String)> {
    let mut got: Vec<_> = stripe
        .meter_events()
        .events
        .into_iter()
        .map(|e| {
            assert_eq!(e.event_name, "shoal_reads");
            (e.identifier, e.value)
        })
        .collect();
    got.sort();
    got
}

async fn unsent(pool: &PgPool) -> i64 {
    count(pool, "SELECT count(*) FROM billing_meter_outbox WHERE sent_at IS NULL").await
}

/// The real `shoal-control-plane` binary on the test database, billing through `stripe` and
/// reporting overage every second.
fn control_plane_process(pool: &PgPool, stripe: &FakeStripe, dir: &std::path::Path) -> std::process::Child {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(pool.connect_options().get_database().unwrap());
    std::process::Command::new(env!("CARGO_BIN_EXE_shoal-control-plane"))
        .env("DATABASE_URL", url.as_str())
        .env("SHOAL_STATE_DIR", dir)
        .env("SHOAL_LISTEN", "127.0.0.1:0")
        .env("SHOAL_EDGE_LISTEN", "127.0.0.1:0")
        .env("SHOAL_SCHEDULER", "off")
        .env("SHOAL_MEMBERSHIP_RECHECK_SECS", "0")
        .env("SHOAL_STRIPE_SECRET_KEY", stripe.secret_key())
        .env("SHOAL_STRIPE_WEBHOOK_SECRET", stripe.webhook_secret())
        .env("SHOAL_STRIPE_API_BASE", stripe.url())
        .env("SHOAL_STRIPE_METER_EVERY_SECS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn overage_is_reported_once_per_tenant_hour_across_a_kill_9_mid_report(pool: PgPool) {
    let stripe = FakeStripe::start(Options::default()).await;
    let expected = overage_two_hours_ago(&pool).await;
    let dir = tempfile::tempdir().unwrap();

    stripe.hold_meter_responses(true);
    let mut first = control_plane_process(&pool, &stripe, dir.path());
    crate::support::until(60, "the first report reaches Stripe", async || {
        (stripe.meter_events().received >= 1).then_some(())
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(stripe.meter_events().received, 1);
    assert_eq!(unsent(&pool).await, 2, "the report in flight was never marked sent");

    stripe.hold_meter_responses(false);
    let mut second = control_plane_process(&pool, &stripe, dir.path());
    crate::support::until(60, "the outbox drains", async || {
        (unsent(&pool).await == 0).then_some(())
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();

    assert_eq!(accepted(&stripe), expected, "exactly one meter event per tenant-hour");
    assert_eq!(
        stripe.meter_events().received,
        3,
        "the interrupted report was sent again, deduplicated"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM billing_meter_outbox").await, 2);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn two_replicas_draining_at_once_never_send_a_row_twice(pool: PgPool) {
    use shoal_control_plane::billing::{Stripe, meter};
    let fake = FakeStripe::start(Options::default()).await;
    let expected = overage_two_hours_ago(&pool).await;
    assert_eq!(meter::enqueue(&pool).await.unwrap(), 2);
    assert_eq!(meter::enqueue(&pool).await.unwrap(), 0, "enqueueing again adds nothing");
    let config = BillingConfig {
        stripe_secret_key: Some(Secret::new(fake.secret_key())),
        stripe_api_base: url::Url::parse(&fake.url()).unwrap(),
        ..BillingConfig::default()
    };
    let stripe = Stripe::from_config(&config).unwrap().unwrap();
    let (a, b) = tokio::join!(
        meter::drain(&pool, &stripe, "shoal_reads"),
        meter::drain(&pool, &stripe, "shoal_reads")
    );
    assert_eq!(a.unwrap() + b.unwrap(), 2);
    assert_eq!(fake.meter_events().received, 2, "no row was sent twice");
    assert_eq!(accepted(&fake), expected);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_billing_page_shows_this_months_reads_against_the_allowance_to_admins_only(pool: PgPool) {
    let b = billed(pool.clone()).await;
    sqlx::query(
        "INSERT INTO usage_requests_hourly (tenant_id, hour, route_class, cache_status, requests)
         SELECT id, date_trunc('hour', now()), r.route, r.status, r.n FROM tenants,
                (VALUES ('pulls', 'HIT', 1200), ('pulls', 'MISS', 34)) r(route, status, n)
         WHERE slug = 'octo'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (_, html) = b.alice.get_text("/t/octo/billing").await;
    assert!(html.contains("1,234 of 50,000"), "{html}");
    assert!(html.contains("1 of 5"), "members against the free cap: {html}");

    let bob = crate::support::sign_in(&b.app, &b.gh, "bob").await;
    let (status, _) = bob.get_text("/t/octo/billing").await;
    assert_eq!(status, 403);
}
