//! The tenant's WebAssembly policy module: the ABI it implements ([`abi`]), the one wasmtime
//! engine and its limits ([`engine`]), the `shoal` host imports ([`host`]), loading and
//! validating a module ([`load`]) and running it on one request's [`Facts`] ([`run`]). The worker
//! runs modules with it and the control plane validates uploads with the same code.

pub mod abi;
pub mod engine;
pub mod host;
pub mod load;
pub mod run;

pub use abi::{ABI_VERSION, Decision};
pub use load::{LoadError, Program};
pub use run::{Failure, FailureKind, LogLine, Outcome};

/// What a module may read about one request. Strings reach guest memory only when the module
/// asks for them; no token is ever here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `GET`, `HEAD` or `POST` (GraphQL).
    pub method: String,
    /// The normalised path with its query (`/repos/octo-org/x/pulls?state=open`), `/graphql`.
    pub path: String,
    /// The usage report's route class: `pulls`, `issues`, `releases`, `search`, `graphql`...
    pub route_class: String,
    /// The rate-limit resource: `core`, `search`, `code_search` or `graphql`.
    pub resource: String,
    /// Lower-cased owner the request reads, when it names one.
    pub owner: Option<String>,
    /// Lower-cased `owner/repo` the request reads, when it names one.
    pub repo: Option<String>,
    /// The pull request's or issue's number, when the path names one.
    pub number: Option<u64>,
    /// `query` for GraphQL reads (mutations never reach a module).
    pub graphql_operation: Option<String>,
    /// The GraphQL root fields, comma-separated.
    pub graphql_root_fields: Option<String>,
    /// The caller token's id (a UUID), never the token.
    pub caller_token_id: String,
    /// The member's GitHub login, empty when unknown.
    pub member_login: String,
    /// Whether the repository is known to be public; `None` when the relay does not know.
    pub repo_public: Option<bool>,
    /// The TTL in seconds the relay would cache this answer for.
    pub default_ttl: u64,
}

/// Requests the control plane dry-runs an uploaded module on, shown to the admin with what the
/// module decides for each.
pub fn sample_requests() -> Vec<Facts> {
    let rest = |path: &str, class: &str, resource: &str, repo: Option<&str>, number: Option<u64>, ttl: u64| Facts {
        method: "GET".into(),
        path: path.into(),
        route_class: class.into(),
        resource: resource.into(),
        owner: repo.map(|r| r.split('/').next().unwrap_or_default().to_string()),
        repo: repo.map(str::to_string),
        number,
        caller_token_id: "00000000-0000-0000-0000-000000000000".into(),
        member_login: "octocat".into(),
        repo_public: Some(true),
        default_ttl: ttl,
        ..Facts::default()
    };
    vec![
        rest(
            "/repos/octo-org/hello-world",
            "repos",
            "core",
            Some("octo-org/hello-world"),
            None,
            300,
        ),
        rest(
            "/repos/octo-org/hello-world/pulls/1",
            "pulls",
            "core",
            Some("octo-org/hello-world"),
            Some(1),
            20,
        ),
        rest(
            "/repos/octo-org/hello-world/releases",
            "releases",
            "core",
            Some("octo-org/hello-world"),
            None,
            60,
        ),
        rest(
            "/repos/other-org/tool/issues?state=open",
            "issues",
            "core",
            Some("other-org/tool"),
            None,
            20,
        ),
        rest(
            "/search/issues?q=repo%3Aocto-org%2Fhello-world",
            "search",
            "search",
            None,
            None,
            60,
        ),
        Facts {
            method: "POST".into(),
            path: "/graphql".into(),
            route_class: "graphql".into(),
            resource: "graphql".into(),
            owner: Some("octo-org".into()),
            repo: Some("octo-org/hello-world".into()),
            graphql_operation: Some("query".into()),
            graphql_root_fields: Some("repository".into()),
            caller_token_id: "00000000-0000-0000-0000-000000000000".into(),
            member_login: "octocat".into(),
            default_ttl: 20,
            ..Facts::default()
        },
    ]
}

#[cfg(test)]
mod tests;
