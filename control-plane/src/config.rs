//! Control-plane configuration, from `SHOAL_*` environment variables, checked at start with
//! messages that name the variable.

use crate::Error;
use shoal_common::Secret;
use shoal_common::crypto::{Keyring, MasterKey};
use shoal_common::token::Pepper;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How long a bundle long poll waits, unless a test says otherwise.
const BUNDLE_LONG_POLL: Duration = Duration::from_secs(25);

/// Everything the control plane reads at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SHOAL_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// `DATABASE_URL`; when unset the control plane runs its own Postgres under `state_dir/pg`.
    pub database_url: Option<String>,
    /// `SHOAL_STATE_DIR`, default `.shoal`.
    pub state_dir: PathBuf,
    /// `SHOAL_PUBLIC_URL`: the URL browsers reach the control plane at (OAuth redirect, `Secure`
    /// cookies when it is https). Default: `http://` + the bound address.
    pub public_url: Option<Url>,
    /// `SHOAL_BASE_DOMAIN`: tenants are served at `<slug>.<base domain>`. Default `localhost`.
    pub base_domain: String,
    /// GitHub endpoints and the OAuth app.
    pub github: GithubConfig,
    /// Master keyring and caller-token pepper.
    pub keys: Arc<Keys>,
    /// `SHOAL_LOGIN_ATTEMPTS_PER_MINUTE`: sign-in and login-exchange attempts allowed per client IP
    /// per minute (default 30).
    pub login_attempts_per_minute: u32,
    /// `SHOAL_MEMBERSHIP_RECHECK_SECS`: how often members are re-checked against their GitHub org
    /// (default 3600; 0 turns the loop off).
    pub membership_recheck: Duration,
    /// How long a worker's bundle request waits for a newer version before it is answered 304
    /// (25 s; tests shorten it).
    pub bundle_long_poll: Duration,
    /// Where tenants' relays are served.
    pub edge: EdgeConfig,
    /// Stripe billing; off without a secret key.
    pub billing: BillingConfig,
}

/// The edge (tenant subdomains) and the workers behind it.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// `SHOAL_EDGE_LISTEN`: the HTTPS listener, default `127.0.0.1:8443`.
    pub listen: SocketAddr,
    /// `SHOAL_EDGE_HTTP_LISTEN`: an optional plain-HTTP listener (behind a TLS-terminating proxy).
    pub http_listen: Option<SocketAddr>,
    /// `SHOAL_EDGE_PUBLIC_PORT`: the port clients use for tenant hosts, when it differs from the
    /// listener's (a load balancer in front). 443 is left out of tenant hosts.
    pub public_port: Option<u16>,
    /// `SHOAL_TLS_CERT_FILE` and `SHOAL_TLS_KEY_FILE`: production certificate chain and key. Unset:
    /// a dev CA under `<state dir>/ca` issues a certificate per tenant host.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// `SHOAL_WORKER_BIN`: the `shoal-worker` binary; default: next to this executable.
    pub worker_bin: Option<PathBuf>,
    /// `SHOAL_SCHEDULER=off` runs no workers (a replica that only serves the web UI and edge).
    pub scheduler: bool,
}

impl EdgeConfig {
    fn from_env() -> Result<Self, Error> {
        let addr = |name: &str, default: Option<&str>| -> Result<Option<SocketAddr>, Error> {
            match env(name).or(default.map(str::to_string)) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| Error::Config(format!("{name} must be HOST:PORT, got {v:?}"))),
            }
        };
        let tls_files = match (env("SHOAL_TLS_CERT_FILE"), env("SHOAL_TLS_KEY_FILE")) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            _ => {
                return Err(Error::Config(
                    "set both SHOAL_TLS_CERT_FILE and SHOAL_TLS_KEY_FILE, or neither".into(),
                ));
            }
        };
        let public_port = match env("SHOAL_EDGE_PUBLIC_PORT") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse()
                    .map_err(|_| Error::Config(format!("SHOAL_EDGE_PUBLIC_PORT must be a port number, got {v:?}")))?,
            ),
        };
        let scheduler = match env("SHOAL_SCHEDULER").as_deref().map(str::trim) {
            None | Some("process") => true,
            Some("off") => false,
            Some(v) => {
                return Err(Error::Config(format!(
                    "SHOAL_SCHEDULER must be `process` or `off`, got {v:?}"
                )));
            }
        };
        Ok(Self {
            listen: addr("SHOAL_EDGE_LISTEN", Some("127.0.0.1:8443"))?.expect("has a default"),
            http_listen: addr("SHOAL_EDGE_HTTP_LISTEN", None)?,
            public_port,
            tls_files,
            worker_bin: env("SHOAL_WORKER_BIN").map(PathBuf::from),
            scheduler,
        })
    }

    /// Loopback port 0, dev TLS, no scheduler.
    pub fn for_tests() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_listen: None,
            public_port: None,
            tls_files: None,
            worker_bin: None,
            scheduler: false,
        }
    }
}

