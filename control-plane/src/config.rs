//! Control-plane configuration, from `SHOAL_*` environment variables.

use crate::Error;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the control plane reads at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SHOAL_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// `DATABASE_URL`; when unset the control plane runs its own Postgres under `state_dir/pg`.
    pub database_url: Option<String>,
    /// `SHOAL_STATE_DIR`, default `.shoal`.
    pub state_dir: PathBuf,
}

impl Config {
    pub fn from_env() -> Result<Self, Error> {
        let listen = match std::env::var("SHOAL_LISTEN") {
            Ok(v) => v
                .parse()
                .map_err(|_| Error::Config(format!("SHOAL_LISTEN must be HOST:PORT, got {v:?}")))?,
            Err(_) => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let database_url = std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty());
        let state_dir = std::env::var_os("SHOAL_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".shoal"));
        Ok(Self {
            listen,
            database_url,
            state_dir,
        })
    }

    /// Port 0 on loopback, no database URL, a state dir the caller owns.
    pub fn for_tests(state_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: None,
            state_dir,
        }
    }
}
