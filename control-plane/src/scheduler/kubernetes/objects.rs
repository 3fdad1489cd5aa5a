//! The objects one tenant's worker is made of, rendered from the tenant, its worker and the
//! backend's settings: a Namespace, a Secret, a Deployment, a Service, a NetworkPolicy and, when a
//! cache size is configured, a PersistentVolumeClaim. Names inside the namespace are fixed; the
//! namespace's name comes from a hash of the tenant id, never from user input. Every object carries
//! the owner labels, so a sweep can find what no tenant owns.

use crate::config::{GithubEgress, KubernetesConfig};
use crate::scheduler::WorkerSpec;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, Namespace,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, Secret, SecretKeySelector, SecurityContext, Service,
    ServicePort, ServiceSpec, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use shoal_common::TenantId;
use shoal_common::namespace::tenant_namespace_hash;
use std::collections::BTreeMap;

/// `app.kubernetes.io/managed-by` on everything the backend creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "shoal");
/// The label holding the owning tenant's id.
pub const TENANT_LABEL: &str = "shoal.dev/tenant-id";
/// The name of the Secret, Deployment, Service and NetworkPolicy in a tenant's namespace.
pub const WORKER: &str = "shoal-worker";
/// The name of the disk cache's claim.
pub const CACHE_CLAIM: &str = "shoal-cache";
/// The key of the worker secret in the Secret.
pub const SECRET_KEY: &str = "worker-secret";
/// The port workers listen on, and their Service's.
pub const WORKER_PORT: u16 = 8080;
/// Where the data dir (the disk cache) is mounted.
const DATA_DIR: &str = "/data";
/// The unprivileged user and group the worker runs as (the image's, too).
const WORKER_UID: i64 = 65532;

/// The tenant's namespace: the configured prefix and 16 hex digits of a hash of its id.
pub fn namespace_name(config: &KubernetesConfig, tenant: TenantId) -> String {
    format!("{}{}", config.namespace_prefix, tenant_namespace_hash(tenant))
}

/// The label selector that lists every namespace the backend owns.
pub fn owned_selector() -> String {
    format!("{}={},{TENANT_LABEL}", MANAGED_BY.0, MANAGED_BY.1)
}

/// Everything applied for one tenant, in the order it is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantObjects {
    pub namespace: Namespace,
    pub secret: Secret,
    pub cache: Option<PersistentVolumeClaim>,
    pub service: Service,
    pub network_policy: NetworkPolicy,
    pub deployment: Deployment,
}

impl TenantObjects {
    /// Renders the tenant's objects with its worker scaled to `replicas`.
    pub fn render(config: &KubernetesConfig, spec: &WorkerSpec, replicas: i32) -> Self {
        let ns = namespace_name(config, spec.tenant);
        let owner = owner_labels(spec.tenant);
        let meta = |name: &str| ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.clone()),
            labels: Some(owner.clone()),
            ..ObjectMeta::default()
        };
        let mut ns_labels = owner.clone();
        // Our pods meet the `restricted` Pod Security Standard; the namespace refuses anything less.
        ns_labels.insert("pod-security.kubernetes.io/enforce".into(), "restricted".into());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                labels: Some(ns_labels),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let secret = Secret {
            metadata: meta(WORKER),
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([(
                SECRET_KEY.into(),
                ByteString(spec.secret.expose().as_bytes().to_vec()),
            )])),
            ..Secret::default()
        };
        let cache = config.cache_size.as_ref().map(|size| PersistentVolumeClaim {
            metadata: meta(CACHE_CLAIM),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: config.cache_storage_class.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".into(), Quantity(size.clone()))])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        });
        let service = Service {
            metadata: meta(WORKER),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                selector: Some(pod_labels(spec.tenant)),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    protocol: Some("TCP".into()),
                    port: WORKER_PORT.into(),
                    target_port: Some(IntOrString::String("http".into())),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        let network_policy = NetworkPolicy {
            metadata: meta(WORKER),
            spec: Some(network_policy_spec(config)),
        };
        let deployment = Deployment {
            metadata: meta(WORKER),
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                // One worker per tenant, ever: the old pod goes before the new one starts (it also
                // holds the ReadWriteOnce cache claim).
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..DeploymentStrategy::default()
                }),
                selector: LabelSelector {
                    match_labels: Some(pod_labels(spec.tenant)),
                    ..LabelSelector::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(pod_labels(spec.tenant)),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(pod_spec(config, spec)),
                },
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        };
        Self {
            namespace,
            secret,
            cache,
            service,
            network_policy,
            deployment,
        }
    }
}

/// The owner labels every object carries.
fn owner_labels(tenant: TenantId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.into(), MANAGED_BY.1.into()),
        (TENANT_LABEL.into(), tenant.to_string()),
    ])
}

