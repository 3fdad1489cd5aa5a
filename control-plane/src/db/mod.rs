//! The control-plane database: connecting, migrating, and the embedded Postgres for `make run`.

pub mod embedded;

use crate::Error;
use sqlx::postgres::PgPoolOptions;

/// Every migration under `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connects and applies pending migrations.
pub async fn connect_and_migrate(url: &str) -> Result<sqlx::PgPool, Error> {
    let pool = PgPoolOptions::new().max_connections(10).connect(url).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}
