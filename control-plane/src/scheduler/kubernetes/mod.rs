//! The `kubernetes` backend: each tenant's worker is a Deployment in its own namespace, with its
//! Secret, Service, NetworkPolicy and (when configured) disk-cache claim, all applied with
//! server-side apply as field manager `shoal`. [`objects`] renders them, [`apply`] talks to the API
//! server, [`status`] reads the worker's state back. Scaling to zero (suspension, and sleeping) and
//! back to one (waking, when nothing else changed) are the backend's two operations on a worker;
//! deleting a tenant deletes its
//! namespace. Workers outlive a control-plane replica: the next one to hold the scheduler lock
//! adopts them.

pub mod apply;
pub mod objects;
pub mod status;

use super::{WorkerRuntime, WorkerSpec, WorkerState};
use crate::config::KubernetesConfig;
use objects::{TenantObjects, namespace_name};
use shoal_common::TenantId;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs tenant workers as Kubernetes Deployments.
pub struct KubernetesRuntime {
    client: kube::Client,
    config: Arc<KubernetesConfig>,
    /// What this replica last did to each tenant's objects, so a steady tenant costs one read per
    /// tick instead of a full re-apply. Lost on restart: the next tick re-applies (idempotently).
    seen: Mutex<HashMap<TenantId, Seen>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Applied with one replica; `rendered` fingerprints the objects applied.
    Applied { rendered: u64, addr: SocketAddr },
    /// Scaled to zero; `applied` is what was applied before (fingerprint and address), so waking
    /// with the same objects only scales back to one.
    ScaledToZero { applied: Option<(u64, SocketAddr)> },
}

