//! Talking to the API server: server-side apply of a tenant's objects (field manager `shoal`,
//! forced, so the backend owns every field it sets), scaling the worker's Deployment, deleting a
//! tenant's namespace and listing the namespaces the backend owns.

use super::objects::{MANAGED_BY, TENANT_LABEL, TenantObjects, WORKER, owned_selector};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shoal_common::TenantId;
use std::fmt::Debug;

/// The field manager of everything the backend writes.
pub const FIELD_MANAGER: &str = "shoal";

/// Applies every object of a tenant, namespace first and Deployment last, and returns the Service
/// and Deployment as the API server stored them.
pub async fn apply_tenant(
    client: &Client,
    ns: &str,
    objects: &TenantObjects,
) -> Result<(Service, Deployment), kube::Error> {
    apply(&Api::<Namespace>::all(client.clone()), &objects.namespace).await?;
    apply(&Api::<Secret>::namespaced(client.clone(), ns), &objects.secret).await?;
    if let Some(cache) = &objects.cache {
        apply(&Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns), cache).await?;
    }
    let service = apply(&Api::<Service>::namespaced(client.clone(), ns), &objects.service).await?;
    apply(
        &Api::<NetworkPolicy>::namespaced(client.clone(), ns),
        &objects.network_policy,
    )
    .await?;
    let deployment = apply(&Api::<Deployment>::namespaced(client.clone(), ns), &objects.deployment).await?;
    Ok((service, deployment))
}

async fn apply<K>(api: &Api<K>, object: &K) -> Result<K, kube::Error>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = object.meta().name.as_deref().unwrap_or_default();
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
}

/// The worker's Deployment as stored.
pub async fn get_worker(client: &Client, ns: &str) -> Result<Deployment, kube::Error> {
    Api::<Deployment>::namespaced(client.clone(), ns).get(WORKER).await
}

/// Sets the worker's replica count through the Deployment's scale subresource. `Ok(false)`: the
/// tenant has no Deployment (nothing to scale).
pub async fn scale_worker(client: &Client, ns: &str, replicas: i32) -> Result<bool, kube::Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let patch = Patch::Merge(serde_json::json!({ "spec": { "replicas": replicas } }));
    let scaled = Api::<Deployment>::namespaced(client.clone(), ns)
        .patch_scale(WORKER, &params, &patch)
        .await;
    absent_is_ok(scaled.map(|_| true), false)
}

/// Deletes a tenant's namespace and so everything in it. `Ok(false)`: it was already gone.
pub async fn delete_namespace(client: &Client, ns: &str) -> Result<bool, kube::Error> {
    let deleted = Api::<Namespace>::all(client.clone())
        .delete(ns, &DeleteParams::default())
        .await;
    absent_is_ok(deleted.map(|_| true), false)
}

/// The tenants owning a namespace labelled as the backend's.
pub async fn list_tenants(client: &Client) -> Result<Vec<TenantId>, kube::Error> {
    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default().labels(&owned_selector()))
        .await?;
    Ok(namespaces
        .items
        .iter()
        .filter_map(|ns| {
            let labels = ns.metadata.labels.as_ref()?;
            if labels.get(MANAGED_BY.0).map(String::as_str) != Some(MANAGED_BY.1) {
                return None;
            }
            labels.get(TENANT_LABEL)?.parse().ok().map(TenantId)
        })
        .collect())
}

/// A 404 from the API server means the object is not there: `absent` instead of an error.
fn absent_is_ok<T>(result: Result<T, kube::Error>, absent: T) -> Result<T, kube::Error> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(absent),
        other => other,
    }
}
