//! The upstream client: GET requests to GitHub (or GHES, or the fake) with one pooled identity's
//! credential, keeping connections alive across calls. Errors describe the failure kind only;
//! they never carry a URL with credentials or a header value.

use axum::http::{HeaderMap, HeaderValue};
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

impl UpstreamResponse {
    /// Reads the whole answer into allocations of its own. hyper hands out the body and header
    /// values as slices of the connection's read buffer, so a cached slice would keep that whole
    /// buffer alive: a 2-byte body could pin tens of KiB the cache's byte bound never counts.
    async fn read(resp: reqwest::Response) -> Result<Self, String> {
        let status = resp.status().as_u16();
        let mut headers = HeaderMap::with_capacity(resp.headers().len());
        for (name, value) in resp.headers() {
            // `from_bytes` copies; a value hyper accepted is valid.
            if let Ok(own) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(name.clone(), own);
            }
        }
        let body = Bytes::copy_from_slice(&resp.bytes().await.map_err(describe)?);
        Ok(Self { status, headers, body })
    }
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
        UpstreamResponse::read(rb.send().await.map_err(describe)?).await
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
        UpstreamResponse::read(resp).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_fake_github::{FakeGithub, Options};

    #[tokio::test]
    async fn an_answer_owns_its_bytes_instead_of_pinning_the_connections_read_buffer() {
        let gh = FakeGithub::start(Options::default()).await;
        let token = gh.add_token("alice");
        let up = Upstream::new(Duration::from_secs(10));
        let url = format!("{}/repos/octo-org/hello-world/issues?per_page=1&page=9", gh.url());
        let authorization = format!("token {token}");
        let resp = up
            .get(UpstreamRequest {
                url: &url,
                authorization: &authorization,
                accept: "application/vnd.github+json",
                api_version: None,
                conditional: Conditional::None,
            })
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        // A slice of the read buffer keeps the whole buffer: its capacity would show it.
        let len = resp.body.len();
        let own = resp.body.try_into_mut().expect("the body is not shared");
        assert_eq!(own.capacity(), len, "the body pins a larger allocation");
    }
}
