//! The control plane's integration tests: one binary, one module per area.

mod edge_tls;
mod embedded;
mod migrations;
