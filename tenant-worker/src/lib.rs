//! The tenant worker: serves one org's GitHub reads through the relay (`relay/`: auth,
//! normalisation, policy, response shaping), the cache (`cache/`: byte-bounded store,
//! single-flight) and the rate-budget coordinator (`coordinator/`), calling GitHub through
//! `upstream/`. It runs standalone from a TOML file (`config`) or from a bundle the control plane
//! pushes; both become the same [`tenant::Tenant`].

pub mod apps;
pub mod cache;
pub mod clock;
pub mod config;
pub mod control;
pub mod coordinator;
pub mod error;
pub mod github_app;
pub mod graphql;
pub mod relay;
pub mod stats;
pub mod tenant;
pub mod upstream;
pub mod worker;

pub use error::Error;
pub use worker::{Running, Worker, serve};

/// The name this binary reports in logs and `--version`.
pub const NAME: &str = "shoal-worker";
