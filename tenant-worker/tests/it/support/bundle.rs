//! The harness for the GraphQL, App and token-free tests: the bundle is built here, so App
//! identities and tenant policy (token-free reads) can be set, and the worker gets a manual clock.

use serde_json::Value;
use shoal_common::protocol::{
    Bundle, CallerTokenEntry, Credential, IdentityEntry, PROTOCOL_VERSION, Policy, TenantRef,
};
use shoal_common::token::{Pepper, generate_token, hash_token};
use shoal_common::{CallerTokenId, IdentityId, Secret, TenantId};
use shoal_fake_github::{FakeGithub, Options};
use shoal_worker::clock::{Clock, ManualClock};
use shoal_worker::config::Settings;
use shoal_worker::{Running, Worker};
use std::sync::Arc;

/// The fixture App key pair (the fake verifies JWTs against the public half).
pub const APP_PRIVATE_KEY_PKCS1: &str = include_str!("../../../../tests/fixtures/github-app/app-pkcs1.pem");
pub const APP_PUBLIC_KEY: &str = include_str!("../../../../tests/fixtures/github-app/app-public.pem");
/// A key the fake does not know for the app.
pub const OTHER_PRIVATE_KEY: &str = include_str!("../../../../tests/fixtures/github-app/other-pkcs8.pem");

/// A running fake + worker pair.
pub struct Env {
    pub gh: FakeGithub,
    pub relay: Running,
    pub clock: Arc<ManualClock>,
    pub caller: String,
    pub client: reqwest::Client,
    /// The bundle the worker started with.
    pub bundle: Bundle,
}

/// A PAT identity for `token`.
pub fn pat(name: &str, token: &str) -> IdentityEntry {
    IdentityEntry {
        id: IdentityId::new(),
        name: name.into(),
        credential: Credential::Pat {
            token: Secret::new(token),
        },
        scopes: vec![],
        account: None,
        enabled: true,
    }
}

/// An App installation identity.
pub fn app(name: &str, app_id: u64, installation_id: u64, key: &str) -> IdentityEntry {
    IdentityEntry {
        id: IdentityId::new(),
        name: name.into(),
        credential: Credential::GithubApp {
            app_id,
            installation_id,
            private_key: Secret::new(key),
        },
        scopes: vec![],
        account: None,
        enabled: true,
    }
}

/// The default policy of these tests: octo-org allowed, search allowed.
pub fn policy() -> Policy {
    Policy {
        allowed_owners: vec!["octo-org".into()],
        search_allowed: true,
        ..Default::default()
    }
}

impl Env {
    /// Starts a fake and a worker pooling the identities `make` builds from the fake.
    pub async fn start(make: impl FnOnce(&FakeGithub) -> Vec<IdentityEntry>) -> Env {
        Self::start_with(Options::default(), policy(), make).await
    }

    /// Same, with fake options and a tenant policy.
    pub async fn start_with(
        opts: Options,
        policy: Policy,
        make: impl FnOnce(&FakeGithub) -> Vec<IdentityEntry>,
    ) -> Env {
        Self::start_with_settings(opts, policy, Settings::for_tests(), make).await
    }

    /// Same, with the worker's settings.
    pub async fn start_with_settings(
        opts: Options,
        policy: Policy,
        settings: Settings,
        make: impl FnOnce(&FakeGithub) -> Vec<IdentityEntry>,
    ) -> Env {
        let gh = FakeGithub::start(opts).await;
        let identities = make(&gh);
        let pepper = Pepper::generate().unwrap();
        let caller = generate_token().unwrap();
        let bundle = Bundle {
            protocol_version: PROTOCOL_VERSION,
            version: 1,
            tenant: TenantRef {
                id: TenantId::new(),
                slug: "acme".into(),
            },
            caller_tokens: vec![CallerTokenEntry {
                id: CallerTokenId::new(),
                hash: hash_token(&pepper, caller.expose()).to_hex(),
                name: "laptop".into(),
                user_login: "alice".into(),
                expires_at: None,
            }],
            identities,
            policy,
            token_pepper: Secret::new(hex::encode(pepper.as_bytes())),
            upstream: gh.url(),
            plan: String::new(),
            allowance: None,
            policy_module: None,
        };
        let clock = ManualClock::new();
        let worker = Worker::new(settings, &bundle, clock.clone() as Arc<dyn Clock>)
            .await
            .unwrap();
        let started_with = bundle.clone();
        let relay = shoal_worker::serve(worker, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Env {
            gh,
            relay,
            clock,
            caller: caller.expose().to_string(),
            client: reqwest::Client::new(),
            bundle: started_with,
        }
    }

    /// `POST {relay}{path}` with a GraphQL body, as the caller.
    pub async fn graphql_at(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.relay.url()))
            .header("authorization", format!("token {}", self.caller))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(serde_json::Value::Null);
        (status, headers, body)
    }

    /// `POST /graphql` as the caller.
    pub async fn graphql(&self, body: &serde_json::Value) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        self.graphql_at("/graphql", body).await
    }

    /// `GET {relay}{path}` as the caller, with an optional `Accept`.
    pub async fn get(&self, path: &str, accept: Option<&str>) -> (u16, reqwest::header::HeaderMap, bytes::Bytes) {
        let mut rb = self
            .client
            .get(format!("{}{path}", self.relay.url()))
            .header("authorization", format!("token {}", self.caller));
        if let Some(a) = accept {
            rb = rb.header("accept", a);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.headers().clone(), r.bytes().await.unwrap())
    }

    /// The worker's stats document.
    pub fn stats(&self) -> serde_json::Value {
        shoal_worker::relay::local::stats_json(&self.relay.worker)
    }

    /// One identity's stats entry by name.
    pub fn identity(&self, name: &str) -> serde_json::Value {
        super::identity_in(&self.stats(), |n| n == name)
    }
}

/// The relay's default GraphQL TTL.
pub const GRAPHQL_TTL_SECS: u64 = shoal_worker::relay::graphql::DEFAULT_TTL_SECS;

/// A worker pooling octocat's token, with callers logged in as `logins` (their tokens, in order).
pub async fn env_with_callers(logins: &[&str]) -> (Env, Vec<String>) {
    let env = Env::start(|gh| vec![pat("bot", &gh.add_token("octocat"))]).await;
    let pepper = Pepper::new(hex::decode(env.bundle.token_pepper.expose()).unwrap()).unwrap();
    let mut next = env.bundle.clone();
    next.version += 1;
    let mut tokens = Vec::new();
    for login in logins {
        let token = generate_token().unwrap();
        next.caller_tokens.push(CallerTokenEntry {
            id: CallerTokenId::new(),
            hash: hash_token(&pepper, token.expose()).to_hex(),
            name: format!("{login}'s laptop"),
            user_login: login.to_string(),
            expires_at: None,
        });
        tokens.push(token.expose().to_string());
    }
    env.relay.worker.swap_bundle(&next).unwrap();
    (env, tokens)
}

/// Sends `rb` as the caller holding `token`: status, `X-Shoal-Cache` and the JSON body.
pub async fn send(rb: reqwest::RequestBuilder, token: &str) -> (u16, String, Value) {
    let r = rb
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    let cache = r
        .headers()
        .get("x-shoal-cache")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), cache.unwrap_or_default(), r.json().await.unwrap())
}
