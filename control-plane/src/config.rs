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
const LONG_POLL_RECHECK: Duration = Duration::from_secs(5);

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
    /// How often a waiting long poll looks at Postgres when no change notification came (5 s): a
    /// safety net, since notifications wake it at once (tests lengthen it to prove they do).
    pub long_poll_recheck: Duration,
    /// Where tenants' relays are served.
    pub edge: EdgeConfig,
    /// Stripe billing; off without a secret key.
    pub billing: BillingConfig,
    /// `SHOAL_OPERATORS`: GitHub logins (comma-separated, lower-cased here) who see the operator
    /// console `/ops`; empty: nobody.
    pub operators: Vec<String>,
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
    /// `SHOAL_SCHEDULER`: which backend runs the workers.
    pub scheduler: SchedulerConfig,
    /// `SHOAL_WORKER_IDLE_SECS` (default 3600; 0: never): a worker that served no request for this
    /// long sleeps (is stopped, its disk cache kept) until the edge wakes it for the next request.
    pub worker_idle: Option<Duration>,
}

/// Default of `SHOAL_WORKER_IDLE_SECS`: an hour.
pub const DEFAULT_WORKER_IDLE_SECS: u64 = 3600;

/// `SHOAL_WORKER_IDLE_SECS` as read by `lookup`: `None` for 0 (never sleep).
fn worker_idle_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Duration>, Error> {
    let secs = match lookup("SHOAL_WORKER_IDLE_SECS") {
        None => DEFAULT_WORKER_IDLE_SECS,
        Some(v) => v.trim().parse().map_err(|_| {
            Error::Config(format!(
                "SHOAL_WORKER_IDLE_SECS must be a whole number of seconds (0: workers never sleep), got {v:?}"
            ))
        })?,
    };
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

/// `SHOAL_SCHEDULER`: `process` (default), `kubernetes`, or `off` (a replica that only serves the
/// web UI and edge).
#[derive(Debug, Clone)]
pub enum SchedulerConfig {
    Off,
    Process,
    Kubernetes(Arc<KubernetesConfig>),
}

/// The `kubernetes` backend's settings (`SHOAL_K8S_*`): what every tenant's objects are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesConfig {
    /// `SHOAL_K8S_NAMESPACE_PREFIX` (default `shoal-t-`): tenant namespaces are this followed by 16
    /// hex digits of a hash of the tenant id.
    pub namespace_prefix: String,
    /// `SHOAL_K8S_WORKER_IMAGE` (required): the `shoal-worker` image.
    pub worker_image: String,
    /// `SHOAL_K8S_CONTROL_PLANE_URL` (required): the control plane's internal API as workers in the
    /// cluster reach it, e.g. `http://shoal-control-plane.shoal.svc:8080`.
    pub control_plane_url: Url,
    /// `SHOAL_K8S_EDGE_NAMESPACE` (default `shoal`): where the control plane's pods (the edge and
    /// the internal API) run; workers accept traffic only from them.
    pub edge_namespace: String,
    /// `SHOAL_K8S_EDGE_LABELS` (default `app.kubernetes.io/name=shoal-control-plane`): the labels
    /// selecting those pods, `k=v,k=v`.
    pub edge_labels: Vec<(String, String)>,
    /// `SHOAL_K8S_GITHUB_EGRESS` (required): GitHub's API addresses workers may reach, as CIDRs
    /// (`a.b.c.d/n,...`), or `any` for any address on the API's port.
    pub github_egress: GithubEgress,
    /// The port of `SHOAL_GITHUB_URL` (443 for github.com).
    pub github_port: u16,
    /// `SHOAL_K8S_WORKER_CPU_REQUEST` / `_LIMIT` (default `50m` / `500m`) and
    /// `SHOAL_K8S_WORKER_MEMORY_REQUEST` / `_LIMIT` (default `64Mi` / `256Mi`).
    pub resources: WorkerResources,
    /// `SHOAL_K8S_CACHE_SIZE` (e.g. `1Gi`): when set, each worker keeps its disk cache on a
    /// PersistentVolumeClaim of this size (else on an `emptyDir`, lost when the pod goes).
    pub cache_size: Option<String>,
    /// `SHOAL_K8S_CACHE_STORAGE_CLASS`: the claim's storage class (default: the cluster's).
    pub cache_storage_class: Option<String>,
}

