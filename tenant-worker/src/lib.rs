//! The tenant worker: serves one org's GitHub reads. A request enters through the HTTP handlers
//! (`relay/`: auth, response shaping), is classified (`classify`: REST paths, `graphql/`: query
//! documents, into the `route` types), admitted by the tenant's rules (`policy/`), and answered
//! by the fetcher (`fetch/`: cache hits, single-flight misses, the upstream retry loop) from the
//! cache (`cache/`) or GitHub (`upstream/`) on the identity the rate-budget coordinator
//! (`coordinator/`) picks; a hard-capped plan's monthly allowance is counted in `allowance`. `worker` holds one tenant's state, `server` serves it. It runs
//! standalone from a TOML file (`config`) or from a bundle the control plane pushes (`control`);
//! both become the same [`tenant::Tenant`].

pub mod allowance;
pub mod cache;
pub mod classify;
pub mod clock;
pub mod config;
pub mod control;
pub mod coordinator;
pub mod error;
pub mod fetch;
pub mod github_app;
pub mod graphql;
pub mod headers;
pub mod policy;
pub mod relay;
pub mod route;
pub mod server;
pub mod stats;
pub mod tenant;
pub mod upstream;
pub mod worker;

pub use error::Error;
pub use server::{Running, serve};
pub use worker::Worker;

/// The name this binary reports in logs and `--version`.
pub const NAME: &str = "shoal-worker";
