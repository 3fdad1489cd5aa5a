//! The web UI and the routes that hold it together: shared state, the router, security headers,
//! the stylesheet and the HTML rendering of errors. Pages live in [`pages`] (account-level) and
//! [`tenant_pages`] (inside one tenant); the JSON API in `crate::api`; sign-in in `crate::oauth`.

pub mod auth;
mod pages;
pub mod signed_cookie;
mod tenant_pages;

use crate::config::Config;
use crate::github::GithubClient;
use crate::{Error, api, oauth};
use askama::Template;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use url::Url;

/// Largest request body accepted (forms and JSON; an App private key is a few KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The control-plane database.
    pub pool: sqlx::PgPool,
    /// Configuration, including key material.
    pub config: Arc<Config>,
    /// The GitHub API client.
    pub github: GithubClient,
    /// Where browsers reach us (OAuth redirect URL).
    pub public_url: Url,
    /// Sign-in and login-exchange attempts per client address.
    pub login_limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl AppState {
    /// State over a pool and config; `public_url` is where the server is reachable.
    pub fn new(pool: sqlx::PgPool, config: Arc<Config>, public_url: Url) -> Self {
        let per_minute = NonZeroU32::new(config.login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            github: GithubClient::new(&config.github),
            pool,
            config,
            public_url,
            login_limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
        }
    }

    /// Counts one login attempt from `ip`; refuses when the address is over its quota.
    pub fn check_login_rate(&self, ip: Option<IpAddr>) -> Result<(), Error> {
        let key = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        self.login_limiter.check_key(&key).map_err(|_| Error::RateLimited)
    }

    /// The host a tenant's relay answers at.
    pub fn tenant_host(&self, slug: &str) -> String {
        self.config.tenant_host(slug)
    }
}

/// Every route of the control plane, with security headers and a body limit.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(get_health))
        .route("/static/app.css", get(get_stylesheet))
        .merge(pages::routes())
        .merge(tenant_pages::routes())
        .merge(oauth::routes())
        .merge(api::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Liveness and database reachability.
async fn get_health(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    sqlx::query("SELECT 1").execute(&state.pool).await?;
    Ok(Json(json!({ "status": "ok", "database": "ok" })))
}

/// The one stylesheet, compiled in.
async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../web/static/app.css"),
    )
        .into_response()
}

/// No inline script anywhere (there is no script at all), no framing, no sniffing, no referrer
/// (OAuth codes are in our URLs), and no caching of pages that may show a token once.
async fn security_headers(req: Request<axum::body::Body>, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// An error on a page: sign-in problems send the browser to the start page, everything else
/// renders the error page with the same message the JSON API would give.
#[derive(Debug)]
pub struct PageError(pub Error);

impl<E: Into<Error>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: pages::Layout,
    status: u16,
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        e.log();
        if matches!(e, Error::Unauthorized(_)) {
            return Redirect::to("/").into_response();
        }
        let status = e.status();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::TOO_MANY_REQUESTS => "Slow down",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let message = match e {
            Error::NotFound => "There is nothing here, or you are not a member of this tenant.".into(),
            e => e.public_message(),
        };
        let page = ErrorPage {
            layout: pages::Layout::anonymous(),
            status: status.as_u16(),
            title,
            message,
        };
        match page.render() {
            Ok(html) => (status, axum::response::Html(html)).into_response(),
            Err(_) => (status, "error").into_response(),
        }
    }
}
