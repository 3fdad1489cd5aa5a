//! The reconciler: every tick, compare what Postgres wants (`workers.desired_state`, the tenant's
//! standing at this tick, so a grace period ends without any event) with what the runtime
//! reports, start or stop workers, and write back what it observed (`observed_state`, `address`,
//! `last_error`, `restarts`). Only the replica holding the advisory lock reconciles; the others
//! wait and take over if its connection goes away.
//!
//! Sleep: with an idle setting, a running worker that served nothing for that long (by its usage
//! reports' `last_served`, or since it started) is marked `sleeping_since` and stopped; it sends
//! its last usage report as it goes and its data dir (the disk cache) is kept. The edge wakes it by
//! clearing the mark and notifying [`WAKE_CHANNEL`]; the reconciling replica listens there (in a
//! task of its own, so a wake never waits for a pass) and starts the worker at once, watching it
//! until it runs instead of waiting for the next tick. A pass works from a snapshot of the rows, so
//! it leaves alone every tenant being woken or woken since its snapshot was taken: that snapshot
//! may still say the tenant sleeps, and acting on it would stop the worker the wake just started.
//!
//! It reads every tenant's worker row, so it runs as the schema owner (outside the tenant-scoped
//! helper): it is the system, not a request on behalf of a tenant.

use super::{DesiredState, ObservedState, WorkerRuntime, WorkerSpec, WorkerState};
use crate::Error;
use crate::billing::Account;
use crate::billing::standing::ACCOUNT_COLS;
use crate::config::{BillingConfig, Keys};
use shoal_common::crypto::{SealedSecret, WrappedDataKey};
use shoal_common::{Secret, TenantId, WorkerId};
use sqlx::pool::PoolConnection;
use sqlx::{FromRow, PgPool, Postgres};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// `pg_try_advisory_lock` key of the scheduler ("shoal" in ASCII).
pub const LOCK_KEY: i64 = 0x73_68_6f_61_6c;
/// The `NOTIFY` channel the edge wakes a sleeping tenant's worker on; the payload is the tenant id.
pub const WAKE_CHANNEL: &str = "shoal_wake";
/// How long a woken worker is watched until it runs; after that the ticks take over.
const WAKE_WITHIN: Duration = Duration::from_secs(10);

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
    observed_state: ObservedState,
    address: Option<String>,
    /// `sleeping_since` is set.
    sleeping: bool,
    /// Served nothing (nor started) within the idle setting.
    idle: bool,
    /// `awake_since` is set.
    awake: bool,
    /// An admin asked for a restart the scheduler has not carried out yet.
    restart_requested_at: Option<time::OffsetDateTime>,
}

impl Row {
    fn serves(&self, billing: &BillingConfig, now: time::OffsetDateTime) -> bool {
        self.desired_state == DesiredState::Running && self.account.standing(billing, now).serves()
    }

    /// Whether the row already records `state` of a running or starting worker (so a steady
    /// worker costs no write per tick).
    fn shows(&self, state: &WorkerState) -> bool {
        let address = match state {
            WorkerState::Running { addr } => Some(addr.to_string()),
            WorkerState::Starting => None,
            _ => return false,
        };
        self.awake && self.observed_state == state.observed() && self.address == address
    }
}

/// What one tick does with a worker.
enum Action {
    Run,
    Sleep,
    Stop,
}

/// What to ask of `workers`; `$1`: the idle setting in seconds, or NULL for never.
fn rows_sql(filter: &str) -> String {
    format!(
        "SELECT w.tenant_id, w.id, t.slug, {ACCOUNT_COLS}, w.desired_state, w.bundle_version,
                w.sealed_secret, t.wrapped_data_key, w.observed_state, w.address,
                w.sleeping_since IS NOT NULL AS sleeping, w.awake_since IS NOT NULL AS awake, w.restart_requested_at,
                COALESCE(GREATEST(w.last_served_at, w.awake_since) < now() - make_interval(secs => $1), false) AS idle
         FROM workers w JOIN tenants t ON t.id = w.tenant_id {filter}"
    )
}

