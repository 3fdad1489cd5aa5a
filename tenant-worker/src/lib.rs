//! The tenant worker: serves one org's reads through the relay, the cache and the rate-budget
//! coordinator. The relay itself lands with its own issue; this crate is its home.

pub mod github_app;
pub mod graphql;

/// The name this binary reports in logs and `--version`.
pub const NAME: &str = "shoal-worker";
