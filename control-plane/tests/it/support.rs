//! Fixtures shared by the test modules: users, tenants and keys on a per-test database.

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
