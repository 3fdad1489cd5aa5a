//! The scheduler over real `shoal-worker` processes, as `make run` runs it.

use shoal_common::crypto::DataKey;
use shoal_common::token::{generate_token, hash_token};
use shoal_common::{IdentityId, Secret, TenantId};
use shoal_control_plane::config::{BillingConfig, Keys};
use shoal_control_plane::scheduler::process::{Launcher, ProcessRuntime};
use shoal_control_plane::scheduler::reconcile::Reconciler;
use sqlx::PgPool;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The reconciler over `runtime`, every 100 ms; send `true` to stop it, then await it.
pub fn reconcile(
    pool: &PgPool,
    runtime: Arc<ProcessRuntime>,
    keys: Arc<Keys>,
) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    reconcile_billing(pool, runtime, keys, BillingConfig::default())
}

/// [`reconcile`] applying `billing` standing.
pub fn reconcile_billing(
    pool: &PgPool,
    runtime: Arc<ProcessRuntime>,
    keys: Arc<Keys>,
    billing: BillingConfig,
) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let reconciler = Reconciler::new(pool.clone(), runtime, keys, Duration::from_millis(100)).with_billing(billing);
    let task = tokio::spawn(reconciler.run(stop_rx));
    (stop, task)
}

/// Starts the real `shoal-worker` in scheduled mode against `internal_url`, reporting usage every
/// `usage_every_ms`.
pub fn launcher(internal_url: String, usage_every_ms: u64) -> Launcher {
    let bin = crate::support::workspace_bin("shoal-worker");
    Arc::new(move |spec, data_dir| {
        let mut c = tokio::process::Command::new(&bin);
        c.arg("--control-plane")
            .arg(&internal_url)
            .arg("--worker-id")
            .arg(spec.worker.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--usage-every-ms")
            .arg(usage_every_ms.to_string())
            .env_clear()
            .env("SHOAL_WORKER_SECRET", spec.secret.expose());
        c
    })
}

/// A seeded tenant `acme` (org `octo-org`) with one caller token and one PAT identity.
pub struct Seed {
    pub tenant: TenantId,
    pub token: Secret,
    pub token_id: Uuid,
    pub data_key: DataKey,
}

/// Seeds [`Seed`] with `pat` as its identity.
pub async fn seed(pool: &PgPool, keys: &Keys, pat: &str) -> Seed {
    seed_tenant(pool, keys, "acme", "octo-org", ("alice", 4242), pat).await
}

/// Seeds a tenant `slug` for the org `org` (its only allowed owner) the way [`seed`] does `acme`,
/// its caller token owned by a new user `(login, github id)`.
pub async fn seed_tenant(
    pool: &PgPool,
    keys: &Keys,
    slug: &str,
    org: &str,
    (login, github_id): (&str, i64),
    pat: &str,
) -> Seed {
    let tenant = TenantId::new();
    let dk = DataKey::generate().unwrap();
    let wrapped = keys.keyring.current().wrap(&dk, tenant).unwrap();
    sqlx::query(
        "INSERT INTO tenants (id, slug, github_org, github_org_id, wrapped_data_key) VALUES ($1, $2, $3, 1, $4)",
    )
    .bind(tenant.as_uuid())
    .bind(slug)
    .bind(org)
    .bind(wrapped.as_bytes())
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO workers (tenant_id, id) VALUES ($1, gen_random_uuid())")
        .bind(tenant.as_uuid())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO policies (tenant_id, allowed_owners, public_only) VALUES ($1, ARRAY[$2], false)")
        .bind(tenant.as_uuid())
        .bind(org)
        .execute(pool)
        .await
        .unwrap();
    let user = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, github_id, login) VALUES ($1, $2, $3)")
        .bind(user)
        .bind(github_id)
        .bind(login)
        .execute(pool)
        .await
        .unwrap();
    let token = generate_token().unwrap();
    let token_id = Uuid::new_v4();
    sqlx::query("INSERT INTO caller_tokens (id, tenant_id, user_id, name, token_hash, display_prefix) VALUES ($1, $2, $3, 'laptop', $4, 'shoal_x')")
        .bind(token_id)
        .bind(tenant.as_uuid())
        .bind(user)
        .bind(hash_token(&keys.pepper, token.expose()).as_bytes().to_vec())
        .execute(pool)
        .await
        .unwrap();
    let identity = IdentityId::new();
    let sealed = dk.seal(pat.as_bytes(), tenant, identity.as_uuid()).unwrap();
    sqlx::query("INSERT INTO identities (id, tenant_id, kind, name, sealed_secret) VALUES ($1, $2, 'pat', 'bot', $3)")
        .bind(identity.as_uuid())
        .bind(tenant.as_uuid())
        .bind(sealed.as_bytes())
        .execute(pool)
        .await
        .unwrap();
    Seed {
        tenant,
        token,
        token_id,
        data_key: dk,
    }
}

/// Adds a second PAT identity and bumps the bundle.
pub async fn add_identity(pool: &PgPool, s: &Seed, pat: &str) {
    let identity = IdentityId::new();
    let sealed = s.data_key.seal(pat.as_bytes(), s.tenant, identity.as_uuid()).unwrap();
    sqlx::query(
        "INSERT INTO identities (id, tenant_id, kind, name, sealed_secret) VALUES ($1, $2, 'pat', 'second', $3)",
    )
    .bind(identity.as_uuid())
    .bind(s.tenant.as_uuid())
    .bind(sealed.as_bytes())
    .execute(pool)
    .await
    .unwrap();
    bump(pool, s.tenant).await;
}

/// Bumps the tenant's bundle version.
pub async fn bump(pool: &PgPool, tenant: TenantId) {
    sqlx::query("UPDATE workers SET bundle_version = bundle_version + 1 WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .execute(pool)
        .await
        .unwrap();
}

/// The worker row's observed state and address.
pub async fn worker_state(pool: &PgPool, tenant: TenantId) -> (String, Option<String>) {
    sqlx::query_as("SELECT observed_state, address FROM workers WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap()
}

/// What curl got through the edge.
pub struct Answer {
    pub status: String,
    /// `X-Shoal-Cache`, upper-cased; empty when absent.
    pub cache: String,
    /// `retry-after`, when sent.
    pub retry_after: Option<u64>,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// curl through the edge (real TLS, the dev CA) as the caller `token`.
pub fn curl_answer(ca: &Path, port: u16, token: &str, path: &str) -> Answer {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-D",
            "/dev/stderr",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("acme.localhost:{port}:127.0.0.1"))
        .arg("-H")
        .arg(format!("Authorization: token {token}"))
        .arg(format!("https://acme.localhost:{port}{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    let headers = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    let header = |name: &str| {
        headers
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    Answer {
        status: status.to_string(),
        cache: header("x-shoal-cache:").unwrap_or_default().to_ascii_uppercase(),
        retry_after: header("retry-after:").and_then(|v| v.parse().ok()),
        body: body.to_string(),
    }
}

/// curl through the edge; returns (status, X-Shoal-Cache).
pub fn curl(ca: &Path, port: u16, token: &str, path: &str) -> (String, String) {
    let a = curl_answer(ca, port, token, path);
    (a.status, a.cache)
}
