//! Everything the fake knows, behind one lock: objects by id, idempotency records, meter events,
//! emitted events and the webhook endpoint. Every state change that Stripe reports by webhook
//! returns the events it emitted; the caller delivers them ([`crate::deliver`]) outside the lock.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::StripeError;
use crate::objects::{self, SEEDS};

/// How long a meter event `identifier` is remembered (Stripe: at least 24 hours).
pub const METER_DEDUP_SECS: i64 = 24 * 3600;

/// Delivery switches of the webhook sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeliveryMode {
    /// Deliver every event twice.
    #[serde(default)]
    pub duplicates: bool,
    /// Deliver the events one action emits last-first.
    #[serde(default)]
    pub out_of_order: bool,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Delivery {
    /// `evt_...`.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The endpoint's status (0 when it could not be reached).
    pub status: u16,
}

/// What the meter-event endpoint received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MeterEvents {
    /// Every accepted event (duplicates by `identifier` within 24 h are not in here).
    pub events: Vec<MeterEvent>,
    /// How many create calls arrived, duplicates included.
    pub received: u64,
}

/// One accepted meter event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MeterEvent {
    /// `event_name`.
    pub event_name: String,
    /// `identifier` (generated when the caller sent none).
    pub identifier: String,
    /// `payload[stripe_customer_id]`.
    pub customer: String,
    /// `payload[value]`.
    pub value: String,
    /// `timestamp` (when the usage happened).
    pub timestamp: i64,
}

/// A remembered idempotent request.
#[derive(Debug, Clone)]
pub struct Remembered {
    pub fingerprint: String,
    pub status: u16,
    pub body: Value,
}

/// The whole state.
pub struct State {
    pub secret_key: String,
    pub webhook_secret: String,
    pub base_url: String,
    seq: u64,
    pub customers: BTreeMap<String, Value>,
    pub products: BTreeMap<String, Value>,
    pub prices: BTreeMap<String, Value>,
    pub sessions: BTreeMap<String, Value>,
    pub portal_sessions: BTreeMap<String, Value>,
    pub subscriptions: BTreeMap<String, Value>,
    pub invoices: BTreeMap<String, Value>,
    pub events: Vec<Value>,
    pub meter: MeterEvents,
    meter_seen: HashMap<String, (i64, Value)>,
    pub idempotency: HashMap<String, Remembered>,
    pub webhook_url: Option<String>,
    pub mode: DeliveryMode,
    pub deliveries: Vec<Delivery>,
    /// While set, meter-event calls are recorded but not answered (a caller stuck mid-report).
    pub hold_meter_responses: bool,
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl State {
    pub fn new(secret_key: String, webhook_secret: String, base_url: String) -> State {
        let t = now();
        State {
            secret_key,
            webhook_secret,
            base_url,
            seq: 0,
            customers: BTreeMap::new(),
            products: SEEDS
                .iter()
                .map(|s| (s.product.to_string(), objects::product(s, t)))
                .collect(),
            prices: SEEDS
                .iter()
                .map(|s| (s.price.to_string(), objects::price(s, t)))
                .collect(),
            sessions: BTreeMap::new(),
            portal_sessions: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            invoices: BTreeMap::new(),
            events: Vec::new(),
            meter: MeterEvents::default(),
            meter_seen: HashMap::new(),
            idempotency: HashMap::new(),
            webhook_url: None,
            mode: DeliveryMode::default(),
            deliveries: Vec::new(),
            hold_meter_responses: false,
        }
    }

    /// A new id with Stripe's prefix (`cus_`, `sub_`, ...), unique in this fake.
    pub fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_fake{:08}", self.seq)
    }

    fn emit(&mut self, type_: &str, object: Value, previous: Option<Value>) -> Value {
        let id = self.id("evt");
        let event = objects::event(&id, now(), type_, object, previous);
        self.events.push(event.clone());
        event
    }

