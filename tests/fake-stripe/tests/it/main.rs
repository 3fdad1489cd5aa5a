//! The fake judged by the real client: every object it serves goes through async-stripe's own
//! requests and types, and every event it delivers through `stripe_webhook::Webhook`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use shoal_fake_stripe::{DeliveryMode, FakeStripe, Options};
use stripe::{Client, ClientBuilder, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::SubscriptionStatus;
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
    RetrieveCheckoutSession,
};
use stripe_core::customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned};
use stripe_product::price::ListPrice;
use stripe_webhook::{EventObject, Webhook};

type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook endpoint that keeps every body with its `Stripe-Signature`.
async fn endpoint() -> (String, Received) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                let sig = headers
                    .get("stripe-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                keep.lock().unwrap().push((body, sig));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

fn client(fake: &FakeStripe, key: &str) -> Client {
    ClientBuilder::new(key).url(format!("{}/", fake.url())).build().unwrap()
}

/// A new customer's open Checkout session for one `price`.
async fn new_checkout(c: &Client, price: &str, success_url: &str) -> stripe_checkout::CheckoutSession {
    let customer = CreateCustomer::new().send(c).await.unwrap();
    let mut line = CreateCheckoutSessionLineItems::new();
    line.price = Some(price.into());
    line.quantity = Some(1);
    CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer.id.as_str())
        .line_items(vec![line])
        .success_url(success_url)
        .send(c)
        .await
        .unwrap()
}

/// Every delivered event, parsed and verified by the real webhook code.
fn events(fake: &FakeStripe, got: &Received) -> Vec<stripe_webhook::Event> {
    got.lock()
        .unwrap()
        .iter()
        .map(|(body, sig)| {
            Webhook::construct_event(body, sig, &fake.webhook_secret()).expect("event verifies and parses")
        })
        .collect()
}

#[tokio::test]
async fn every_object_and_event_deserializes_into_async_stripe_types() {
    let fake = FakeStripe::start(Options::default()).await;
    let (hook, got) = endpoint().await;
    fake.set_webhook_url(&hook);
    let c = client(&fake, &fake.secret_key());

    let customer = CreateCustomer::new().email("ops@example.com").send(&c).await.unwrap();
    let again = RetrieveCustomer::new(customer.id.clone()).send(&c).await.unwrap();
    assert!(matches!(again, RetrieveCustomerReturned::Customer(a) if a.id == customer.id));

    let prices = ListPrice::new()
        .lookup_keys(vec!["shoal_team".to_string()])
        .send(&c)
        .await
        .unwrap();
    assert_eq!(prices.data.len(), 1);
    let price = &prices.data[0];
    assert_eq!(price.lookup_key.as_deref(), Some("shoal_team"));

    let mut line = CreateCheckoutSessionLineItems::new();
    line.price = Some(price.id.to_string());
    line.quantity = Some(1);
    let mut sub_data = CreateCheckoutSessionSubscriptionData::new();
    sub_data.metadata = Some(HashMap::from([("tenant_id".to_string(), "t1".to_string())]));
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer.id.as_str())
        .line_items(vec![line])
        .client_reference_id("t1")
        .subscription_data(sub_data)
        .success_url("http://app.test/ok?session_id={CHECKOUT_SESSION_ID}")
        .cancel_url("http://app.test/cancel")
        .send(&c)
        .await
        .unwrap();
    assert!(session.url.as_deref().unwrap().starts_with(&fake.url()));
    RetrieveCheckoutSession::new(session.id.clone()).send(&c).await.unwrap();

    let sub_id = fake.complete_checkout(session.id.as_str()).await.unwrap();
    let done = RetrieveCheckoutSession::new(session.id.clone()).send(&c).await.unwrap();
    assert_eq!(
        done.subscription.as_ref().map(|s| s.id().to_string()),
        Some(sub_id.clone())
    );
    assert_eq!(done.client_reference_id.as_deref(), Some("t1"));
    let sub = RetrieveSubscription::new(sub_id.as_str()).send(&c).await.unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.metadata.get("tenant_id").map(String::as_str), Some("t1"));
    assert_eq!(sub.items.data[0].price.lookup_key.as_deref(), Some("shoal_team"));
    let invoice = sub.latest_invoice.as_ref().unwrap().id().clone().unwrap();
    RetrieveInvoice::new(invoice).send(&c).await.unwrap();

    fake.fail_payment(&sub_id).await.unwrap();
    let sub = RetrieveSubscription::new(sub_id.as_str()).send(&c).await.unwrap();
    assert_eq!(sub.status, SubscriptionStatus::PastDue);
    RetrieveInvoice::new(sub.latest_invoice.as_ref().unwrap().id().clone().unwrap())
        .send(&c)
        .await
        .unwrap();
    fake.pay(&sub_id).await.unwrap();
    fake.set_subscription_status(&sub_id, "canceled").await.unwrap();
    let sub = RetrieveSubscription::new(sub_id.as_str()).send(&c).await.unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Canceled);

    let portal = CreateBillingPortalSession::new()
        .customer(customer.id.as_str())
        .return_url("http://app.test/billing")
        .send(&c)
        .await
        .unwrap();
    assert!(portal.url.starts_with(&fake.url()));

    let payload = HashMap::from([
        ("stripe_customer_id".to_string(), customer.id.to_string()),
        ("value".to_string(), "12".to_string()),
    ]);
    let meter = CreateBillingMeterEvent::new("shoal_reads", payload)
        .identifier("t1-2026120203")
        .send(&c)
        .await
        .unwrap();
    assert_eq!(meter.identifier, "t1-2026120203");

    let types: Vec<String> = events(&fake, &got)
        .iter()
        .map(|e| e.type_.as_str().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "customer.subscription.created",
            "customer.subscription.updated",
            "invoice.paid",
            "checkout.session.completed",
            "invoice.payment_failed",
            "customer.subscription.updated",
            "invoice.paid",
            "customer.subscription.updated",
            "customer.subscription.deleted",
        ]
    );
    for e in events(&fake, &got) {
        let typed = match &e.data.object {
            EventObject::CheckoutSessionCompleted(s) => s.id.as_str().starts_with("cs_"),
            EventObject::CustomerSubscriptionCreated(s)
            | EventObject::CustomerSubscriptionUpdated(s)
            | EventObject::CustomerSubscriptionDeleted(s) => s.id.as_str() == sub_id,
            EventObject::InvoicePaid(i) | EventObject::InvoicePaymentFailed(i) => i.id.is_some(),
            _ => false,
        };
        assert!(typed, "{} did not parse into its typed object", e.type_.as_str());
    }
}

