//! An admin's controls over the tenant's worker: [`request_restart`] leaves a marker
//! (`workers.restart_requested_at`) that the scheduler's reconciler carries out on its next tick
//! (it stops the worker, starts it again and clears the marker), so whichever replica holds the
//! scheduler lock does it.

use crate::Error;
use crate::access::TenantAdmin;
use crate::audit;
use crate::state::AppState;

/// Asks the scheduler to restart the tenant's worker; audited as `worker.restart`.
pub async fn request_restart(state: &AppState, admin: &TenantAdmin) -> Result<String, Error> {
    let mut tx = admin.begin(state).await?;
    let marked = sqlx::query(
        "UPDATE workers SET restart_requested_at = now() WHERE tenant_id = $1 AND desired_state = 'running'",
    )
    .bind(admin.tenant.id.as_uuid())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if marked == 0 {
        return Err(Error::Conflict(
            "the worker is stopped (the tenant is suspended); it cannot be restarted".into(),
        ));
    }
    audit::record(
        &mut tx,
        admin.into(),
        "worker.restart",
        &admin.tenant.slug,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.slug = %admin.tenant.slug, "worker restart requested");
    Ok("Restart requested: the scheduler restarts the worker within a few seconds.".into())
}