/// Reconciles workers with a runtime while it holds the scheduler lock.
pub struct Reconciler<R> {
    pool: PgPool,
    runtime: Arc<R>,
    keys: Arc<Keys>,
    interval: Duration,
    billing: BillingConfig,
    /// Stop workers idle this long; `None`: never.
    idle: Option<Duration>,
    /// One tick at a time.
    pass: tokio::sync::Mutex<()>,
    /// Wakes by tenant: when the latest began and whether it is still going. A pass whose
    /// snapshot is older than a wake leaves that tenant alone.
    wakes: std::sync::Mutex<HashMap<TenantId, WakeMark>>,
    /// Tenants whose worker is being stopped to sleep: held by that stop, awaited by a wake.
    gates: Arc<Gates>,
}

/// Per tenant, a lock held while its worker is put to sleep.
type GateMap = HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>;
type Gates = std::sync::Mutex<GateMap>;

/// Ends a stop to sleep: a wake waiting for it goes on.
fn open_gate(gates: &Gates, tenant: TenantId, held: tokio::sync::OwnedMutexGuard<()>) {
    gates.lock().unwrap_or_else(|p| p.into_inner()).remove(&tenant);
    drop(held);
}

#[derive(Clone, Copy)]
struct WakeMark {
    began: Instant,
    going: bool,
}

/// One pass's snapshot of the worker rows, taken at `taken`; [`Reconciler::carry_out`] acts on it.
/// It holds the pass lock: one pass at a time.
pub struct Pass<'a> {
    _one_at_a_time: tokio::sync::MutexGuard<'a, ()>,
    rows: Vec<Row>,
    taken: Instant,
}

impl<R: WorkerRuntime> Reconciler<R> {
    pub fn new(pool: PgPool, runtime: Arc<R>, keys: Arc<Keys>, interval: Duration) -> Self {
        Self {
            pool,
            runtime,
            keys,
            interval,
            billing: BillingConfig::default(),
            idle: None,
            pass: tokio::sync::Mutex::new(()),
            wakes: std::sync::Mutex::default(),
            gates: Arc::default(),
        }
    }

