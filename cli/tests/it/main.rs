//! The `shoal` binary, run as a real process.

mod shim;
