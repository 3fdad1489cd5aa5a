//! Integration tests of the worker: the real server on loopback, the fake GitHub upstream,
//! exact upstream counts.

mod cache;
mod coordinator;
mod relay;
mod secrets;
mod support;
