//! Stripe's deliveries to shoal: `POST /webhooks/stripe`, verified, stored and applied by
//! [`crate::billing::webhook::receive`]. Without a valid `Stripe-Signature` (or with billing
//! off) the answer is 400 and nothing is stored; a replayed event is acknowledged with 200.

use crate::Error;
use crate::billing::webhook::{self, Received};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

pub(super) async fn receive_stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let (Some(stripe), Some(secret)) = (&state.stripe, &state.config.billing.stripe_webhook_secret) else {
        return Err(Error::BadRequest(
            "billing is not configured on this shoal (no SHOAL_STRIPE_SECRET_KEY)".into(),
        ));
    };
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let received = webhook::receive(&state.pool, stripe, secret, signature, &body).await?;
    let status = match received {
        Received::Processed => "processed",
        Received::Duplicate => "duplicate",
    };
    Ok(axum::Json(serde_json::json!({ "status": status })).into_response())
}
