//! Integration tests of the worker against the fake GitHub.

mod apps;
mod gh_cli;
mod graphql;
mod proptests;
mod support;
mod token_free;