/// The owner labels and the component's name: what the Deployment selects and the Service targets.
fn pod_labels(tenant: TenantId) -> BTreeMap<String, String> {
    let mut labels = owner_labels(tenant);
    labels.insert("app.kubernetes.io/name".into(), WORKER.into());
    labels
}

fn pod_spec(config: &KubernetesConfig, spec: &WorkerSpec) -> PodSpec {
    let quantities = |cpu: &str, memory: &str| {
        Some(BTreeMap::from([
            ("cpu".into(), Quantity(cpu.into())),
            ("memory".into(), Quantity(memory.into())),
        ]))
    };
    let r = &config.resources;
    let health = |period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        ..Probe::default()
    };
    let data_volume = match config.cache_size {
        Some(_) => Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: CACHE_CLAIM.into(),
                ..PersistentVolumeClaimVolumeSource::default()
            }),
            ..Volume::default()
        },
        None => Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    };
    let container = Container {
        name: "worker".into(),
        image: Some(config.worker_image.clone()),
        args: Some(vec![
            "--control-plane".into(),
            config.control_plane_url.as_str().trim_end_matches('/').into(),
            "--worker-id".into(),
            spec.worker.to_string(),
            "--listen".into(),
            format!("0.0.0.0:{WORKER_PORT}"),
            "--data-dir".into(),
            DATA_DIR.into(),
        ]),
        env: Some(vec![
            EnvVar {
                name: "SHOAL_WORKER_SECRET".into(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: WORKER.into(),
                        key: SECRET_KEY.into(),
                        ..SecretKeySelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
            EnvVar {
                name: shoal_common::telemetry::FORMAT_VAR.into(),
                value: Some("json".into()),
                ..EnvVar::default()
            },
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: WORKER_PORT.into(),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: quantities(&r.cpu_request, &r.memory_request),
            limits: quantities(&r.cpu_limit, &r.memory_limit),
            ..ResourceRequirements::default()
        }),
        liveness_probe: Some(health(10)),
        readiness_probe: Some(health(2)),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(runtime_default()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: DATA_DIR.into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    PodSpec {
        containers: vec![container],
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        // The worker sends its last usage report within 4 s of SIGTERM.
        termination_grace_period_seconds: Some(10),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(WORKER_UID),
            run_as_group: Some(WORKER_UID),
            fs_group: Some(WORKER_UID),
            seccomp_profile: Some(runtime_default()),
            ..PodSecurityContext::default()
        }),
        volumes: Some(vec![data_volume]),
        ..PodSpec::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

/// Ingress only from the edge to the worker's port; egress only to the cluster's DNS, the control
/// plane's internal API and GitHub's API.
fn network_policy_spec(config: &KubernetesConfig) -> NetworkPolicySpec {
    let port = |protocol: &str, port: u16| NetworkPolicyPort {
        protocol: Some(protocol.into()),
        port: Some(IntOrString::Int(port.into())),
        ..NetworkPolicyPort::default()
    };
    let in_namespace = |namespace: &str, pods: BTreeMap<String, String>| NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".into(),
                namespace.into(),
            )])),
            ..LabelSelector::default()
        }),
        pod_selector: Some(LabelSelector {
            match_labels: Some(pods),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    };
    let edge = || in_namespace(&config.edge_namespace, config.edge_labels.iter().cloned().collect());
    let dns = in_namespace(
        "kube-system",
        BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]),
    );
    let control_plane_port = config.control_plane_url.port_or_known_default().unwrap_or(80);
    let cidrs = match &config.github_egress {
        GithubEgress::Any => vec!["0.0.0.0/0".to_string(), "::/0".to_string()],
        GithubEgress::Cidrs(list) => list.clone(),
    };
    let github = cidrs
        .into_iter()
        .map(|cidr| NetworkPolicyPeer {
            ip_block: Some(IPBlock { cidr, except: None }),
            ..NetworkPolicyPeer::default()
        })
        .collect();
    NetworkPolicySpec {
        pod_selector: Some(LabelSelector::default()),
        policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
        ingress: Some(vec![NetworkPolicyIngressRule {
            from: Some(vec![edge()]),
            ports: Some(vec![port("TCP", WORKER_PORT)]),
        }]),
        egress: Some(vec![
            NetworkPolicyEgressRule {
                to: Some(vec![dns]),
                ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
            },
            NetworkPolicyEgressRule {
                to: Some(vec![edge()]),
                ports: Some(vec![port("TCP", control_plane_port)]),
            },
            NetworkPolicyEgressRule {
                to: Some(github),
                ports: Some(vec![port("TCP", config.github_port)]),
            },
        ]),
    }
}
