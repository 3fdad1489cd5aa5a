//! The JSON API under `/api/v1`: the CLI's login exchange and the admin API of each tenant,
//! documented by the hand-kept OpenAPI file served at `/api/v1/openapi.json` (a test checks it
//! against these routes).

mod admin;
mod login;

use crate::Error;
use crate::state::AppState;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// The OpenAPI document, kept by hand next to the routes.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Every API operation as (method, path template): the OpenAPI file must describe exactly these.
pub const API_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/login/exchange"),
    ("get", "/api/v1/tenants/{slug}/members"),
    ("patch", "/api/v1/tenants/{slug}/members/{user_id}"),
    ("delete", "/api/v1/tenants/{slug}/members/{user_id}"),
    ("get", "/api/v1/tenants/{slug}/removed-members"),
    ("delete", "/api/v1/tenants/{slug}/removed-members/{user_id}"),
    ("get", "/api/v1/tenants/{slug}/tokens"),
    ("post", "/api/v1/tenants/{slug}/tokens"),
    ("delete", "/api/v1/tenants/{slug}/tokens/{token_id}"),
    ("get", "/api/v1/tenants/{slug}/identities"),
    ("post", "/api/v1/tenants/{slug}/identities"),
    ("patch", "/api/v1/tenants/{slug}/identities/{identity_id}"),
    ("delete", "/api/v1/tenants/{slug}/identities/{identity_id}"),
    ("get", "/api/v1/tenants/{slug}/policy"),
    ("put", "/api/v1/tenants/{slug}/policy"),
    ("get", "/api/v1/tenants/{slug}/audit"),
];

/// The JSON API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(get_openapi))
        .route("/api/v1/login/exchange", post(login::exchange_login))
        .merge(admin::routes())
}

async fn get_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A JSON body, or a 400 that says what was wrong with it.
pub(crate) fn json_body<T>(body: Result<axum::Json<T>, JsonRejection>) -> Result<T, Error> {
    body.map(|j| j.0).map_err(|r| {
        if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge
        } else {
            Error::BadRequest(format!("invalid JSON body: {}", r.body_text()))
        }
    })
}