/// Where GitHub lives and which OAuth app signs people in.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// `SHOAL_GITHUB_URL`: the REST API base (default `https://api.github.com`).
    pub api_url: Url,
    /// `SHOAL_GITHUB_WEB_URL`: where `/login/oauth/...` lives (default `https://github.com`).
    pub web_url: Url,
    /// `SHOAL_GITHUB_CLIENT_ID` of the OAuth app; sign-in is off without it.
    pub client_id: Option<String>,
    /// `SHOAL_GITHUB_CLIENT_SECRET` of the OAuth app.
    pub client_secret: Option<Secret>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            api_url: Url::parse("https://api.github.com").expect("static URL"),
            web_url: Url::parse("https://github.com").expect("static URL"),
            client_id: None,
            client_secret: None,
        }
    }
}

/// Stripe: off without a secret key, and then no plan limits apply (a team hosting shoal for
/// itself). The secrets print as redacted.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// `SHOAL_STRIPE_SECRET_KEY` (or `SHOAL_STRIPE_SECRET_KEY_FILE`): the API key.
    pub stripe_secret_key: Option<Secret>,
    /// `SHOAL_STRIPE_WEBHOOK_SECRET` (or `_FILE`): the `whsec_...` webhook deliveries are signed with.
    pub stripe_webhook_secret: Option<Secret>,
    /// `SHOAL_STRIPE_API_BASE`: default `https://api.stripe.com` (tests point it at a fake).
    pub stripe_api_base: Url,
    /// `SHOAL_STRIPE_METER_EVENT`: the Billing Meter's event name overage is reported under
    /// (default `shoal_reads`).
    pub meter_event_name: String,
    /// `SHOAL_STRIPE_METER_EVERY_SECS`: how often overage is enqueued and the outbox drained
    /// (default 60).
    pub meter_every: Duration,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: Url::parse(STRIPE_API_BASE).expect("static URL"),
            meter_event_name: "shoal_reads".into(),
            meter_every: Duration::from_secs(60),
        }
    }
}

const STRIPE_API_BASE: &str = "https://api.stripe.com";

impl BillingConfig {
    /// Whether billing is on, and so whether plan limits apply.
    pub fn enabled(&self) -> bool {
        self.stripe_secret_key.is_some()
    }

    /// Billing on, with placeholder secrets: for tests that exercise plan limits.
    pub fn on_for_tests() -> Self {
        Self {
            stripe_secret_key: Some(Secret::new("sk_test_shoal")),
            stripe_webhook_secret: Some(Secret::new("whsec_shoal")),
            ..Self::default()
        }
    }

    fn from_env() -> Result<Self, Error> {
        let stripe_secret_key = env_secret("SHOAL_STRIPE_SECRET_KEY")?;
        let stripe_webhook_secret = env_secret("SHOAL_STRIPE_WEBHOOK_SECRET")?;
        if stripe_secret_key.is_some() && stripe_webhook_secret.is_none() {
            return Err(Error::Config(
                "SHOAL_STRIPE_SECRET_KEY is set but SHOAL_STRIPE_WEBHOOK_SECRET is not: plan changes arrive by Stripe's webhooks; set it (or SHOAL_STRIPE_WEBHOOK_SECRET_FILE)".into(),
            ));
        }
        Ok(Self {
            stripe_secret_key,
            stripe_webhook_secret,
            stripe_api_base: env_url("SHOAL_STRIPE_API_BASE", STRIPE_API_BASE)?,
            meter_event_name: env("SHOAL_STRIPE_METER_EVENT").unwrap_or_else(|| "shoal_reads".into()),
            meter_every: Duration::from_secs(env_u64("SHOAL_STRIPE_METER_EVERY_SECS", 60)?.max(1)),
        })
    }
}

/// A secret from `NAME`, or from the file `NAME_FILE` (trimmed); both set is an error. Messages
/// name the variable and the path, never the value.
fn env_secret(name: &str) -> Result<Option<Secret>, Error> {
    secret_from(name, env)
}

fn secret_from(name: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, Error> {
    let file_var = format!("{name}_FILE");
    match (lookup(name), lookup(&file_var)) {
        (Some(_), Some(_)) => Err(Error::Config(format!("set {name} or {file_var}, not both"))),
        (Some(v), None) => Ok(Some(Secret::new(v.trim()))),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Config(format!("could not read {file_var} ({path}): {e}")))?;
            match text.trim() {
                "" => Err(Error::Config(format!("{file_var} ({path}) is empty"))),
                v => Ok(Some(Secret::new(v))),
            }
        }
        (None, None) => Ok(None),
    }
}

