//! Keeping one worker per active tenant running. [`WorkerRuntime`] is what a backend does (the
//! `process` backend runs children on loopback ports; the `kubernetes` backend applies a
//! Deployment per tenant); [`reconcile`] compares what Postgres wants with what the runtime reports, under a
//! Postgres advisory lock so only one control-plane replica acts at a time. It also lets idle
//! workers sleep (stopped, data kept) and starts a sleeping one at once when the edge asks.

pub mod kubernetes;
pub mod process;
pub mod reconcile;

use shoal_common::{Secret, TenantId, WorkerId};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// What a worker needs to start.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub tenant: TenantId,
    pub worker: WorkerId,
    pub slug: String,
    /// Signs the worker's internal API requests. Given to the worker only through its environment.
    pub secret: Secret,
    pub bundle_version: i64,
}

/// What the control plane wants of a tenant's worker (`workers.desired_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum DesiredState {
    /// Keep it running.
    Running,
    /// Keep it stopped.
    Stopped,
}

/// What the scheduler last saw of a tenant's worker (`workers.observed_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ObservedState {
    /// Not looked at yet.
    Pending,
    /// Spawned, or waiting out its restart backoff.
    Starting,
    /// Listening.
    Running,
    /// Not running, as wanted.
    Stopped,
    /// Exited too often; left stopped.
    Failed,
}

impl DesiredState {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            DesiredState::Running => "running",
            DesiredState::Stopped => "stopped",
        }
    }
}

impl ObservedState {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ObservedState::Pending => "pending",
            ObservedState::Starting => "starting",
            ObservedState::Running => "running",
            ObservedState::Stopped => "stopped",
            ObservedState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for DesiredState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for ObservedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime observes of one tenant's worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    /// Spawned; not yet listening.
    Starting,
    Running {
        addr: SocketAddr,
    },
    /// Exited; it will be started again once its backoff has passed.
    BackingOff {
        last_error: String,
        restarts: u32,
    },
    /// Exited too often in a short time; left stopped until it is stopped and started again.
    Failed {
        last_error: String,
        restarts: u32,
    },
    Stopped,
}

impl WorkerState {
    /// What is recorded in `workers.observed_state`.
    pub fn observed(&self) -> ObservedState {
        match self {
            WorkerState::Starting | WorkerState::BackingOff { .. } => ObservedState::Starting,
            WorkerState::Running { .. } => ObservedState::Running,
            WorkerState::Failed { .. } => ObservedState::Failed,
            WorkerState::Stopped => ObservedState::Stopped,
        }
    }
}

/// A backend that runs tenant workers.
pub trait WorkerRuntime: Send + Sync + 'static {
    /// Starts the worker if it is not running (respecting its restart backoff) and says how it is.
    fn ensure_running(&self, spec: &WorkerSpec) -> impl Future<Output = WorkerState> + Send;
    /// Stops the worker, if there is one, and waits for it to exit.
    fn stop(&self, tenant: TenantId) -> impl Future<Output = ()> + Send;
    /// Tenants this runtime currently has a worker (or a restart pending) for.
    fn tenants(&self) -> impl Future<Output = Vec<TenantId>> + Send;
    /// Removes what the runtime keeps for a tenant that no longer exists; by default, stops it.
    fn remove(&self, tenant: TenantId) -> impl Future<Output = ()> + Send {
        self.stop(tenant)
    }
    /// How often a worker being woken is looked at until it runs (a wake is waited on, not
    /// left to the next tick).
    fn wake_poll(&self) -> Duration {
        Duration::from_millis(5)
    }
    /// Called when this replica stops reconciling; by default stops every worker (children do not
    /// outlive their parent).
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        async move {
            for tenant in self.tenants().await {
                self.stop(tenant).await;
            }
        }
    }
}
