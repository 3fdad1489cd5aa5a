//! Deliveries to shoal. GitHub's: `POST /webhooks/github/{slug}`, verified and stored by
//! [`crate::webhooks::receive`] and answered at once (the work happens after, off this request),
//! well within GitHub's 10 s. A body without a valid `X-Hub-Signature-256` is a 401. Stripe's:
//! `POST /webhooks/stripe` ([`stripe`]).

mod stripe;

use crate::Error;
use crate::state::AppState;
use crate::webhooks::{self, Delivery, Received};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use shoal_common::github::webhook::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};

/// Largest delivery accepted (GitHub caps payloads at 25 MB; the events shoal uses are far smaller).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The webhook route, with its own body limit.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/github/{slug}", post(receive_webhook))
        .route("/webhooks/stripe", post(stripe::receive_stripe_webhook))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

async fn receive_webhook(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let delivery = Delivery {
        signature: header(SIGNATURE_HEADER),
        event: header(EVENT_HEADER),
        delivery_id: header(DELIVERY_HEADER),
        body: &body,
    };
    let ping = delivery.event == Some("ping");
    let received = webhooks::receive(&state, &slug, delivery).await?;
    let status = if ping || received == Received::Duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let what = match received {
        Received::Accepted => "accepted",
        Received::Duplicate => "duplicate",
    };
    Ok((status, axum::Json(serde_json::json!({ "status": what }))).into_response())
}
