//! The upstream client: GET requests to GitHub (or GHES, or the fake) with one pooled identity's
//! credential, keeping connections alive across calls. Errors describe the failure kind only;
//! they never carry a URL with credentials or a header value.

use axum::http::HeaderMap;
use bytes::Bytes;
use std::time::Duration;

/// A validator sent with a revalidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditional {
    None,
    IfNoneMatch(String),
    IfModifiedSince(String),
}

/// What GitHub answered.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A header's value as text.
pub(crate) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A header's value as a number.
pub(crate) fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    header_str(h, name)?.trim().parse().ok()
}

/// The shared HTTP client.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
}

/// One upstream GET.
pub struct UpstreamRequest<'a> {
    /// Absolute URL (upstream base + path and query).
    pub url: &'a str,
    /// `Authorization` header value of the chosen identity.
    pub authorization: &'a str,
    pub accept: &'a str,
    pub api_version: Option<&'a str>,
    pub conditional: Conditional,
}

impl Upstream {
    /// A client with the given total timeout per call.
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("shoal-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a rustls client builds");
        Self { client }
    }

    /// Sends one GET.
    pub async fn get(&self, req: UpstreamRequest<'_>) -> Result<UpstreamResponse, String> {
        let mut rb = self
            .client
            .get(req.url)
            .header("authorization", req.authorization)
            .header("accept", req.accept);
        if let Some(v) = req.api_version {
            rb = rb.header("x-github-api-version", v);
        }
        rb = match &req.conditional {
            Conditional::None => rb,
            Conditional::IfNoneMatch(e) => rb.header("if-none-match", e),
            Conditional::IfModifiedSince(d) => rb.header("if-modified-since", d),
        };
        let resp = rb.send().await.map_err(describe)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(describe)?;
        Ok(UpstreamResponse { status, headers, body })
    }
}

impl Upstream {
    /// The underlying client (App token exchanges share its connections).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends one `POST` with a JSON body (GraphQL queries; never a mutation, the relay refuses
    /// those before they get here).
    pub async fn post_json(
        &self,
        url: &str,
        authorization: &str,
        body: bytes::Bytes,
    ) -> Result<UpstreamResponse, String> {
        let resp = self
            .client
            .post(url)
            .header("authorization", authorization)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(describe)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(describe)?;
        Ok(UpstreamResponse { status, headers, body })
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "response body interrupted".into()
    } else {
        "request failed".into()
    }
}
