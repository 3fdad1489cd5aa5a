//! What both sides of shoal share and must agree on byte for byte: envelope encryption of
//! identity secrets, caller-token hashing, tenant namespace names, ids, and the wire types of the
//! control plane <-> worker protocol, GitHub's contracts both sides speak (error body,
//! `fallback_local`, `Authorization`, App JWT), and the logging and shutdown every binary uses.

pub mod crypto;
pub mod error;
pub mod github;
pub mod ids;
pub mod namespace;
#[cfg(feature = "policy-wasm")]
pub mod policy;
pub mod protocol;
pub mod secret;
pub mod serve;
pub mod shutdown;
pub mod signing;
pub mod telemetry;
pub mod token;

pub use error::Error;
pub use ids::{CallerTokenId, IdentityId, TenantId, UserId, WorkerId};
pub use secret::Secret;
