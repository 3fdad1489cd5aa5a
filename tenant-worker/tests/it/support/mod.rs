//! Test harness: a fake GitHub, a worker configured from a TOML file (tokens by `file:`
//! reference) with a manual clock, and a caller token. [`bundle`] is the second harness, for
//! tests that need App identities or a tenant policy the config file cannot express.

pub mod bundle;

use shoal_common::token::generate_token;
use shoal_fake_github::{FakeGithub, Limits, Options, Stats};
use shoal_worker::clock::ManualClock;
use shoal_worker::config::Config;
use shoal_worker::{Running, Worker};
use std::sync::Arc;
use std::time::Duration;

/// A pull request of the fake's world (it carries Last-Modified).
pub const PR: &str = "/repos/octo-org/hello-world/pulls/1";
/// Reviews carry no Last-Modified: only an ETag can revalidate them.
pub const REVIEWS: &str = "/repos/octo-org/hello-world/pulls/1/reviews";
/// 1 + 100 + 100 connection requests: 2 points by GitHub's formula.
pub const TWO_POINTS: &str = "query Heavy($owner: String!, $repo: String!) { repository(owner: $owner, name: $repo) { pullRequests(first: 100) { nodes { labels(first: 1) { totalCount } comments(first: 1) { totalCount } } } } }";

/// Page `n` of hello-world's issues, one per page: a distinct key per `n`.
pub fn issues_page(n: usize) -> String {
    format!("/repos/octo-org/hello-world/issues?page={n}&per_page=1")
}

/// One pooled identity of a test.
pub struct Ident {
    pub login: &'static str,
    pub revoked: bool,
    /// Write `account = login` in the config (no discovery call).
    pub account_known: bool,
}

impl Ident {
    pub fn pat(login: &'static str) -> Self {
        Self {
            login,
            revoked: false,
            account_known: true,
        }
    }
    pub fn revoked(login: &'static str) -> Self {
        Self {
            login,
            revoked: true,
            account_known: true,
        }
    }
    pub fn discovered(login: &'static str) -> Self {
        Self {
            login,
            revoked: false,
            account_known: false,
        }
    }
}

/// How to build a test environment.
pub struct Setup {
    pub identities: Vec<Ident>,
    pub core_limit: u64,
    /// Extra TOML appended to the top level (before the tables).
    pub extra: String,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            identities: vec![Ident::pat("alice")],
            core_limit: 5000,
            extra: String::new(),
        }
    }
}

/// A running fake + worker.
pub struct Env {
    pub gh: FakeGithub,
    pub worker: Running,
    pub clock: Arc<ManualClock>,
    pub caller: String,
    /// Pooled tokens, in the order of `Setup::identities`.
    pub tokens: Vec<String>,
    pub http: reqwest::Client,
    /// The bundle the config became (swap a modified copy in).
    pub bundle: shoal_common::protocol::Bundle,
    /// The worker's config file, as text.
    config: String,
    _dir: tempfile::TempDir,
}

impl Env {
    pub async fn start(setup: Setup) -> Env {
        let gh = FakeGithub::start(Options {
            limits: Limits {
                core: setup.core_limit,
                ..Limits::default()
            },
            ..Options::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let mut tables = String::new();
        let mut tokens = Vec::new();
        for (i, ident) in setup.identities.iter().enumerate() {
            let token = if ident.revoked {
                gh.add_revoked_token(ident.login)
            } else {
                gh.add_token(ident.login)
            };
            let path = dir.path().join(format!("identity-{i}"));
            std::fs::write(&path, &token).unwrap();
            tables.push_str(&format!(
                "[[identity]]\nid = \"{}-{i}\"\ntoken = \"file:{}\"\n",
                ident.login,
                path.display()
            ));
            if ident.account_known {
                tables.push_str(&format!("account = \"{}\"\n", ident.login));
            }
            tokens.push(token);
        }
        let caller = generate_token().unwrap().expose().to_string();
        let caller_path = dir.path().join("caller");
        std::fs::write(&caller_path, &caller).unwrap();
        tables.push_str(&format!(
            "[[caller]]\nname = \"laptop\"\ntoken = \"file:{}\"\n",
            caller_path.display()
        ));
        let text = format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\nallowed_owners = [\"octo-org\"]\n{}\n{}",
            gh.url(),
            setup.extra,
            tables
        );
        let clock = ManualClock::new();
        let (worker, bundle) = Self::launch(&text, &clock).await;
        gh.reset_stats();
        Env {
            gh,
            worker,
            clock,
            caller,
            tokens,
            bundle,
            config: text,
            http: reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap(),
            _dir: dir,
        }
    }

    async fn launch(config: &str, clock: &Arc<ManualClock>) -> (Running, shoal_common::protocol::Bundle) {
        let (settings, bundle) = Config::from_toml_str(config).unwrap().into_parts().unwrap();
        let listen = settings.listen;
        let discover = settings.discover_accounts;
        let w = Worker::new(settings, &bundle, clock.clone()).await.unwrap();
        if discover {
            w.discover_accounts().await;
        }
        (shoal_worker::serve(w, listen).await.unwrap(), bundle)
    }

    /// Stops the worker and starts a new process-like one from the same config, against the same
    /// fake (whose counts go on).
    pub async fn restart(self) -> Env {
        let Env {
            gh,
            worker,
            clock,
            caller,
            tokens,
            http,
            config,
            _dir,
            ..
        } = self;
        worker.shutdown().await;
        let (worker, bundle) = Self::launch(&config, &clock).await;
        Env {
            gh,
            worker,
            clock,
            caller,
            tokens,
            bundle,
            config,
            http,
            _dir,
        }
    }

    /// GET `path` (with its layout prefix, if any) as the caller.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut rb = self
            .http
            .get(format!("{}{path}", self.worker.url()))
            .header("authorization", format!("token {}", self.caller));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.unwrap()
    }

    pub fn upstream(&self) -> Stats {
        self.gh.stats()
    }

    /// Calls the fake received with pooled token `i`.
    pub fn calls_of(&self, i: usize) -> u64 {
        self.upstream().by_token.get(&self.tokens[i]).map_or(0, |t| t.calls)
    }

    pub fn charged_of(&self, i: usize) -> u64 {
        self.upstream().by_token.get(&self.tokens[i]).map_or(0, |t| t.charged)
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub fn stats(&self) -> serde_json::Value {
        shoal_worker::relay::local::stats_json(&self.worker.worker)
    }

    /// The worker's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.worker.url());
        self.http.get(url).send().await.unwrap().text().await.unwrap()
    }

    /// The identity entry in the worker's stats whose name starts with `login`.
    pub fn identity_stats(&self, login: &str) -> serde_json::Value {
        identity_in(&self.stats(), |name| name.starts_with(login))
    }
}

/// The identity entry of a stats document whose name `matches`.
pub fn identity_in(stats: &serde_json::Value, matches: impl Fn(&str) -> bool) -> serde_json::Value {
    stats["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| matches(i["name"].as_str().unwrap_or("")))
        .cloned()
        .unwrap_or_else(|| panic!("no such identity in {stats}"))
}

/// The `X-Shoal-Cache` header of a response.
pub fn cache_status(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-shoal-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
