//! What `shoal login` stores: `config.toml` (tenant, relay host, caller token) and the CA to
//! trust, in `$SHOAL_CONFIG_DIR`, else `$XDG_CONFIG_HOME/shoal`, else `~/.config/shoal`. The dir
//! is 0700 and every file 0600: the caller token is a credential.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use shoal_common::Secret;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const CONFIG_FILE: &str = "config.toml";
/// Where a private CA for the relay is kept, when the tenant uses one.
pub const CA_FILE: &str = "ca.pem";

/// A logged-in tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Login {
    /// The URL `shoal login` was given (the control plane or the tenant host).
    pub url: String,
    pub tenant: String,
    /// `acme.shoal.example` or `acme.localhost:8443`: what gh gets as `GH_HOST`.
    pub host: String,
    pub user: String,
    pub token: Secret,
    /// `shoal_abc123`, safe to show.
    pub token_prefix: String,
    /// A CA bundle to trust for `host` (`SSL_CERT_FILE`), when the tenant uses a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// An HTTP client with shoal's user agent that also trusts `ca_file` (a private or dev CA), if given.
pub fn http_client(ca_file: Option<&Path>, timeout: std::time::Duration) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("shoal-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().context("cannot set up HTTPS")
}

/// The config directory for this user.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("SHOAL_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("shoal"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: set SHOAL_CONFIG_DIR")?;
    Ok(PathBuf::from(home).join(".config").join("shoal"))
}

fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))
}

/// Writes a file readable only by its owner (created so, never widened then narrowed).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        ensure_dir(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

impl Login {
    /// The stored login, or `None` when not logged in.
    pub fn load_from(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}): run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
        toml::from_str(&text).map(Some).with_context(|| {
            format!(
                "{} is not a valid shoal config: run `shoal login` again",
                path.display()
            )
        })
    }

    pub fn save_to(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string(self).context("cannot encode the config")?;
        write_private(&dir.join(CONFIG_FILE), text.as_bytes())
    }

    /// Removes the stored login and CA; true if there was one.
    pub fn remove_from(dir: &Path) -> Result<bool> {
        let mut removed = false;
        for f in [CONFIG_FILE, CA_FILE] {
            match std::fs::remove_file(dir.join(f)) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", dir.join(f).display())),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> Login {
        Login {
            url: "https://acme.localhost:8443".into(),
            tenant: "acme".into(),
            host: "acme.localhost:8443".into(),
            user: "alice".into(),
            token: Secret::new("shoal_canary"),
            token_prefix: "shoal_canar".into(),
            ca_file: None,
        }
    }

    #[test]
    fn login_round_trips_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("shoal");
        login().save_to(&cfg).unwrap();
        assert_eq!(Login::load_from(&cfg).unwrap(), Some(login()));
        let file_mode = std::fs::metadata(cfg.join(CONFIG_FILE)).unwrap().permissions().mode();
        assert_eq!(file_mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&cfg).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert!(Login::remove_from(&cfg).unwrap());
        assert_eq!(Login::load_from(&cfg).unwrap(), None);
        assert!(!Login::remove_from(&cfg).unwrap());
    }

    #[test]
    fn a_config_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        login().save_to(dir.path()).unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Login::load_from(dir.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("shoal_canary"));
    }
}