/// Key material: never printed.
pub struct Keys {
    /// Master keys that wrap tenant data keys.
    pub keyring: Keyring,
    /// HMAC key for caller-token and admin-token hashes.
    pub pepper: Pepper,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keys(master {})", self.keyring.current().id())
    }
}

impl Keys {
    /// Fresh random keys (tests and throwaway set-ups).
    pub fn generate() -> Self {
        let (master, _) = MasterKey::generate().expect("the OS random source works");
        Self {
            keyring: Keyring::new(master),
            pepper: Pepper::generate().expect("the OS random source works"),
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

fn env_url(name: &str, default: &str) -> Result<Url, Error> {
    let text = env(name).unwrap_or_else(|| default.to_string());
    let url =
        Url::parse(text.trim()).map_err(|e| Error::Config(format!("{name} must be a URL ({e}), got {text:?}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!("{name} must be an http(s) URL, got {text:?}")));
    }
    Ok(url)
}

fn env_u64(name: &str, default: u64) -> Result<u64, Error> {
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| Error::Config(format!("{name} must be a whole number, got {v:?}"))),
    }
}

impl Config {
    /// Reads the environment. With no master key or pepper configured, generates them under the
    /// state dir (mode 0600) with a warning, so `make run` works on a fresh clone.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_env_in(None)
    }

    /// The host clients use for a tenant: `<slug>.<base domain>[:port]`.
    pub fn tenant_host(&self, slug: &str) -> String {
        match self
            .edge
            .public_port
            .or(Some(self.edge.listen.port()))
            .filter(|p| *p != 443 && *p != 0)
        {
            Some(port) => format!("{slug}.{}:{port}", self.base_domain),
            None => format!("{slug}.{}", self.base_domain),
        }
    }

    /// Like [`Config::from_env`], with the state dir (and so the generated dev keys) given.
    pub fn from_env_in(state_dir: Option<PathBuf>) -> Result<Self, Error> {
        let listen = match env("SHOAL_LISTEN") {
            Some(v) => v
                .parse()
                .map_err(|_| Error::Config(format!("SHOAL_LISTEN must be HOST:PORT, got {v:?}")))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let database_url = env("DATABASE_URL");
        let state_dir = state_dir.unwrap_or_else(|| {
            std::env::var_os("SHOAL_STATE_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".shoal"))
        });
        let public_url = match env("SHOAL_PUBLIC_URL") {
            Some(_) => Some(env_url("SHOAL_PUBLIC_URL", "")?),
            None => None,
        };
        let base_domain = env("SHOAL_BASE_DOMAIN").unwrap_or_else(|| "localhost".into());
        let github = GithubConfig {
            api_url: env_url("SHOAL_GITHUB_URL", "https://api.github.com")?,
            web_url: env_url("SHOAL_GITHUB_WEB_URL", "https://github.com")?,
            client_id: env("SHOAL_GITHUB_CLIENT_ID"),
            client_secret: env("SHOAL_GITHUB_CLIENT_SECRET").map(Secret::new),
        };
        if github.client_id.is_some() != github.client_secret.is_some() {
            return Err(Error::Config(
                "set both SHOAL_GITHUB_CLIENT_ID and SHOAL_GITHUB_CLIENT_SECRET (the GitHub OAuth app), or neither"
                    .into(),
            ));
        }
        let keys = Arc::new(Keys {
            keyring: Keyring::new(load_master_key(&state_dir)?),
            pepper: load_pepper(&state_dir)?,
        });
        let login_attempts_per_minute = env_u64("SHOAL_LOGIN_ATTEMPTS_PER_MINUTE", 30)?;
        if login_attempts_per_minute == 0 || login_attempts_per_minute > 100_000 {
            return Err(Error::Config(
                "SHOAL_LOGIN_ATTEMPTS_PER_MINUTE must be between 1 and 100000".into(),
            ));
        }
        Ok(Self {
            listen,
            database_url,
            state_dir,
            public_url,
            base_domain,
            github,
            keys,
            login_attempts_per_minute: login_attempts_per_minute as u32,
            membership_recheck: Duration::from_secs(env_u64("SHOAL_MEMBERSHIP_RECHECK_SECS", 3600)?),
            bundle_long_poll: BUNDLE_LONG_POLL,
            edge: EdgeConfig::from_env()?,
            billing: BillingConfig::from_env()?,
        })
    }

    /// Port 0 on loopback, no database URL, a state dir the caller owns, random keys, github.com
    /// endpoints (tests point them at the fake GitHub).
    pub fn for_tests(state_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: None,
            state_dir,
            public_url: None,
            base_domain: "localhost".into(),
            github: GithubConfig::default(),
            keys: Arc::new(Keys::generate()),
            login_attempts_per_minute: 1000,
            membership_recheck: Duration::ZERO,
            bundle_long_poll: BUNDLE_LONG_POLL,
            edge: EdgeConfig::for_tests(),
            billing: BillingConfig::default(),
        }
    }
}

fn load_master_key(state_dir: &Path) -> Result<MasterKey, Error> {
    if env(shoal_common::crypto::MASTER_KEY_ENV).is_some() || env(shoal_common::crypto::MASTER_KEY_FILE_ENV).is_some() {
        return MasterKey::from_env().map_err(|e| Error::Config(e.to_string()));
    }
    let path = state_dir.join("master.key");
    if path.exists() {
        return MasterKey::from_file(&path).map_err(|e| Error::Config(e.to_string()));
    }
    let (key, text) = MasterKey::generate().map_err(|e| Error::Config(e.to_string()))?;
    write_private(&path, text.as_bytes())?;
    tracing::warn!(path = %path.display(), "SHOAL_MASTER_KEY is unset: generated a development master key; set SHOAL_MASTER_KEY or SHOAL_MASTER_KEY_FILE in production");
    Ok(key)
}

fn parse_pepper(text: &str, name: &str) -> Result<Pepper, Error> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| Error::Config(format!("{name} must be hex (at least 64 hex characters)")))?;
    Pepper::new(bytes).map_err(|_| Error::Config(format!("{name} must be at least 32 bytes (64 hex characters)")))
}

fn load_pepper(state_dir: &Path) -> Result<Pepper, Error> {
    if let Some(v) = env("SHOAL_TOKEN_PEPPER") {
        return parse_pepper(&v, "SHOAL_TOKEN_PEPPER");
    }
    let file = env("SHOAL_TOKEN_PEPPER_FILE").map(PathBuf::from);
    let generated_path = state_dir.join("token.pepper");
    let path = file.clone().unwrap_or_else(|| generated_path.clone());
    if path.exists() || file.is_some() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::Config(format!("could not read token pepper file {}: {e}", path.display())))?;
        return parse_pepper(&text, "SHOAL_TOKEN_PEPPER_FILE");
    }
    let pepper = Pepper::generate().map_err(|e| Error::Config(e.to_string()))?;
    write_private(&generated_path, hex::encode(pepper.as_bytes()).as_bytes())?;
    tracing::warn!(path = %generated_path.display(), "SHOAL_TOKEN_PEPPER is unset: generated a development pepper");
    Ok(pepper)
}