    pub fn customer(&self, id: &str) -> Result<&Value, StripeError> {
        self.customers.get(id).ok_or_else(|| no_such("customer", id))
    }

    pub fn subscription(&self, id: &str) -> Result<&Value, StripeError> {
        self.subscriptions.get(id).ok_or_else(|| no_such("subscription", id))
    }

    /// Completes an open Checkout session as a paying customer would: creates the subscription
    /// (first `incomplete`, then `active` once its first invoice is paid) and emits
    /// `customer.subscription.created`, `customer.subscription.updated`, `invoice.paid` and
    /// `checkout.session.completed`. Returns the subscription id and the events.
    pub fn complete_session(&mut self, session_id: &str) -> Result<(String, Vec<Value>), StripeError> {
        let session = self
            .sessions
            .get(session_id)
            .ok_or_else(|| no_such("checkout.session", session_id))?
            .clone();
        if session["status"] != "open" {
            return Err(StripeError::invalid(
                "session",
                format!("Checkout session {session_id} is not open"),
            ));
        }
        let price_id = session["line_items_price"].as_str().unwrap_or_default().to_string();
        let price = self
            .prices
            .get(&price_id)
            .cloned()
            .ok_or_else(|| no_such("price", &price_id))?;
        let (sub_id, item_id, invoice_id) = (self.id("sub"), self.id("si"), self.id("in"));
        let t = now();
        let mut sub = objects::subscription(&objects::SubscriptionIn {
            id: &sub_id,
            item: &item_id,
            now: t,
            customer: session["customer"].as_str().unwrap_or_default(),
            price,
            metadata: session["subscription_metadata"].clone(),
            status: "incomplete",
        });
        let mut events = vec![self.emit("customer.subscription.created", sub.clone(), None)];
        let invoice = objects::invoice(&invoice_id, t, &sub, true);
        self.invoices.insert(invoice_id.clone(), invoice.clone());
        sub["latest_invoice"] = json!(invoice_id);
        sub["status"] = json!("active");
        events.push(self.emit(
            "customer.subscription.updated",
            sub.clone(),
            Some(json!({"status": "incomplete", "latest_invoice": null})),
        ));
        events.push(self.emit("invoice.paid", invoice, None));
        self.subscriptions.insert(sub_id.clone(), sub);
        let stored = self.sessions.get_mut(session_id).expect("looked up above");
        stored["status"] = json!("complete");
        stored["payment_status"] = json!("paid");
        stored["subscription"] = json!(sub_id);
        stored["invoice"] = json!(invoice_id);
        let completed = public_session(stored);
        events.push(self.emit("checkout.session.completed", completed, None));
        Ok((sub_id, events))
    }

    /// The next renewal fails: a new open invoice, the subscription `past_due`; emits
    /// `invoice.payment_failed` and `customer.subscription.updated`.
    pub fn fail_payment(&mut self, sub_id: &str) -> Result<Vec<Value>, StripeError> {
        let invoice_id = self.id("in");
        let sub = self.subscription(sub_id)?.clone();
        let invoice = objects::invoice(&invoice_id, now(), &sub, false);
        self.invoices.insert(invoice_id.clone(), invoice.clone());
        let mut events = vec![self.emit("invoice.payment_failed", invoice, None)];
        events.extend(self.set_status(sub_id, "past_due", Some(&invoice_id))?);
        Ok(events)
    }

