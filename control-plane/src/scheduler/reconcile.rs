//! The reconciler: every tick, compare what Postgres wants (`workers.desired_state`, the tenant's
//! standing at this tick, so a grace period ends without any event) with what the runtime
//! reports, start or stop workers, and write back what it observed (`observed_state`, `address`,
//! `last_error`, `restarts`). Only the replica holding the advisory lock reconciles; the others
//! wait and take over if its connection goes away.
//!
//! It reads every tenant's worker row, so it runs as the schema owner (outside the tenant-scoped
//! helper): it is the system, not a request on behalf of a tenant.

use super::{DesiredState, WorkerRuntime, WorkerSpec, WorkerState};
use crate::Error;
use crate::billing::Account;
use crate::billing::standing::ACCOUNT_COLS;
use crate::config::{BillingConfig, Keys};
use shoal_common::crypto::{SealedSecret, WrappedDataKey};
use shoal_common::{Secret, TenantId, WorkerId};
use sqlx::pool::PoolConnection;
use sqlx::{FromRow, PgPool, Postgres};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// `pg_try_advisory_lock` key of the scheduler ("shoal" in ASCII).
pub const LOCK_KEY: i64 = 0x73_68_6f_61_6c;

#[derive(FromRow)]
struct Row {
    tenant_id: Uuid,
    id: Uuid,
    slug: String,
    #[sqlx(flatten)]
    account: Account,
    desired_state: DesiredState,
    bundle_version: i64,
    sealed_secret: Option<Vec<u8>>,
    wrapped_data_key: Vec<u8>,
    restart_requested_at: Option<time::OffsetDateTime>,
}

/// Reconciles workers with a runtime while it holds the scheduler lock.
pub struct Reconciler<R> {
    pool: PgPool,
    runtime: Arc<R>,
    keys: Arc<Keys>,
    interval: Duration,
    billing: BillingConfig,
}

impl<R: WorkerRuntime> Reconciler<R> {
    pub fn new(pool: PgPool, runtime: Arc<R>, keys: Arc<Keys>, interval: Duration) -> Self {
        Self {
            pool,
            runtime,
            keys,
            interval,
            billing: BillingConfig::default(),
        }
    }

    /// Applies billing standing (subscription status, grace period) besides the operator's
    /// status; without it, as with billing off, only `tenants.status` stops a worker.
    pub fn with_billing(mut self, billing: BillingConfig) -> Self {
        self.billing = billing;
        self
    }