#[tokio::test]
async fn a_wrong_api_key_is_refused_with_401_in_stripes_error_shape() {
    let fake = FakeStripe::start(Options::default()).await;
    let err = CreateCustomer::new()
        .send(&client(&fake, "sk_test_wrong"))
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Stripe(_, 401)), "{err:?}");
    let raw = reqwest::Client::new()
        .post(format!("{}/v1/customers", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 401);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters() {
    let fake = FakeStripe::start(Options::default()).await;
    let c = client(&fake, &fake.secret_key());
    let create = async |name: &str| {
        let key = stripe::IdempotencyKey::new("customer-t1").unwrap();
        CreateCustomer::new()
            .name(name)
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&c)
            .await
    };
    let (first, second) = (create("t1").await.unwrap(), create("t1").await.unwrap());
    assert_eq!(first.id, second.id);
    let other = create("t2").await.unwrap_err();
    match other {
        StripeError::Stripe(e, 400) => assert_eq!(e.type_.as_str(), "idempotency_error"),
        e => panic!("expected idempotency_error, got {e:?}"),
    }
}

#[tokio::test]
async fn meter_events_are_deduplicated_by_identifier() {
    let fake = FakeStripe::start(Options::default()).await;
    let c = client(&fake, &fake.secret_key());
    let payload = || {
        HashMap::from([
            ("stripe_customer_id".to_string(), "cus_1".to_string()),
            ("value".to_string(), "5".to_string()),
        ])
    };
    for id in ["a", "a", "b"] {
        CreateBillingMeterEvent::new("shoal_reads", payload())
            .identifier(id)
            .send(&c)
            .await
            .unwrap();
    }
    let got = fake.meter_events();
    assert_eq!(got.received, 3);
    assert_eq!(
        got.events.iter().map(|e| e.identifier.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[tokio::test]
async fn delivery_switches_duplicate_and_reverse_events() {
    let fake = FakeStripe::start(Options::default()).await;
    let (hook, got) = endpoint().await;
    fake.set_webhook_url(&hook);
    fake.set_delivery(DeliveryMode {
        duplicates: true,
        out_of_order: true,
    });
    let c = client(&fake, &fake.secret_key());
    let session = new_checkout(&c, "price_shoal_business", "http://app.test/ok").await;
    fake.complete_checkout(session.id.as_str()).await.unwrap();
    let types: Vec<String> = events(&fake, &got)
        .iter()
        .map(|e| e.type_.as_str().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "checkout.session.completed",
            "checkout.session.completed",
            "invoice.paid",
            "invoice.paid",
            "customer.subscription.updated",
            "customer.subscription.updated",
            "customer.subscription.created",
            "customer.subscription.created",
        ]
    );
}

#[tokio::test]
async fn the_hosted_checkout_page_pays_and_returns_to_the_success_url() {
    let fake = FakeStripe::start(Options::default()).await;
    let c = client(&fake, &fake.secret_key());
    let session = new_checkout(&c, "price_shoal_team", "http://app.test/ok?s={CHECKOUT_SESSION_ID}").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(session.url.clone().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="pay""#), "{page}");
    let paid = http.post(session.url.clone().unwrap()).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers()["location"],
        format!("http://app.test/ok?s={}", session.id.as_str()).as_str()
    );
    let done = RetrieveCheckoutSession::new(session.id.clone()).send(&c).await.unwrap();
    assert!(done.subscription.is_some());
}
