//! The `shoal` binary, run as a real process.

mod gh_e2e;
mod shim;