/// Where workers may open connections to GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubEgress {
    /// Any address, on the API's port only.
    Any,
    /// These CIDRs (GitHub publishes its `api` ranges at `https://api.github.com/meta`).
    Cidrs(Vec<String>),
}

/// Requests and limits of a worker container (Kubernetes quantities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerResources {
    pub cpu_request: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub memory_limit: String,
}

impl KubernetesConfig {
    /// Reads `SHOAL_K8S_*` through `lookup`; `github_api` is `SHOAL_GITHUB_URL`.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>, github_api: &Url) -> Result<Self, Error> {
        let required = |name: &str, what: &str| {
            lookup(name).ok_or_else(|| Error::Config(format!("SHOAL_SCHEDULER=kubernetes needs {name}: {what}")))
        };
        let worker_image = required(
            "SHOAL_K8S_WORKER_IMAGE",
            "the shoal-worker image, e.g. ghcr.io/acme/shoal-worker:1.2.3",
        )?
        .trim()
        .to_string();
        let url_text = required(
            "SHOAL_K8S_CONTROL_PLANE_URL",
            "the control plane's internal URL as seen from the cluster, e.g. http://shoal-control-plane.shoal.svc:8080",
        )?;
        let control_plane_url = Url::parse(url_text.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                Error::Config(format!(
                    "SHOAL_K8S_CONTROL_PLANE_URL must be an http(s) URL, got {url_text:?}"
                ))
            })?;
        let egress_text = required(
            "SHOAL_K8S_GITHUB_EGRESS",
            "GitHub's API CIDRs (comma-separated, see https://api.github.com/meta) or `any` for any address on the API's port",
        )?;
        let github_egress = match egress_text.trim() {
            "any" => GithubEgress::Any,
            list => GithubEgress::Cidrs(
                list.split(',')
                    .map(|c| {
                        let c = c.trim();
                        valid_cidr(c).then(|| c.to_string()).ok_or_else(|| {
                            Error::Config(format!("SHOAL_K8S_GITHUB_EGRESS: {c:?} is not a CIDR (like 140.82.112.0/20) and the list is not `any`"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let namespace_prefix = lookup("SHOAL_K8S_NAMESPACE_PREFIX").unwrap_or_else(|| "shoal-t-".into());
        let prefix_ok = namespace_prefix.len() <= 63 - 16
            && namespace_prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && namespace_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !prefix_ok {
            return Err(Error::Config(format!(
                "SHOAL_K8S_NAMESPACE_PREFIX must start with a lowercase letter, hold only a-z, 0-9 and '-', and be at most 47 characters, got {namespace_prefix:?}"
            )));
        }
        let edge_namespace = lookup("SHOAL_K8S_EDGE_NAMESPACE").unwrap_or_else(|| "shoal".into());
        let labels_text =
            lookup("SHOAL_K8S_EDGE_LABELS").unwrap_or_else(|| "app.kubernetes.io/name=shoal-control-plane".into());
        let edge_labels = labels_text
            .split(',')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
                _ => Err(Error::Config(format!(
                    "SHOAL_K8S_EDGE_LABELS must be key=value pairs separated by commas, got {labels_text:?}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let quantity = |name: &str, default: &str| -> Result<String, Error> {
            let v = lookup(name).unwrap_or_else(|| default.into());
            let v = v.trim();
            let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let suffix = &v[digits.len()..];
            let ok = !digits.is_empty()
                && digits.parse::<f64>().is_ok_and(|n| n > 0.0)
                && ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&suffix);
            if ok {
                Ok(v.to_string())
            } else {
                Err(Error::Config(format!(
                    "{name} must be a Kubernetes quantity like {default}, got {v:?}"
                )))
            }
        };
        let resources = WorkerResources {
            cpu_request: quantity("SHOAL_K8S_WORKER_CPU_REQUEST", "50m")?,
            cpu_limit: quantity("SHOAL_K8S_WORKER_CPU_LIMIT", "500m")?,
            memory_request: quantity("SHOAL_K8S_WORKER_MEMORY_REQUEST", "64Mi")?,
            memory_limit: quantity("SHOAL_K8S_WORKER_MEMORY_LIMIT", "256Mi")?,
        };
        let cache_size = match lookup("SHOAL_K8S_CACHE_SIZE") {
            Some(_) => Some(quantity("SHOAL_K8S_CACHE_SIZE", "1Gi")?),
            None => None,
        };
        Ok(Self {
            namespace_prefix,
            worker_image,
            control_plane_url,
            edge_namespace,
            edge_labels,
            github_egress,
            github_port: github_api.port_or_known_default().unwrap_or(443),
            resources,
            cache_size,
            cache_storage_class: lookup("SHOAL_K8S_CACHE_STORAGE_CLASS"),
        })
    }
}

impl KubernetesConfig {
    /// Sample settings (no cache claim): for tests and the rendered objects `make k8s-check`
    /// validates.
    pub fn for_tests() -> Self {
        Self {
            namespace_prefix: "shoal-t-".into(),
            worker_image: "registry.example.com/shoal/shoal-worker:1.0.0".into(),
            control_plane_url: Url::parse("http://shoal-control-plane.shoal.svc:8080").expect("static URL"),
            edge_namespace: "shoal".into(),
            edge_labels: vec![("app.kubernetes.io/name".into(), "shoal-control-plane".into())],
            github_egress: GithubEgress::Cidrs(vec!["140.82.112.0/20".into()]),
            github_port: 443,
            resources: WorkerResources {
                cpu_request: "50m".into(),
                cpu_limit: "500m".into(),
                memory_request: "64Mi".into(),
                memory_limit: "256Mi".into(),
            },
            cache_size: None,
            cache_storage_class: None,
        }
    }
}

/// `a.b.c.d/n` or an IPv6 address with a prefix length.
fn valid_cidr(text: &str) -> bool {
    let Some((addr, len)) = text.split_once('/') else {
        return false;
    };
    match (addr.parse::<std::net::IpAddr>(), len.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(n)) => n <= 32,
        (Ok(std::net::IpAddr::V6(_)), Ok(n)) => n <= 128,
        _ => false,
    }
}

impl EdgeConfig {
    fn from_env(github_api: &Url) -> Result<Self, Error> {
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
            None | Some("process") => SchedulerConfig::Process,
            Some("off") => SchedulerConfig::Off,
            Some("kubernetes") => {
                SchedulerConfig::Kubernetes(Arc::new(KubernetesConfig::from_lookup(env, github_api)?))
            }
            Some(v) => {
                return Err(Error::Config(format!(
                    "SHOAL_SCHEDULER must be `process`, `kubernetes` or `off`, got {v:?}"
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
            worker_idle: worker_idle_from(env)?,
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
            scheduler: SchedulerConfig::Off,
            worker_idle: None,
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
    /// `SHOAL_BILLING_GRACE_DAYS`: how long a `past_due` tenant is still served (default 7).
    pub grace: time::Duration,
    /// `SHOAL_FREE_READS_PER_MONTH`: replaces the free plan's monthly allowance (tests and trials);
    /// unset: the plans table's.
    pub free_reads_per_month: Option<u64>,
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
            grace: time::Duration::days(DEFAULT_GRACE_DAYS),
            free_reads_per_month: None,
            meter_event_name: "shoal_reads".into(),
            meter_every: Duration::from_secs(60),
        }
    }
}

const STRIPE_API_BASE: &str = "https://api.stripe.com";
const DEFAULT_GRACE_DAYS: i64 = 7;
/// Longest grace period accepted: a year.
const MAX_GRACE_DAYS: u64 = 366;

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
        Self::from_lookup(env)
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let stripe_secret_key = secret_from("SHOAL_STRIPE_SECRET_KEY", &lookup)?;
        let stripe_webhook_secret = secret_from("SHOAL_STRIPE_WEBHOOK_SECRET", &lookup)?;
        if stripe_secret_key.is_some() && stripe_webhook_secret.is_none() {
            return Err(Error::Config(
                "SHOAL_STRIPE_SECRET_KEY is set but SHOAL_STRIPE_WEBHOOK_SECRET is not: plan changes arrive by Stripe's webhooks; set it (or SHOAL_STRIPE_WEBHOOK_SECRET_FILE)".into(),
            ));
        }
        let grace_days = match lookup("SHOAL_BILLING_GRACE_DAYS") {
            None => DEFAULT_GRACE_DAYS as u64,
            Some(v) => v.trim().parse().ok().filter(|d| *d <= MAX_GRACE_DAYS).ok_or_else(|| {
                Error::Config(format!(
                    "SHOAL_BILLING_GRACE_DAYS must be a whole number of days from 0 to {MAX_GRACE_DAYS}, got {v:?}"
                ))
            })?,
        };
        let free_reads_per_month = match lookup("SHOAL_FREE_READS_PER_MONTH") {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "SHOAL_FREE_READS_PER_MONTH must be a whole number of reads, got {v:?}"
                ))
            })?),
        };
        let meter_every_secs = match lookup("SHOAL_STRIPE_METER_EVERY_SECS") {
            None => 60,
            Some(v) => v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "SHOAL_STRIPE_METER_EVERY_SECS must be a whole number of seconds, got {v:?}"
                ))
            })?,
        };
        Ok(Self {
            stripe_secret_key,
            stripe_webhook_secret,
            stripe_api_base: url_from("SHOAL_STRIPE_API_BASE", STRIPE_API_BASE, &lookup)?,
            grace: time::Duration::days(grace_days as i64),
            free_reads_per_month,
            meter_event_name: lookup("SHOAL_STRIPE_METER_EVENT").unwrap_or_else(|| "shoal_reads".into()),
            meter_every: Duration::from_secs(meter_every_secs.max(1)),
        })
    }
}

