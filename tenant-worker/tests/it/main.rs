//! Integration tests of the worker: the real server on loopback, the fake GitHub upstream,
//! exact upstream counts.

mod allowance;
mod apps;
mod cache;
mod coordinator;
mod disk_cache;
mod faults;
mod fresh;
mod fresh_gh;
mod gh_cli;
mod graphql;
mod http1;
mod me_searches;
mod node_ids;
mod pacing;
mod policy;
mod policy_module;
mod proptests;
mod relay;
mod rest_memo;
mod secrets;
mod support;
mod token_free;
mod usage;
mod viewer_fields;
mod webhooks;
