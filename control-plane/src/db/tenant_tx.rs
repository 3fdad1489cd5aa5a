//! The one way to reach tenant-owned rows: a transaction that has switched to the `shoal_app`
//! role (so row-level security applies even to a superuser connection) and set `shoal.tenant_id`
//! (which every policy filters on). A query that forgets its `WHERE tenant_id = ...` still sees
//! only this tenant's rows.

use crate::Error;
use shoal_common::TenantId;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::ops::{Deref, DerefMut};

/// A transaction scoped to one tenant. Dropping it without [`TenantTx::commit`] rolls back.
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant: TenantId,
}

/// Begins a transaction scoped to `tenant`.
pub async fn begin_tenant(pool: &PgPool, tenant: TenantId) -> Result<TenantTx, Error> {
    enter_tenant(pool.begin().await?, tenant).await
}

/// Scopes an already-open transaction to `tenant` (creating a tenant inserts its row first, then
/// everything it owns through the scoped transaction, atomically).
pub async fn enter_tenant(mut tx: Transaction<'static, Postgres>, tenant: TenantId) -> Result<TenantTx, Error> {
    sqlx::query("SET LOCAL ROLE shoal_app").execute(&mut *tx).await?;
    sqlx::query("SELECT set_config('shoal.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(TenantTx { tx, tenant })
}

impl TenantTx {
    /// The tenant this transaction sees.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(Error::from)
    }
}

impl Deref for TenantTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for TenantTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
