//! The control plane's integration tests: one binary, one module per area.

mod app;
mod domain;
mod embedded;
mod http;
mod migrations;
mod rls;
mod support;
