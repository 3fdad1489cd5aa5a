//! GraphQL requests: parse the body with a real GraphQL parser, pick the operation that will run,
//! and decide whether the relay may serve it from pooled identities (a read) or must hand it back
//! to the caller's own gh (`fallback_local`: mutations, subscriptions, `viewer`, the `viewer...`
//! fields the relay cannot answer for the caller), and estimate the points it will cost. A repeated
//! body is classified once ([`memo`]).

mod classify;
mod cost;
pub mod memo;
pub mod viewer;

pub use classify::{
    Classified, GraphqlError, Operation, RootCall, classify, rewrite_filter_by_users, rewrite_search_texts,
};
