//! People who signed in with GitHub. Users are not tenant-owned: one person can belong to many
//! tenants.

use crate::Error;
use crate::github::GithubUser;
use serde::{Deserialize, Serialize};
use shoal_common::UserId;
use sqlx::PgPool;

/// A signed-in person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Our id.
    pub id: UserId,
    /// GitHub's account id.
    pub github_id: i64,
    /// GitHub login.
    pub login: String,
    /// Display name.
    pub name: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: uuid::Uuid,
    github_id: i64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: UserId(r.id),
            github_id: r.github_id,
            login: r.login,
            name: r.name,
            avatar_url: r.avatar_url,
        }
    }
}

/// Creates the user on first sign-in, refreshes login/name/avatar afterwards (keyed by GitHub's
/// id, since logins can be renamed).
pub async fn upsert_user(pool: &PgPool, gh: &GithubUser) -> Result<User, Error> {
    let row: UserRow = sqlx::query_as(
        "INSERT INTO users (id, github_id, login, name, avatar_url, last_login_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (github_id) DO UPDATE
           SET login = EXCLUDED.login, name = EXCLUDED.name, avatar_url = EXCLUDED.avatar_url,
               last_login_at = now()
         RETURNING id, github_id, login, name, avatar_url",
    )
    .bind(UserId::new().as_uuid())
    .bind(gh.id)
    .bind(&gh.login)
    .bind(&gh.name)
    .bind(&gh.avatar_url)
    .fetch_one(pool)
    .await?;
    Ok(row.into())
}

/// A user by id.
pub async fn find_user(pool: &PgPool, id: UserId) -> Result<Option<User>, Error> {
    let row: Option<UserRow> = sqlx::query_as("SELECT id, github_id, login, name, avatar_url FROM users WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Into::into))
}
