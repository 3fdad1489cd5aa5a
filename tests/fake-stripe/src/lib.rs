//! A fake Stripe for tests and the offline demo: the parts of the Stripe API shoal uses, served
//! over real HTTP in Stripe's wire format, with signed webhook deliveries.
//!
//! Map: [`form`] reads Stripe's bracketed form bodies, `api` serves `/v1/...` (auth,
//! idempotency, one handler per route), [`objects`] renders the JSON shapes, [`state`] holds the
//! objects and drives subscriptions, `deliver` signs and sends events to the webhook endpoint,
//! `pages` are the hosted Checkout and portal pages, `control` the `/_fake/...` control API.
//! See `tests/fake-stripe/README.md` for the contract.

#![recursion_limit = "256"]

mod api;
mod control;
pub mod deliver;
pub mod error;
pub mod form;
pub mod objects;
mod pages;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{any, get};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use deliver::signature;
pub use error::StripeError;
pub use state::{Delivery, DeliveryMode, MeterEvent, MeterEvents};

/// The API key the fake accepts unless told otherwise.
pub const DEFAULT_SECRET_KEY: &str = "sk_test_fake_shoal";
/// The webhook signing secret the fake signs with unless told otherwise.
pub const DEFAULT_WEBHOOK_SECRET: &str = "whsec_fake_shoal";

/// How to start a fake.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The only API key accepted (`Authorization: Bearer ...`).
    pub secret_key: String,
    /// The secret webhook deliveries are signed with.
    pub webhook_secret: String,
    /// Where events are delivered (also settable later).
    pub webhook_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            secret_key: DEFAULT_SECRET_KEY.to_string(),
            webhook_secret: DEFAULT_WEBHOOK_SECRET.to_string(),
            webhook_url: None,
        }
    }
}

/// The state shared by every handler.
pub struct Shared {
    state: Mutex<state::State>,
    http: reqwest::Client,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn resend(&self, event_id: &str) -> Result<(), StripeError> {
        let (event, url, secret) = {
            let st = self.lock();
            let event = st.events.iter().find(|e| e["id"] == event_id).cloned();
            (
                event.ok_or_else(|| state::no_such("event", event_id))?,
                st.webhook_url.clone(),
                st.webhook_secret.clone(),
            )
        };
        if let Some(url) = url {
            deliver::send(self, &url, &secret, &event).await;
        }
        Ok(())
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(control::router())
        .route("/c/pay/{id}", get(pages::checkout_page).post(pages::pay))
        .route("/p/session/{id}", get(pages::portal_page))
        .route("/v1/{*path}", any(api::serve))
        .with_state(shared)
}

/// A running fake Stripe. Dropping it stops the server.
pub struct FakeStripe {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeStripe {
    /// Starts a fake. Panics when the address cannot be bound (test support).
    pub async fn start(opts: Options) -> FakeStripe {
        let listener = match tokio::net::TcpListener::bind(opts.listen).await {
            Ok(l) => l,
            Err(e) => panic!("fake Stripe cannot listen on {}: {e}", opts.listen),
        };
        let addr = listener.local_addr().expect("bound listener has an address");
        let mut st = state::State::new(opts.secret_key, opts.webhook_secret, format!("http://{addr}"));
        st.webhook_url = opts.webhook_url;
        let shared = Arc::new(Shared {
            state: Mutex::new(st),
            http: reqwest::Client::new(),
        });
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "fake Stripe server stopped");
            }
        });
        FakeStripe {
            shared,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API key it accepts.
    pub fn secret_key(&self) -> String {
        self.shared.lock().secret_key.clone()
    }

    /// The secret its webhook deliveries are signed with.
    pub fn webhook_secret(&self) -> String {
        self.shared.lock().webhook_secret.clone()
    }

    /// Delivers events to `url` from now on.
    pub fn set_webhook_url(&self, url: &str) {
        self.shared.lock().webhook_url = Some(url.to_string());
    }

    /// Sets the delivery switches (duplicates, out of order).
    pub fn set_delivery(&self, mode: DeliveryMode) {
        self.shared.lock().mode = mode;
    }

    /// Completes a Checkout session (as the hosted page's Pay button does) and delivers its
    /// events; returns the new subscription's id.
    pub async fn complete_checkout(&self, session_id: &str) -> Result<String, StripeError> {
        let (sub, events) = self.shared.lock().complete_session(session_id)?;
        deliver::deliver(&self.shared, events).await;
        Ok(sub)
    }

    /// The subscription's renewal payment fails (`past_due`); delivers the events.
    pub async fn fail_payment(&self, subscription: &str) -> Result<(), StripeError> {
        let events = self.shared.lock().fail_payment(subscription)?;
        deliver::deliver(&self.shared, events).await;
        Ok(())
    }

    /// The customer pays (`active`); delivers the events.
    pub async fn pay(&self, subscription: &str) -> Result<(), StripeError> {
        let events = self.shared.lock().pay(subscription)?;
        deliver::deliver(&self.shared, events).await;
        Ok(())
    }

    /// Moves a subscription to `status` (`canceled` ends it); delivers the event.
    pub async fn set_subscription_status(&self, subscription: &str, status: &str) -> Result<(), StripeError> {
        let events = self.shared.lock().set_status(subscription, status, None)?;
        deliver::deliver(&self.shared, events).await;
        Ok(())
    }

    /// Delivers an already emitted event once more (a replay).
    pub async fn resend(&self, event_id: &str) -> Result<(), StripeError> {
        self.shared.resend(event_id).await
    }

    /// Every event emitted so far, oldest first.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.shared.lock().events.clone()
    }

    /// Every delivery attempt so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    /// While `hold` is set, meter-event calls are recorded but left unanswered, so a caller can
    /// be stopped mid-report.
    pub fn hold_meter_responses(&self, hold: bool) {
        self.shared.lock().hold_meter_responses = hold;
    }

    /// What the meter-event endpoint received.
    pub fn meter_events(&self) -> MeterEvents {
        self.shared.lock().meter.clone()
    }

    /// A stored object as served (customer, subscription, invoice, session), by id.
    pub fn object(&self, id: &str) -> Option<serde_json::Value> {
        let st = self.shared.lock();
        st.customers
            .get(id)
            .or_else(|| st.subscriptions.get(id))
            .or_else(|| st.invoices.get(id))
            .cloned()
            .or_else(|| st.sessions.get(id).map(state::public_session))
    }

    /// Ids of every Checkout session created so far, oldest first.
    pub fn checkout_sessions(&self) -> Vec<String> {
        let st = self.shared.lock();
        let mut ids: Vec<_> = st
            .sessions
            .iter()
            .map(|(id, s)| (s["created"].as_i64(), id.clone()))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