/// Writes a new file readable only by its owner.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::Config(format!("could not create {}: {e}", dir.display())))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Config(format!("could not create {}: {e}", path.display())))?;
    f.write_all(bytes)
        .map_err(|e| Error::Config(format!("could not write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn a_secret_comes_from_its_variable_or_its_file_never_both() {
        let name = "SHOAL_STRIPE_SECRET_KEY";
        assert!(secret_from(name, lookup(&[])).unwrap().is_none());
        let direct = secret_from(name, lookup(&[(name, " sk_test_1 ")])).unwrap().unwrap();
        assert_eq!(direct.expose(), "sk_test_1");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk_test_file\n").unwrap();
        let path = path.to_str().unwrap();
        let from_file = secret_from(name, lookup(&[("SHOAL_STRIPE_SECRET_KEY_FILE", path)]))
            .unwrap()
            .unwrap();
        assert_eq!(from_file.expose(), "sk_test_file");

        let both = secret_from(
            name,
            lookup(&[(name, "sk_test_1"), ("SHOAL_STRIPE_SECRET_KEY_FILE", path)]),
        );
        let msg = both.err().unwrap().to_string();
        assert!(msg.contains("not both") && !msg.contains("sk_test"), "{msg}");
        let missing = secret_from(name, lookup(&[("SHOAL_STRIPE_SECRET_KEY_FILE", "/nonexistent/key")]));
        assert!(
            missing
                .err()
                .unwrap()
                .to_string()
                .contains("SHOAL_STRIPE_SECRET_KEY_FILE")
        );
    }

    #[test]
    fn billing_is_off_by_default_and_its_secrets_never_print() {
        let off = BillingConfig::default();
        assert!(!off.enabled());
        assert_eq!(off.stripe_api_base.as_str(), "https://api.stripe.com/");
        let on = BillingConfig::on_for_tests();
        assert!(on.enabled());
        let printed = format!("{on:?}");
        assert!(!printed.contains("sk_test") && !printed.contains("whsec_"), "{printed}");
    }
}
