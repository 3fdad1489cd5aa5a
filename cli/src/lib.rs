//! The `shoal` command-line client: `login` stores a caller token for a tenant, the gh shim runs
//! the user's real `gh` against the tenant's relay for reads (and untouched for everything else),
//! and `admin`/`stats` talk to the admin API.

pub mod admin;
pub mod classify;
pub mod config;
pub mod login;
pub mod real_gh;
pub mod remote;
pub mod shim;
pub mod stats;
