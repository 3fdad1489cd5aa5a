//! The scheduler over real `shoal-worker` processes, as `make run` runs it.

use shoal_control_plane::config::Keys;
use shoal_control_plane::scheduler::process::ProcessRuntime;
use shoal_control_plane::scheduler::reconcile::Reconciler;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// The reconciler over `runtime`, every 100 ms; send `true` to stop it, then await it.
pub fn reconcile(
    pool: &PgPool,
    runtime: Arc<ProcessRuntime>,
    keys: Arc<Keys>,
) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(Reconciler::new(pool.clone(), runtime, keys, Duration::from_millis(100)).run(stop_rx));
    (stop, task)
}
