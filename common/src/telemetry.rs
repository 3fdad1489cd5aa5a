//! Logging for every shoal binary, set up one way: `SHOAL_LOG` filters (tracing's `EnvFilter`
//! syntax, e.g. `info,sqlx=warn`), `SHOAL_LOG_FORMAT=json` writes one JSON object a line (for
//! production log pipelines), anything else or unset writes text. Logs go to stderr.

use tracing_subscriber::EnvFilter;

/// The variable that filters log lines.
pub const LOG_VAR: &str = "SHOAL_LOG";
/// The variable that picks the format: `json` or `text`.
pub const FORMAT_VAR: &str = "SHOAL_LOG_FORMAT";

/// Installs the global subscriber; `default_filter` applies when `SHOAL_LOG` is unset or invalid.
/// A second call (tests) leaves the first in place.
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_env(LOG_VAR).unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var(FORMAT_VAR).is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
