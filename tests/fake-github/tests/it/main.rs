//! Integration tests of the fake GitHub: real HTTP on loopback against an in-process server.

mod app;
mod conditional;
mod contract;
mod faults;
mod gh_cli;
mod github_schema;
mod graphql;
mod limits;
mod oauth;
mod openapi;
mod pagination;
mod rest;
mod webhooks;

use shoal_fake_github::{FakeGithub, Limits, Options};

/// A fake with default options.
pub async fn fake() -> FakeGithub {
    FakeGithub::start(Options::default()).await
}

/// A fake with a small core limit.
pub async fn fake_with_core_limit(core: u64) -> FakeGithub {
    FakeGithub::start(Options {
        limits: Limits {
            core,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await
}

/// GET `path` with an optional token and extra headers.
pub async fn get(gh: &FakeGithub, token: Option<&str>, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{path}", gh.url())
    };
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("token {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request to the fake")
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A response header as a string.
pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// `x-ratelimit-remaining` as a number.
pub fn remaining(r: &reqwest::Response) -> u64 {
    header(r, "x-ratelimit-remaining")
        .parse()
        .expect("x-ratelimit-remaining")
}
