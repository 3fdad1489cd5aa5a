//! Integration tests of the worker against the fake GitHub.
