//! What both sides of shoal share and must agree on byte for byte: envelope encryption of
//! identity secrets, caller-token hashing, tenant namespace names, ids, and the wire types of the
//! control plane <-> worker protocol.

pub mod crypto;
pub mod error;
pub mod ids;
pub mod namespace;
pub mod protocol;
pub mod secret;
pub mod signing;
pub mod token;

pub use error::Error;
pub use ids::{CallerTokenId, IdentityId, TenantId, UserId, WorkerId};
pub use secret::Secret;
