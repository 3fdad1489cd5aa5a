//! Sends events to the registered webhook endpoint, signed the way Stripe signs them:
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`. Delivery is
//! synchronous, so a control call returns once the endpoint has answered every event.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::Shared;
use crate::state::{Delivery, now};

/// The `Stripe-Signature` header for `payload` signed with `secret` at `t`.
pub fn signature(payload: &str, secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{payload}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers `events` (reversed and/or twice each, as the delivery switches say).
pub async fn deliver(sh: &Shared, mut events: Vec<Value>) {
    let (url, secret, mode) = {
        let st = sh.lock();
        (st.webhook_url.clone(), st.webhook_secret.clone(), st.mode)
    };
    let Some(url) = url else { return };
    if mode.out_of_order {
        events.reverse();
    }
    let times = if mode.duplicates { 2 } else { 1 };
    for event in &events {
        for _ in 0..times {
            send(sh, &url, &secret, event).await;
        }
    }
}

/// Sends one event once and records the endpoint's answer.
pub async fn send(sh: &Shared, url: &str, secret: &str, event: &Value) {
    let payload = event.to_string();
    let status = sh
        .http
        .post(url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature(&payload, secret, now()))
        .body(payload)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let delivery = Delivery {
        event_id: event["id"].as_str().unwrap_or_default().to_string(),
        event_type: event["type"].as_str().unwrap_or_default().to_string(),
        status,
    };
    tracing::debug!(event.id = %delivery.event_id, event.type = %delivery.event_type, status, "webhook delivered");
    sh.lock().deliveries.push(delivery);
}
