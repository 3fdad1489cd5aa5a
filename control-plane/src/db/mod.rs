//! The control-plane database: connecting, migrating, the tenant-scoped transaction helper every
//! tenant-owned query goes through, the change notifications that wake the workers' long polls, and
//! the embedded Postgres for `make run`.

pub mod changes;
pub mod embedded;
mod tenant_tx;

pub use tenant_tx::{TenantTx, begin_tenant, enter_tenant};

use crate::Error;
use sqlx::postgres::PgPoolOptions;

/// Every migration under `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connections per control-plane process. Three are held for good (the reconciler's advisory lock,
/// the wake and the change listeners); opened only when needed.
const POOL_SIZE: u32 = 16;

/// A connection of its own from `pool`'s settings, listening on `channel` (`LISTEN`).
pub async fn listen(pool: &sqlx::PgPool, channel: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut l = sqlx::postgres::PgListener::connect_with(pool).await?;
    l.listen(channel).await?;
    Ok(l)
}

/// Connects and applies pending migrations.
pub async fn connect_and_migrate(url: &str) -> Result<sqlx::PgPool, Error> {
    let pool = PgPoolOptions::new().max_connections(POOL_SIZE).connect(url).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Checks the database answers (the health check).
pub async fn ping(pool: &sqlx::PgPool) -> Result<(), Error> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// Whether a database error is a unique-constraint violation (a taken slug, say).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}