    /// Tries to become the reconciling replica; the lock lives as long as the returned connection.
    pub async fn try_lock(&self) -> Result<Option<PoolConnection<Postgres>>, Error> {
        let mut conn = self.pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut *conn)
            .await?;
        if got {
            Ok(Some(conn))
        } else {
            // Do not hand a connection back to the pool with anything pending on it.
            Ok(None)
        }
    }

    /// Runs until `shutdown` resolves: waits for the lock, then reconciles every `interval`.
    /// On shutdown every worker this replica started is stopped.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut lock: Option<PoolConnection<Postgres>> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if lock.is_none() {
                match self.try_lock().await {
                    Ok(Some(conn)) => {
                        tracing::info!("this replica reconciles workers");
                        lock = Some(conn);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "could not try the scheduler lock"),
                }
            }
            if let Some(conn) = lock.as_mut() {
                // A dead lock connection means the lock is gone too: another replica may hold it now.
                if sqlx::query("SELECT 1").execute(&mut **conn).await.is_err() {
                    tracing::warn!("lost the scheduler lock connection");
                    lock = None;
                } else if let Err(e) = self.reconcile_once().await {
                    tracing::warn!(error = %e, "reconcile failed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.runtime.shutdown().await;
        if let Some(mut conn) = lock {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK_KEY)
                .execute(&mut *conn)
                .await;
        }
    }

    /// One pass over every worker row.
    pub async fn reconcile_once(&self) -> Result<(), Error> {
        let sql = format!(
            "SELECT w.tenant_id, w.id, t.slug, {ACCOUNT_COLS}, w.desired_state, w.bundle_version,
                    w.sealed_secret, t.wrapped_data_key, w.restart_requested_at
             FROM workers w JOIN tenants t ON t.id = w.tenant_id"
        );
        let rows: Vec<Row> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        let now = time::OffsetDateTime::now_utc();
        let mut wanted = HashSet::new();
        let known: HashSet<_> = rows.iter().map(|r| TenantId(r.tenant_id)).collect();
        for row in rows {
            let tenant = TenantId(row.tenant_id);
            if row.desired_state == DesiredState::Running && row.account.standing(&self.billing, now).serves() {
                wanted.insert(tenant);
                let secret = match self.worker_secret(&row).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(tenant.slug = %row.slug, error = %e, "cannot prepare the worker secret");
                        continue;
                    }
                };
                let spec = WorkerSpec {
                    tenant,
                    worker: WorkerId(row.id),
                    slug: row.slug.clone(),
                    secret,
                    bundle_version: row.bundle_version,
                };
                if let Some(asked) = row.restart_requested_at {
                    self.restart(tenant, &row.slug, asked).await?;
                }
                let state = self.runtime.ensure_running(&spec).await;
                self.record(tenant, &state).await?;
            } else {
                self.runtime.stop(tenant).await;
                self.record(tenant, &WorkerState::Stopped).await?;
            }
        }
        for tenant in self.runtime.tenants().await {
            if !known.contains(&tenant) {
                self.runtime.remove(tenant).await;
            } else if !wanted.contains(&tenant) {
                self.runtime.stop(tenant).await;
            }
        }
        Ok(())
    }

    /// The worker's secret, created and sealed with the tenant's data key on first start.
    async fn worker_secret(&self, row: &Row) -> Result<Secret, Error> {
        let tenant = TenantId(row.tenant_id);
        let data_key = self
            .keys
            .keyring
            .unwrap_key(&WrappedDataKey::from_bytes(row.wrapped_data_key.clone()), tenant)?;
        if let Some(sealed) = &row.sealed_secret {
            return Ok(data_key.open_string(&SealedSecret::from_bytes(sealed.clone()), tenant, row.id)?);
        }
        let secret = shoal_common::token::generate_token()?;
        let sealed = data_key.seal(secret.expose().as_bytes(), tenant, row.id)?;
        sqlx::query("UPDATE workers SET sealed_secret = $2 WHERE tenant_id = $1 AND sealed_secret IS NULL")
            .bind(row.tenant_id)
            .bind(sealed.as_bytes())
            .execute(&self.pool)
            .await?;
        Ok(secret)
    }

    /// Carries out an admin's Restart: stops the worker (the `ensure_running` that follows starts
    /// it again) and clears the marker it saw, counting the restart.
    async fn restart(&self, tenant: TenantId, slug: &str, asked: time::OffsetDateTime) -> Result<(), Error> {
        self.runtime.stop(tenant).await;
        sqlx::query(
            "UPDATE workers SET restart_requested_at = NULL, restarts = restarts + 1
             WHERE tenant_id = $1 AND restart_requested_at = $2",
        )
        .bind(tenant.as_uuid())
        .bind(asked)
        .execute(&self.pool)
        .await?;
        tracing::info!(tenant.slug = %slug, "worker restarted on request");
        Ok(())
    }

    async fn record(&self, tenant: TenantId, state: &WorkerState) -> Result<(), Error> {
        let (addr, last_error, restarts) = match state {
            WorkerState::Running { addr } => (Some(addr.to_string()), None, None),
            WorkerState::BackingOff { last_error, restarts } | WorkerState::Failed { last_error, restarts } => {
                (None, Some(last_error.clone()), Some(*restarts as i32))
            }
            WorkerState::Starting | WorkerState::Stopped => (None, None, None),
        };
        sqlx::query(
            "UPDATE workers SET observed_state = $2, address = $3,
                    last_error = COALESCE($4, last_error), restarts = COALESCE($5, restarts), updated_at = now()
             WHERE tenant_id = $1
               AND (observed_state, address, last_error, restarts) IS DISTINCT FROM ($2, $3, COALESCE($4, last_error), COALESCE($5, restarts))",
        )
        .bind(tenant.as_uuid())
        .bind(state.observed())
        .bind(addr)
        .bind(last_error)
        .bind(restarts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