    /// The customer pays the latest invoice: it is `paid`, the subscription `active` with a new
    /// period; emits `invoice.paid` and `customer.subscription.updated`.
    pub fn pay(&mut self, sub_id: &str) -> Result<Vec<Value>, StripeError> {
        let sub = self.subscription(sub_id)?.clone();
        let t = now();
        let invoice_id = sub["latest_invoice"].as_str().map(str::to_string);
        let open = invoice_id
            .as_deref()
            .and_then(|id| self.invoices.get(id))
            .filter(|i| i["status"] == "open");
        let invoice = match open {
            Some(_) => {
                let id = invoice_id.expect("open invoice has an id");
                let inv = self.invoices.get_mut(&id).expect("looked up above");
                let amount = inv["amount_due"].clone();
                inv["status"] = json!("paid");
                inv["amount_paid"] = amount;
                inv["amount_remaining"] = json!(0);
                inv["status_transitions"]["paid_at"] = json!(t);
                inv["next_payment_attempt"] = Value::Null;
                inv.clone()
            }
            None => {
                let id = self.id("in");
                let inv = objects::invoice(&id, t, &sub, true);
                self.invoices.insert(id, inv.clone());
                inv
            }
        };
        let invoice_id = invoice["id"].as_str().unwrap_or_default().to_string();
        let mut events = vec![self.emit("invoice.paid", invoice, None)];
        if let Some(item) = self
            .subscriptions
            .get_mut(sub_id)
            .and_then(|s| s["items"]["data"].get_mut(0))
        {
            item["current_period_start"] = json!(t);
            item["current_period_end"] = json!(t + objects::PERIOD);
        }
        events.extend(self.set_status(sub_id, "active", Some(&invoice_id))?);
        Ok(events)
    }

    /// Moves a subscription to `status`. `canceled` ends it and emits
    /// `customer.subscription.deleted`; any other status `customer.subscription.updated`.
    pub fn set_status(&mut self, sub_id: &str, status: &str, invoice: Option<&str>) -> Result<Vec<Value>, StripeError> {
        const STATUSES: [&str; 8] = [
            "incomplete",
            "incomplete_expired",
            "trialing",
            "active",
            "past_due",
            "canceled",
            "unpaid",
            "paused",
        ];
        if !STATUSES.contains(&status) {
            return Err(StripeError::invalid(
                "status",
                format!("Invalid status: must be one of {}", STATUSES.join(", ")),
            ));
        }
        let t = now();
        let sub = self
            .subscriptions
            .get_mut(sub_id)
            .ok_or_else(|| no_such("subscription", sub_id))?;
        let previous = json!({"status": sub["status"]});
        sub["status"] = json!(status);
        if let Some(id) = invoice {
            sub["latest_invoice"] = json!(id);
        }
        let type_ = if status == "canceled" {
            sub["canceled_at"] = json!(t);
            sub["ended_at"] = json!(t);
            sub["cancellation_details"]["reason"] = json!("cancellation_requested");
            "customer.subscription.deleted"
        } else {
            "customer.subscription.updated"
        };
        let snapshot = sub.clone();
        let previous = (type_ == "customer.subscription.updated").then_some(previous);
        Ok(vec![self.emit(type_, snapshot, previous)])
    }

    /// Records a meter event unless its identifier was seen within [`METER_DEDUP_SECS`]; either
    /// way answers the event as first recorded.
    pub fn record_meter_event(&mut self, event: MeterEvent) -> Value {
        let t = now();
        self.meter.received += 1;
        self.meter_seen.retain(|_, (at, _)| t - *at < METER_DEDUP_SECS);
        if let Some((_, body)) = self.meter_seen.get(&event.identifier) {
            return body.clone();
        }
        let body = objects::meter_event(
            t,
            &event.event_name,
            &event.identifier,
            json!({"stripe_customer_id": event.customer, "value": event.value}),
            event.timestamp,
        );
        self.meter_seen.insert(event.identifier.clone(), (t, body.clone()));
        self.meter.events.push(event);
        body
    }
}

/// A Checkout session as served (without the fake's bookkeeping fields).
pub fn public_session(stored: &Value) -> Value {
    let mut s = stored.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("line_items_price");
        o.remove("subscription_metadata");
    }
    s
}

pub fn no_such(kind: &'static str, id: &str) -> StripeError {
    StripeError::NoSuchObject {
        kind,
        id: id.to_string(),
    }
}
