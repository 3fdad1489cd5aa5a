//! The control API under `/_fake/...` (no API key): what tests and the demo use to register the
//! webhook endpoint, drive subscriptions and read what the fake received. Each endpoint mirrors a
//! method of [`crate::FakeStripe`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Shared;
use crate::error::StripeError;
use crate::state::DeliveryMode;

/// Routes of the control API.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_fake/webhook", post(set_webhook))
        .route("/_fake/delivery", post(set_delivery))
        .route("/_fake/checkout/{id}/complete", post(complete))
        .route("/_fake/subscriptions/{id}/payment_failed", post(payment_failed))
        .route("/_fake/subscriptions/{id}/pay", post(pay))
        .route("/_fake/subscriptions/{id}/status", post(set_status))
        .route("/_fake/events", get(events))
        .route("/_fake/events/{id}/resend", post(resend))
        .route("/_fake/deliveries", get(deliveries))
        .route("/_fake/meter_events", get(meter_events))
        .route("/_fake/meter_events/hold", post(hold_meter_events))
}

#[derive(Debug, Deserialize)]
struct WebhookIn {
    url: String,
}

async fn set_webhook(State(sh): State<Arc<Shared>>, Json(w): Json<WebhookIn>) -> StatusCode {
    sh.lock().webhook_url = Some(w.url);
    StatusCode::NO_CONTENT
}

async fn set_delivery(State(sh): State<Arc<Shared>>, Json(m): Json<DeliveryMode>) -> StatusCode {
    sh.lock().mode = m;
    StatusCode::NO_CONTENT
}

async fn complete(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Result<Json<Value>, StripeError> {
    let (sub, events) = sh.lock().complete_session(&id)?;
    crate::deliver::deliver(&sh, events).await;
    Ok(Json(json!({"subscription": sub})))
}

async fn payment_failed(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Result<StatusCode, StripeError> {
    let events = sh.lock().fail_payment(&id)?;
    crate::deliver::deliver(&sh, events).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn pay(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Result<StatusCode, StripeError> {
    let events = sh.lock().pay(&id)?;
    crate::deliver::deliver(&sh, events).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct StatusIn {
    status: String,
}

async fn set_status(
    State(sh): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(s): Json<StatusIn>,
) -> Result<StatusCode, StripeError> {
    let events = sh.lock().set_status(&id, &s.status, None)?;
    crate::deliver::deliver(&sh, events).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn events(State(sh): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(sh.lock().events))
}

async fn resend(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Result<StatusCode, StripeError> {
    sh.resend(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn deliveries(State(sh): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(sh.lock().deliveries))
}

async fn meter_events(State(sh): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(sh.lock().meter))
}

#[derive(Debug, Deserialize)]
struct HoldIn {
    hold: bool,
}

async fn hold_meter_events(State(sh): State<Arc<Shared>>, Json(h): Json<HoldIn>) -> StatusCode {
    sh.lock().hold_meter_responses = h.hold;
    StatusCode::NO_CONTENT
}
