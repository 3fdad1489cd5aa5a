//! The hosted pages a browser visits: Checkout at a session's `url` (a "Pay" button that completes
//! the session and returns to its `success_url`, a link back to its `cancel_url`) and the customer
//! portal at a portal session's `url`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::Shared;
use crate::error::StripeError;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /c/pay/{session}`: the Checkout page.
pub async fn checkout_page(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let st = sh.lock();
    let Some(s) = st.sessions.get(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>No such Checkout session</h1>".to_string()),
        )
            .into_response();
    };
    let price = s["line_items_price"].as_str().and_then(|p| st.prices.get(p));
    let name = price.and_then(|p| p["lookup_key"].as_str()).unwrap_or("subscription");
    let amount = s["amount_total"].as_i64().unwrap_or(0);
    let cancel = s["cancel_url"]
        .as_str()
        .map(|u| format!(r#"<p><a id="cancel" href="{}">Cancel</a></p>"#, escape(u)));
    let body = if s["status"] == "open" {
        format!(
            r#"<form method="post" action="/c/pay/{}"><button id="pay" type="submit">Pay ${}.{:02} / month</button></form>{}"#,
            escape(&id),
            amount / 100,
            amount % 100,
            cancel.unwrap_or_default()
        )
    } else {
        "<p>This Checkout session is complete.</p>".to_string()
    };
    Html(format!(
        "<!doctype html><html><head><title>Fake Stripe Checkout</title></head><body><h1>Subscribe to {}</h1>{body}</body></html>",
        escape(name)
    ))
    .into_response()
}

/// `POST /c/pay/{session}`: pays, delivers the events, then returns to the success URL.
pub async fn pay(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Result<Response, StripeError> {
    let (events, success_url) = {
        let mut st = sh.lock();
        let (_, events) = st.complete_session(&id)?;
        let url = st.sessions[&id]["success_url"]
            .as_str()
            .unwrap_or("/")
            .replace("{CHECKOUT_SESSION_ID}", &id);
        (events, url)
    };
    crate::deliver::deliver(&sh, events).await;
    Ok(Redirect::to(&success_url).into_response())
}

/// `GET /p/session/{id}`: the customer portal (the subscription's status and a way back).
pub async fn portal_page(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let st = sh.lock();
    let Some(s) = st.portal_sessions.get(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>No such portal session</h1>".to_string()),
        )
            .into_response();
    };
    let customer = s["customer"].as_str().unwrap_or_default();
    let subs: String = st
        .subscriptions
        .values()
        .filter(|sub| sub["customer"] == customer)
        .map(|sub| {
            format!(
                "<li>{}: {}</li>",
                escape(sub["id"].as_str().unwrap_or("")),
                escape(sub["status"].as_str().unwrap_or(""))
            )
        })
        .collect();
    let back = s["return_url"]
        .as_str()
        .map(|u| format!(r#"<p><a id="return" href="{}">Return</a></p>"#, escape(u)));
    Html(format!(
        "<!doctype html><html><head><title>Fake Stripe billing portal</title></head><body><h1>Billing</h1><ul>{subs}</ul>{}</body></html>",
        back.unwrap_or_default()
    ))
    .into_response()
}
