//! Fixtures shared by the test modules: users, tenants and keys on a per-test database
//! (here), the real server on port 0 and a browser-like client ([`app`]), the server wired to
//! the fake GitHub with signed-in users ([`github`]), and the scheduler over real workers
//! ([`workers`]). Test modules import only from here, never from each other.

pub mod app;
pub mod github;
pub mod workers;

pub use app::{Browser, TestApp, location};
pub use github::{app_against, app_with_github, octo_tenant, sign_in};

use shoal_control_plane::audit::Actor;
use shoal_control_plane::config::Keys;
use shoal_control_plane::github::GithubUser;
use shoal_control_plane::tenants::{self, NewTenant, Plan, Slug, Tenant, VerifiedAdminOrg};
use shoal_control_plane::users::{self, User};
use sqlx::PgPool;
use std::sync::atomic::{AtomicI64, Ordering};

static NEXT_GITHUB_ID: AtomicI64 = AtomicI64::new(1000);

/// A fresh user with a unique GitHub id.
pub async fn user(pool: &PgPool, login: &str) -> User {
    let gh = GithubUser {
        id: NEXT_GITHUB_ID.fetch_add(1, Ordering::Relaxed),
        login: login.into(),
        name: Some(format!("{login} name")),
        avatar_url: None,
    };
    users::upsert_user(pool, &gh).await.unwrap()
}

/// A tenant for `org` created by `admin`.
pub async fn tenant(pool: &PgPool, keys: &Keys, admin: &User, slug: &str, org: &str) -> Tenant {
    tenants::create_tenant(
        pool,
        keys,
        Actor::user(admin.id, None),
        admin.id,
        &VerifiedAdminOrg {
            login: org.into(),
            id: 9000 + slug.len() as i64,
        },
        NewTenant {
            slug: Slug::parse(slug).unwrap(),
            plan: Plan::Free,
        },
    )
    .await
    .unwrap()
}

/// The acting user with no address.
pub fn actor(u: &User) -> Actor {
    Actor::user(u.id, None)
}

/// The public half of [`rsa_pem`] (what the fake GitHub verifies App JWTs with).
pub fn rsa_public_pem() -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["rsa", "-pubout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(rsa_pem().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh RSA private key in PEM (what GitHub hands out for an App), made with the openssl CLI.
pub fn rsa_pem() -> String {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "2048"])
            .stderr(std::process::Stdio::null())
            .output()
            .expect("the openssl CLI (Debian package openssl) makes test RSA keys");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    })
    .clone()
}

/// A workspace binary (`shoal-worker`, `shoal-fake-github`), built beside this test binary by
/// `make test` (cargo nextest builds every binary of the workspace).
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(std::path::Path::parent).unwrap().join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace (cargo build --workspace --bins)",
        bin.display()
    );
    bin
}

/// Polls `f` every 50 ms until it gives a value, failing the test after `secs` seconds.
pub async fn until<T>(secs: u64, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within {secs} s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The page routes of `/t/{slug}/...` (templates), read from their router so a new page is
/// covered by the tests that walk them.
pub fn tenant_page_routes() -> Vec<String> {
    let src = include_str!("../../../src/web/tenant/mod.rs");
    let routes: Vec<String> = src
        .match_indices("\"/t/{slug}")
        .map(|(at, _)| {
            let rest = &src[at + 1..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    assert!(routes.len() >= 25, "found only {routes:?}");
    routes
}

/// Every row `tenant` owns (each table with a `tenant_id`, and its `tenants` row), as text:
/// what a refused request must leave exactly as it was (a token's `last_used_at` aside: using a
/// token to be refused is a use).
pub async fn tenant_rows(pool: &PgPool, tenant: shoal_common::TenantId) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut all = String::new();
    for table in tables {
        let rows: Option<String> = sqlx::query_scalar(&format!(
            "SELECT string_agg((to_jsonb(t) - 'last_used_at')::text, E'\\n' ORDER BY t::text) FROM {table} t WHERE tenant_id = $1"
        ))
        .bind(tenant.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap();
        all.push_str(&format!("{table}:\n{}\n", rows.unwrap_or_default()));
    }
    let row: String = sqlx::query_scalar("SELECT t::text FROM tenants t WHERE id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap();
    all + &row
}
