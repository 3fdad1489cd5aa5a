//! The control plane's integration tests: one binary, one module per area.

mod api;
mod bench_dashboard;
mod billing;
mod billing_enforcement;
mod browser;
mod dashboard;
mod demo;
mod domain;
mod edge;
mod edge_tls;
mod embedded;
mod flows;
mod http;
mod internal;
mod kubernetes;
mod migrations;
mod ops;
mod policy_module;
mod protocol;
mod rls;
mod scheduler;
mod signup_e2e;
mod stripe;
mod support;
mod webhooks;