    /// Lets a worker that served nothing for `idle` sleep (`SHOAL_WORKER_IDLE_SECS`); `None` or
    /// zero: never.
    pub fn with_idle(mut self, idle: Option<Duration>) -> Self {
        self.idle = idle.filter(|d| !d.is_zero());
        self
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

    /// Runs until `shutdown` resolves: waits for the lock, then reconciles every `interval` and
    /// wakes workers as the edge asks. On shutdown every worker this replica started is stopped.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut lock: Option<PoolConnection<Postgres>> = None;
        let mut wakes: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if lock.is_none() {
                match this.try_lock().await {
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
                    if let Some(w) = wakes.take() {
                        w.abort();
                    }
                } else {
                    // The ticks still start woken workers while nobody listens; listening
                    // resumes here when it stopped.
                    if wakes.as_ref().is_none_or(|w| w.is_finished()) {
                        wakes = Some(tokio::spawn(this.clone().listen_for_wakes()));
                    }
                    if let Err(e) = this.reconcile_once().await {
                        tracing::warn!(error = %e, "reconcile failed");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(this.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        if let Some(w) = wakes.take() {
            w.abort();
        }
        this.runtime.shutdown().await;
        if let Some(mut conn) = lock {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LOCK_KEY)
                .execute(&mut *conn)
                .await;
        }
    }

    /// Listens on [`WAKE_CHANNEL`] and wakes each tenant named there in a task of its own, side by
    /// side with the passes, until the channel fails.
    async fn listen_for_wakes(self: Arc<Self>) {
        let mut listener = match crate::db::listen(&self.pool, WAKE_CHANNEL).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for wakes: sleeping workers start on the next tick");
                return;
            }
        };
        loop {
            match listener.recv().await {
                Ok(n) => {
                    let Ok(tenant) = n.payload().parse().map(TenantId) else {
                        continue;
                    };
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = this.wake(tenant).await {
                            tracing::warn!(tenant.id = %tenant, error = %e, "wake failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the wake channel");
                    return;
                }
            }
        }
    }

    /// Starts a tenant's worker now (the edge cleared its sleep) and watches it until it runs,
    /// recording each new state so the edge sees the address as soon as there is one.
    pub async fn wake(&self, tenant: TenantId) -> Result<WorkerState, Error> {
        self.mark_wake(tenant, true);
        let woken = self.watch_wake(tenant).await;
        self.mark_wake(tenant, false);
        woken
    }

    async fn watch_wake(&self, tenant: TenantId) -> Result<WorkerState, Error> {
        let row: Option<Row> = sqlx::query_as(&rows_sql("WHERE w.tenant_id = $2"))
            .bind(self.idle_secs())
            .bind(tenant.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(WorkerState::Stopped);
        };
        if row.sleeping || !row.serves(&self.billing, time::OffsetDateTime::now_utc()) {
            return Ok(WorkerState::Stopped);
        }
        // Woken while being put to sleep: the old worker must be gone before the new one starts,
        // or the edge would be given the address of a worker about to stop.
        let gate = self.lock_gates().get(&tenant).cloned();
        if let Some(gate) = gate {
            drop(gate.lock().await);
        }
        let spec = self.spec(&row).await?;
        let deadline = Instant::now() + WAKE_WITHIN;
        let mut last = None;
        loop {
            let state = self.runtime.ensure_running(&spec).await;
            if last.as_ref() != Some(&state) {
                self.record(tenant, &state).await?;
            }
            if is_settled(&state) || Instant::now() >= deadline {
                return Ok(state);
            }
            last = Some(state);
            tokio::time::sleep(self.runtime.wake_poll()).await;
        }
    }

    fn lock_gates(&self) -> std::sync::MutexGuard<'_, GateMap> {
        self.gates.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Begins a stop to sleep of `tenant`'s worker: until the guard is given to [`open_gate`], a
    /// wake of the tenant waits.
    fn close_gate(&self, tenant: TenantId) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let held = gate.clone().try_lock_owned().expect("a new lock is free");
        self.lock_gates().insert(tenant, gate);
        held
    }

    fn lock_wakes(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, WakeMark>> {
        self.wakes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a wake of `tenant` begins (`going`) or ended.
    fn mark_wake(&self, tenant: TenantId, going: bool) {
        let mut wakes = self.lock_wakes();
        if going {
            wakes.insert(
                tenant,
                WakeMark {
                    began: Instant::now(),
                    going,
                },
            );
        } else if let Some(m) = wakes.get_mut(&tenant) {
            m.going = false;
        }
    }

    /// Whether a pass whose snapshot was taken at `taken` must leave `tenant` alone: a wake is
    /// going, or began after the snapshot (which may then still say the tenant sleeps).
    fn woken_since(&self, tenant: TenantId, taken: Instant) -> bool {
        self.lock_wakes()
            .get(&tenant)
            .is_some_and(|m| m.going || m.began >= taken)
    }

    fn idle_secs(&self) -> Option<f64> {
        self.idle.map(|d| d.as_secs_f64())
    }

    async fn spec(&self, row: &Row) -> Result<WorkerSpec, Error> {
        Ok(WorkerSpec {
            tenant: TenantId(row.tenant_id),
            worker: WorkerId(row.id),
            slug: row.slug.clone(),
            secret: self.worker_secret(row).await?,
            bundle_version: row.bundle_version,
        })
    }

    /// One pass over every worker row.
    pub async fn reconcile_once(&self) -> Result<(), Error> {
        let pass = self.snapshot().await?;
        self.carry_out(pass).await
    }

    /// Waits for any pass to end, then takes the snapshot a pass acts on.
    pub async fn snapshot(&self) -> Result<Pass<'_>, Error> {
        let guard = self.pass.lock().await;
        let taken = Instant::now();
        // A wake that ended before this snapshot is in it: its mark is done with.
        self.lock_wakes().retain(|_, m| m.going || m.began >= taken);
        let rows: Vec<Row> = sqlx::query_as(&rows_sql(""))
            .bind(self.idle_secs())
            .fetch_all(&self.pool)
            .await?;
        Ok(Pass {
            _one_at_a_time: guard,
            rows,
            taken,
        })
    }

    /// Starts, stops and puts to sleep workers as `pass` found them, except tenants woken since.
    pub async fn carry_out(&self, pass: Pass<'_>) -> Result<(), Error> {
        let Pass { rows, taken, .. } = pass;
        let now = time::OffsetDateTime::now_utc();
        let mut wanted = HashSet::new();
        let mut sleepers = tokio::task::JoinSet::new();
        let mut put_to_sleep = HashSet::new();
        // Skipped as woken: still not to be stopped below once their wake has ended.
        let mut left_alone = HashSet::new();
        let known: HashSet<_> = rows.iter().map(|r| TenantId(r.tenant_id)).collect();
        for row in rows {
            let tenant = TenantId(row.tenant_id);
            let action = match (row.serves(&self.billing, now), row.sleeping) {
                _ if self.woken_since(tenant, taken) => {
                    left_alone.insert(tenant);
                    continue;
                }
                (true, false) if row.idle && row.observed_state == ObservedState::Running => Action::Sleep,
                (true, false) => Action::Run,
                _ => Action::Stop,
            };
            match action {
                Action::Run => {
                    wanted.insert(tenant);
                    let spec = match self.spec(&row).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::error!(tenant.slug = %row.slug, error = %e, "cannot prepare the worker secret");
                            continue;
                        }
                    };
                    if let Some(asked) = row.restart_requested_at {
                        self.restart(tenant, &row.slug, asked).await?;
                    }
                    let state = self.runtime.ensure_running(&spec).await;
                    if !row.shows(&state) {
                        self.record(tenant, &state).await?;
                    }
                }
                Action::Sleep => {
                    // Closed before the row says asleep, so a wake that follows finds it.
                    let stopping = self.close_gate(tenant);
                    if self.mark_sleeping(tenant).await? {
                        put_to_sleep.insert(tenant);
                        let (runtime, pool, slug) = (self.runtime.clone(), self.pool.clone(), row.slug.clone());
                        let gates = self.gates.clone();
                        // The stops run side by side; the tick waits for them, a wake only for its own.
                        sleepers.spawn(async move {
                            runtime.stop(tenant).await;
                            tracing::info!(tenant.slug = %slug, "idle worker put to sleep");
                            crate::metrics::global().slept();
                            let recorded = record_asleep(&pool, tenant).await;
                            open_gate(&gates, tenant, stopping);
                            recorded
                        });
                    } else {
                        open_gate(&self.gates, tenant, stopping);
                    }
                }
                Action::Stop => {
                    self.runtime.stop(tenant).await;
                    // A sleeping or stopped worker's row is left alone: nothing to write each tick.
                    if row.observed_state != ObservedState::Stopped || row.address.is_some() {
                        self.record(tenant, &WorkerState::Stopped).await?;
                    }
                }
            }
        }
        while let Some(done) = sleepers.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "could not record a sleeping worker");
            }
        }
        for tenant in self.runtime.tenants().await {
            if !known.contains(&tenant) {
                self.runtime.remove(tenant).await;
            } else if !wanted.contains(&tenant)
                && !put_to_sleep.contains(&tenant)
                && !left_alone.contains(&tenant)
                && !self.woken_since(tenant, taken)
            {
                self.runtime.stop(tenant).await;
            }
        }
        Ok(())
    }

    /// Marks an idle worker asleep before it is stopped, so the edge holds (and wakes it for) the
    /// requests that arrive meanwhile instead of answering 503. `false`: someone else got there.
    async fn mark_sleeping(&self, tenant: TenantId) -> Result<bool, Error> {
        let marked = sqlx::query(
            "UPDATE workers SET sleeping_since = now(), updated_at = now()
             WHERE tenant_id = $1 AND sleeping_since IS NULL",
        )
        .bind(tenant.as_uuid())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(marked == 1)
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
        // `awake_since` starts the idle clock of each run of the worker.
        sqlx::query(
            "UPDATE workers SET observed_state = $2, address = $3,
                    last_error = COALESCE($4, last_error), restarts = COALESCE($5, restarts),
                    awake_since = CASE WHEN $6 THEN NULL ELSE COALESCE(awake_since, now()) END,
                    updated_at = now()
             WHERE tenant_id = $1
               AND ((observed_state, address, last_error, restarts) IS DISTINCT FROM ($2, $3, COALESCE($4, last_error), COALESCE($5, restarts))
                    OR (awake_since IS NULL) <> $6)",
        )
        .bind(tenant.as_uuid())
        .bind(state.observed())
        .bind(addr)
        .bind(last_error)
        .bind(restarts)
        .bind(*state == WorkerState::Stopped)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A state a wake stops watching at.
fn is_settled(state: &WorkerState) -> bool {
    matches!(state, WorkerState::Running { .. } | WorkerState::Failed { .. })
}

/// Records a stopped sleeper, unless it was woken meanwhile (then the wake records its state).
async fn record_asleep(pool: &PgPool, tenant: TenantId) -> Result<(), Error> {
    sqlx::query(
        "UPDATE workers SET observed_state = 'stopped', address = NULL, awake_since = NULL, updated_at = now()
         WHERE tenant_id = $1 AND sleeping_since IS NOT NULL",
    )
    .bind(tenant.as_uuid())
    .execute(pool)
    .await?;
    Ok(())
}
