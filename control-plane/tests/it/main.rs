//! The control plane's integration tests: one binary, one module per area.

mod app;
mod browser;
mod domain;
mod embedded;
mod flows;
mod http;
mod migrations;
mod rls;
mod support;
