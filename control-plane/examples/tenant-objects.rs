//! Prints the objects the kubernetes backend applies for one sample tenant (a persistent cache
//! configured), as YAML documents: what `make k8s-check` validates against Kubernetes' schemas.

use shoal_common::{Secret, TenantId, WorkerId};
use shoal_control_plane::config::{GithubEgress, KubernetesConfig};
use shoal_control_plane::scheduler::WorkerSpec;
use shoal_control_plane::scheduler::kubernetes::objects::TenantObjects;

fn main() -> anyhow::Result<()> {
    let config = KubernetesConfig {
        github_egress: GithubEgress::Cidrs(vec!["140.82.112.0/20".into(), "2a0a:a440::/29".into()]),
        cache_size: Some("1Gi".into()),
        cache_storage_class: Some("standard".into()),
        ..KubernetesConfig::for_tests()
    };
    let spec = WorkerSpec {
        tenant: TenantId::new(),
        worker: WorkerId::new(),
        slug: "sample".into(),
        secret: Secret::new("sample-worker-secret"),
        bundle_version: 1,
    };
    let o = TenantObjects::render(&config, &spec, 1);
    let docs = [
        serde_json::to_string_pretty(&o.namespace)?,
        serde_json::to_string_pretty(&o.secret)?,
        serde_json::to_string_pretty(&o.cache)?,
        serde_json::to_string_pretty(&o.service)?,
        serde_json::to_string_pretty(&o.network_policy)?,
        serde_json::to_string_pretty(&o.deployment)?,
    ];
    // JSON is YAML: one document per object.
    println!("{}", docs.join("\n---\n"));
    Ok(())
}