impl KubernetesRuntime {
    /// A runtime acting through `client` (in a cluster: `kube::Client::try_default()`).
    pub fn new(client: kube::Client, config: Arc<KubernetesConfig>) -> Self {
        Self {
            client,
            config,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Scales the tenant's worker to `replicas` (0 or 1) without re-applying anything else.
    /// `Ok(false)`: the tenant has no worker Deployment.
    pub async fn scale(&self, tenant: TenantId, replicas: i32) -> Result<bool, kube::Error> {
        let ns = namespace_name(&self.config, tenant);
        let scaled = apply::scale_worker(&self.client, &ns, replicas).await;
        let mut seen = self.seen.lock().expect("seen lock");
        match (&scaled, replicas) {
            (Ok(_), 0) => {
                let applied = match seen.get(&tenant) {
                    Some(Seen::Applied { rendered, addr }) => Some((*rendered, *addr)),
                    Some(Seen::ScaledToZero { applied }) => *applied,
                    None => None,
                };
                seen.insert(tenant, Seen::ScaledToZero { applied })
            }
            _ => seen.remove(&tenant),
        };
        scaled
    }

    /// The address of a worker scaled to zero with exactly these objects applied.
    fn asleep_addr(&self, tenant: TenantId, rendered: u64) -> Option<SocketAddr> {
        match self.seen.lock().expect("seen lock").get(&tenant) {
            Some(Seen::ScaledToZero {
                applied: Some((r, addr)),
            }) if *r == rendered => Some(*addr),
            _ => None,
        }
    }

    fn applied_addr(&self, tenant: TenantId, rendered: u64) -> Option<SocketAddr> {
        match self.seen.lock().expect("seen lock").get(&tenant) {
            Some(Seen::Applied { rendered: r, addr }) if *r == rendered => Some(*addr),
            _ => None,
        }
    }

    async fn bring_up(&self, spec: &WorkerSpec) -> Result<WorkerState, kube::Error> {
        let ns = namespace_name(&self.config, spec.tenant);
        let objects = TenantObjects::render(&self.config, spec, 1);
        let rendered = fingerprint(&objects);
        if let Some(addr) = self.applied_addr(spec.tenant, rendered) {
            let deployment = apply::get_worker(&self.client, &ns).await?;
            let state = status::observe(&deployment, Some(addr));
            if state == WorkerState::Stopped {
                // Scaled to zero behind our back: apply everything again on the next pass.
                self.seen.lock().expect("seen lock").remove(&spec.tenant);
            }
            return Ok(state);
        }
        if let Some(addr) = self.asleep_addr(spec.tenant, rendered)
            && apply::scale_worker(&self.client, &ns, 1).await?
        {
            // Woken with nothing changed: back to one replica, nothing re-applied.
            self.seen
                .lock()
                .expect("seen lock")
                .insert(spec.tenant, Seen::Applied { rendered, addr });
            tracing::info!(tenant.id = %spec.tenant, namespace = %ns, "scaled the worker back to one");
            return Ok(WorkerState::Starting);
        }
        let (service, deployment) = apply::apply_tenant(&self.client, &ns, &objects).await?;
        let addr = status::service_addr(&service);
        if let Some(addr) = addr {
            self.seen
                .lock()
                .expect("seen lock")
                .insert(spec.tenant, Seen::Applied { rendered, addr });
        }
        tracing::info!(tenant.id = %spec.tenant, namespace = %ns, "applied the worker's objects");
        Ok(status::observe(&deployment, addr))
    }
}

/// A fingerprint of the rendered objects (secret included, so a new secret is re-applied).
fn fingerprint(objects: &TenantObjects) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_vec(&(
        &objects.namespace,
        &objects.secret,
        &objects.cache,
        &objects.service,
        &objects.network_policy,
        &objects.deployment,
    ))
    .expect("Kubernetes objects serialize")
    .hash(&mut h);
    h.finish()
}

impl WorkerRuntime for KubernetesRuntime {
    async fn ensure_running(&self, spec: &WorkerSpec) -> WorkerState {
        match self.bring_up(spec).await {
            Ok(state) => state,
            Err(e) => {
                self.seen.lock().expect("seen lock").remove(&spec.tenant);
                tracing::warn!(tenant.id = %spec.tenant, error = %e, "could not apply the worker's objects");
                // Tenants see this on their page: the API's reason, never its message (it names
                // the cluster's service accounts, quotas and namespaces).
                let reason = match &e {
                    kube::Error::Api(status) if !status.reason.is_empty() => status.reason.as_str(),
                    kube::Error::Api(_) => "an error",
                    _ => "no answer",
                };
                WorkerState::BackingOff {
                    last_error: format!(
                        "the cluster gave {reason} when starting the worker; the operator's logs have the details"
                    ),
                    restarts: 0,
                }
            }
        }
    }

    /// Returns once the Deployment is scaled to zero; the pod then gets SIGTERM and its grace
    /// period to send its last usage report.
    async fn stop(&self, tenant: TenantId) {
        if matches!(
            self.seen.lock().expect("seen lock").get(&tenant),
            Some(Seen::ScaledToZero { .. })
        ) {
            return;
        }
        if let Err(e) = self.scale(tenant, 0).await {
            tracing::warn!(tenant.id = %tenant, error = %e, "could not scale the worker to zero");
        }
    }

    async fn remove(&self, tenant: TenantId) {
        let ns = namespace_name(&self.config, tenant);
        match apply::delete_namespace(&self.client, &ns).await {
            Ok(_) => {
                self.seen.lock().expect("seen lock").remove(&tenant);
                tracing::info!(tenant.id = %tenant, namespace = %ns, "deleted the namespace of a tenant that no longer exists");
            }
            Err(e) => tracing::warn!(tenant.id = %tenant, error = %e, "could not delete the tenant's namespace"),
        }
    }

    async fn tenants(&self) -> Vec<TenantId> {
        apply::list_tenants(&self.client).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not list the tenants' namespaces");
            Vec::new()
        })
    }

    /// A pod takes seconds to schedule and start: the API server is not asked every few ms.
    fn wake_poll(&self) -> Duration {
        Duration::from_millis(250)
    }

    async fn shutdown(&self) {}
}