/// A secret from `NAME`, or from the file `NAME_FILE` (trimmed); both set is an error. Messages
/// name the variable and the path, never the value.
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
    url_from(name, default, env)
}

fn url_from(name: &str, default: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Url, Error> {
    let text = lookup(name).unwrap_or_else(|| default.to_string());
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
        let edge = EdgeConfig::from_env(&github.api_url)?;
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
            long_poll_recheck: LONG_POLL_RECHECK,
            edge,
            billing: BillingConfig::from_env()?,
            operators: parse_operators(&env("SHOAL_OPERATORS").unwrap_or_default())?,
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
            long_poll_recheck: LONG_POLL_RECHECK,
            edge: EdgeConfig::for_tests(),
            billing: BillingConfig::default(),
            operators: Vec::new(),
        }
    }

    /// Whether `login` runs the hosted service (`SHOAL_OPERATORS`).
    pub fn is_operator(&self, login: &str) -> bool {
        self.operators.iter().any(|o| o.eq_ignore_ascii_case(login))
    }
}

/// `SHOAL_OPERATORS`: GitHub logins separated by commas or spaces.
fn parse_operators(v: &str) -> Result<Vec<String>, Error> {
    v.split([',', ' '])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            if crate::github::is_valid_login(l) {
                Ok(l.to_ascii_lowercase())
            } else {
                Err(Error::Config(format!("SHOAL_OPERATORS: {l:?} is not a GitHub login")))
            }
        })
        .collect()
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
    fn workers_sleep_after_an_hour_by_default_never_with_zero_and_bad_values_are_refused() {
        assert_eq!(worker_idle_from(lookup(&[])).unwrap(), Some(Duration::from_secs(3600)));
        assert_eq!(
            worker_idle_from(lookup(&[("SHOAL_WORKER_IDLE_SECS", " 90 ")])).unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            worker_idle_from(lookup(&[("SHOAL_WORKER_IDLE_SECS", "0")])).unwrap(),
            None
        );
        let msg = worker_idle_from(lookup(&[("SHOAL_WORKER_IDLE_SECS", "1h")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("SHOAL_WORKER_IDLE_SECS"), "{msg}");
    }

    #[test]
    fn grace_days_and_the_free_allowance_come_from_the_environment_with_clear_refusals() {
        let c = BillingConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!((c.grace, c.free_reads_per_month), (time::Duration::days(7), None));
        let c = BillingConfig::from_lookup(lookup(&[
            ("SHOAL_BILLING_GRACE_DAYS", " 3 "),
            ("SHOAL_FREE_READS_PER_MONTH", "5"),
        ]))
        .unwrap();
        assert_eq!((c.grace, c.free_reads_per_month), (time::Duration::days(3), Some(5)));
        for bad in ["-1", "seven", "1.5", "400"] {
            let e = BillingConfig::from_lookup(lookup(&[("SHOAL_BILLING_GRACE_DAYS", bad)])).unwrap_err();
            assert!(
                e.to_string()
                    .contains("SHOAL_BILLING_GRACE_DAYS must be a whole number"),
                "{e}"
            );
        }
        let e = BillingConfig::from_lookup(lookup(&[("SHOAL_FREE_READS_PER_MONTH", "lots")])).unwrap_err();
        assert!(e.to_string().contains("SHOAL_FREE_READS_PER_MONTH"), "{e}");
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

    fn kubernetes(vars: &[(&str, &str)]) -> Result<KubernetesConfig, Error> {
        KubernetesConfig::from_lookup(lookup(vars), &Url::parse("https://api.github.com").unwrap())
    }

    const K8S_REQUIRED: [(&str, &str); 3] = [
        ("SHOAL_K8S_WORKER_IMAGE", "registry.example/shoal-worker:1"),
        (
            "SHOAL_K8S_CONTROL_PLANE_URL",
            "http://shoal-control-plane.shoal.svc:8080",
        ),
        ("SHOAL_K8S_GITHUB_EGRESS", "140.82.112.0/20, 2a0a:a440::/29"),
    ];

    #[test]
    fn kubernetes_scheduler_names_each_missing_key() {
        for missing in K8S_REQUIRED.map(|(k, _)| k) {
            let vars: Vec<_> = K8S_REQUIRED.iter().copied().filter(|(k, _)| *k != missing).collect();
            let msg = kubernetes(&vars).unwrap_err().to_string();
            assert!(
                msg.contains(missing) && msg.contains("SHOAL_SCHEDULER=kubernetes"),
                "{msg}"
            );
        }
        let ok = kubernetes(&K8S_REQUIRED).unwrap();
        assert_eq!(ok.namespace_prefix, "shoal-t-");
        assert_eq!(ok.edge_namespace, "shoal");
        assert_eq!(
            ok.edge_labels,
            vec![("app.kubernetes.io/name".to_string(), "shoal-control-plane".to_string())]
        );
        assert_eq!(
            ok.github_egress,
            GithubEgress::Cidrs(vec!["140.82.112.0/20".into(), "2a0a:a440::/29".into()])
        );
        assert_eq!(ok.github_port, 443);
        assert_eq!(ok.resources.memory_limit, "256Mi");
        assert_eq!(ok.cache_size, None);
    }

    #[test]
    fn kubernetes_settings_refuse_bad_values_with_the_variable_named() {
        for (name, bad) in [
            ("SHOAL_K8S_GITHUB_EGRESS", "140.82.112.0"),
            ("SHOAL_K8S_CONTROL_PLANE_URL", "shoal-control-plane:8080"),
            ("SHOAL_K8S_NAMESPACE_PREFIX", "Shoal_"),
            ("SHOAL_K8S_EDGE_LABELS", "app"),
            ("SHOAL_K8S_WORKER_MEMORY_LIMIT", "lots"),
            ("SHOAL_K8S_CACHE_SIZE", "-1Gi"),
        ] {
            let mut vars: Vec<_> = K8S_REQUIRED.iter().copied().filter(|(k, _)| *k != name).collect();
            vars.push((name, bad));
            let msg = kubernetes(&vars).unwrap_err().to_string();
            assert!(msg.contains(name), "{name}: {msg}");
        }
        let mut vars = K8S_REQUIRED.to_vec();
        vars.retain(|(k, _)| *k != "SHOAL_K8S_GITHUB_EGRESS");
        vars.extend([("SHOAL_K8S_GITHUB_EGRESS", "any"), ("SHOAL_K8S_CACHE_SIZE", "2Gi")]);
        let any = kubernetes(&vars).unwrap();
        assert_eq!(any.github_egress, GithubEgress::Any);
        assert_eq!(any.cache_size.as_deref(), Some("2Gi"));
    }
}
