//! The Stripe API under `/v1`: bearer auth, `Idempotency-Key` on POSTs, then one handler per
//! route. Answers are `(status, JSON)`; errors use Stripe's shape ([`StripeError`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::Shared;
use crate::error::StripeError;
use crate::form::Form;
use crate::objects;
use crate::state::{MeterEvent, Remembered, State as Fake, no_such, now, public_session};

type Answer = Result<(Value, Vec<Value>), StripeError>;

/// Serves every `/v1/...` request.
pub async fn serve(
    State(sh): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, body, events) = {
        let mut st = sh.lock();
        if !authorized(&st, &headers) {
            return StripeError::Unauthorized.into_response();
        }
        let form = if method == Method::POST {
            Form::parse(&body)
        } else {
            Form::parse(uri.query().unwrap_or("").as_bytes())
        };
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .filter(|_| method == Method::POST);
        let fingerprint = format!("{method} {} {}", uri.path(), String::from_utf8_lossy(&body));
        match key.map(|k| (k, st.idempotency.get(k).cloned())) {
            Some((_, Some(seen))) if seen.fingerprint != fingerprint => {
                return StripeError::IdempotencyMismatch.into_response();
            }
            Some((_, Some(seen))) => {
                let mut r = (
                    StatusCode::from_u16(seen.status).unwrap_or(StatusCode::OK),
                    axum::Json(seen.body),
                )
                    .into_response();
                r.headers_mut()
                    .insert("idempotent-replayed", "true".parse().expect("static header"));
                return r;
            }
            _ => {}
        }
        let (status, body, events) = match route(&mut st, &method, uri.path(), &form) {
            Ok((body, events)) => (StatusCode::OK, body, events),
            Err(e) => (e.status(), e.body(), Vec::new()),
        };
        if let Some(k) = key {
            let seen = Remembered {
                fingerprint,
                status: status.as_u16(),
                body: body.clone(),
            };
            st.idempotency.insert(k.to_string(), seen);
        }
        (status, body, events)
    };
    crate::deliver::deliver(&sh, events).await;
    if uri.path() == "/v1/billing/meter_events" {
        while sh.lock().hold_meter_responses {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    (status, axum::Json(body)).into_response()
}

fn authorized(st: &Fake, headers: &HeaderMap) -> bool {
    let Some(key) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    bool::from(key.as_bytes().ct_eq(st.secret_key.as_bytes()))
}

fn route(st: &mut Fake, method: &Method, path: &str, form: &Form) -> Answer {
    let parts: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let found = |v: Value| Ok((v, Vec::new()));
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["customers"]) => create_customer(st, form),
        ("GET", ["customers", id]) => found(st.customer(id)?.clone()),
        ("GET", ["products", id]) => found(st.products.get(*id).cloned().ok_or_else(|| no_such("product", id))?),
        ("GET", ["prices"]) => found(list_prices(st, form)),
        ("GET", ["prices", id]) => found(st.prices.get(*id).cloned().ok_or_else(|| no_such("price", id))?),
        ("POST", ["checkout", "sessions"]) => create_checkout_session(st, form),
        ("GET", ["checkout", "sessions", id]) => found(public_session(
            st.sessions.get(*id).ok_or_else(|| no_such("checkout.session", id))?,
        )),
        ("POST", ["billing_portal", "sessions"]) => create_portal_session(st, form),
        ("GET", ["subscriptions", id]) => found(st.subscription(id)?.clone()),
        ("GET", ["invoices", id]) => found(st.invoices.get(*id).cloned().ok_or_else(|| no_such("invoice", id))?),
        ("GET", ["events", id]) => found(
            st.events
                .iter()
                .find(|e| e["id"] == *id)
                .cloned()
                .ok_or_else(|| no_such("event", id))?,
        ),
        ("POST", ["billing", "meter_events"]) => create_meter_event(st, form),
        _ => Err(StripeError::InvalidRequest {
            message: format!("Unrecognized request URL ({method}: {path})."),
            param: None,
            code: "resource_missing",
        }),
    }
}

fn create_customer(st: &mut Fake, form: &Form) -> Answer {
    let id = st.id("cus");
    let c = objects::customer(
        &id,
        now(),
        form.get("email"),
        form.get("name"),
        json!(form.map("metadata")),
    );
    st.customers.insert(id, c.clone());
    Ok((c, Vec::new()))
}

fn list_prices(st: &Fake, form: &Form) -> Value {
    let keys = form.list("lookup_keys");
    let data = st
        .prices
        .values()
        .filter(|p| keys.is_empty() || p["lookup_key"].as_str().is_some_and(|k| keys.iter().any(|w| w == k)))
        .cloned()
        .collect();
    objects::list(data, "/v1/prices")
}

fn create_checkout_session(st: &mut Fake, form: &Form) -> Answer {
    if form.require("mode")? != "subscription" {
        return Err(StripeError::invalid(
            "mode",
            "The fake Stripe only serves mode=subscription.",
        ));
    }
    let customer = form.require("customer")?.to_string();
    st.customer(&customer)?;
    let price_id = form.require("line_items[0][price]")?.to_string();
    let price = st.prices.get(&price_id).ok_or_else(|| no_such("price", &price_id))?;
    let amount = price["unit_amount"].as_i64().unwrap_or(0);
    let success_url = form.require("success_url")?.to_string();
    let id = st.id("cs_test");
    let url = format!("{}/c/pay/{id}", st.base_url);
    let mut session = objects::checkout_session(
        &objects::SessionIn {
            id: &id,
            now: now(),
            customer: &customer,
            price: &price_id,
            success_url: &success_url,
            cancel_url: form.get("cancel_url"),
            client_reference_id: form.get("client_reference_id"),
            metadata: json!(form.map("metadata")),
            url: &url,
        },
        amount,
    );
    session["line_items_price"] = json!(price_id);
    session["subscription_metadata"] = json!(form.map("subscription_data[metadata]"));
    st.sessions.insert(id, session.clone());
    Ok((public_session(&session), Vec::new()))
}

fn create_portal_session(st: &mut Fake, form: &Form) -> Answer {
    let customer = form.require("customer")?.to_string();
    st.customer(&customer)?;
    let id = st.id("bps");
    let url = format!("{}/p/session/{id}", st.base_url);
    let s = objects::portal_session(&id, now(), &customer, form.get("return_url"), &url);
    st.portal_sessions.insert(id, s.clone());
    Ok((s, Vec::new()))
}

fn create_meter_event(st: &mut Fake, form: &Form) -> Answer {
    let event_name = form.require("event_name")?.to_string();
    let customer = form.require("payload[stripe_customer_id]")?.to_string();
    let value = form.require("payload[value]")?.to_string();
    if value.parse::<i64>().is_err() {
        return Err(StripeError::invalid(
            "payload[value]",
            "payload[value] must be a whole number.",
        ));
    }
    let identifier = match form.get("identifier") {
        Some(i) => i.to_string(),
        None => st.id("mev"),
    };
    let timestamp = match form.get("timestamp") {
        Some(t) => t
            .parse()
            .map_err(|_| StripeError::invalid("timestamp", "timestamp must be a Unix time."))?,
        None => now(),
    };
    let body = st.record_meter_event(MeterEvent {
        event_name,
        identifier,
        customer,
        value,
        timestamp,
    });
    Ok((body, Vec::new()))
}
