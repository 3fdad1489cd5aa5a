//! The kubernetes backend against a mocked API server (kube's documented way: a
//! `tower_test::mock::pair` behind `kube::Client::new`): every request's method, path, query
//! (`fieldManager=shoal`, `force=true`), content type and body is asserted, and the exact number of
//! requests, because the mock's handle sees the end of the stream once the runtime is dropped.

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use shoal_common::namespace::tenant_namespace;
use shoal_common::{Secret, TenantId, WorkerId};
use shoal_control_plane::config::KubernetesConfig;
use shoal_control_plane::scheduler::kubernetes::KubernetesRuntime;
use shoal_control_plane::scheduler::kubernetes::status::observe;
use shoal_control_plane::scheduler::reconcile::Reconciler;
use shoal_control_plane::scheduler::{WorkerRuntime, WorkerSpec, WorkerState};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const CLUSTER_IP: &str = "10.96.0.42";

fn config(cache: bool) -> KubernetesConfig {
    KubernetesConfig {
        cache_size: cache.then(|| "1Gi".into()),
        cache_storage_class: cache.then(|| "fast".into()),
        ..KubernetesConfig::for_tests()
    }
}

fn spec() -> WorkerSpec {
    WorkerSpec {
        tenant: TenantId(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001)),
        worker: WorkerId(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0002)),
        slug: "acme".into(),
        secret: Secret::new("worker-secret-value"),
        bundle_version: 1,
    }
}

/// One request the runtime made.
#[derive(Debug)]
struct Call {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    content_type: String,
    body: Value,
}

/// The other end of the runtime's client: takes its requests in order and answers them.
struct ApiServer(tower_test::mock::Handle<Request<Body>, Response<Body>>);

impl ApiServer {
    async fn next(&mut self, status: u16, answer: impl FnOnce(&Call) -> Value) -> Call {
        let (req, send) = self
            .0
            .next_request()
            .await
            .expect("the runtime made no further request");
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let call = Call {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query,
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            },
        };
        let reply = serde_json::to_vec(&answer(&call)).unwrap();
        send.send_response(Response::builder().status(status).body(Body::from(reply)).unwrap());
        call
    }

    /// Expects a server-side apply of `path` as field manager `shoal`, forced, and answers with the
    /// applied object as the API server stores it (`stored` adds what the server sets).
    async fn apply(&mut self, path: &str, stored: impl FnOnce(&mut Value)) -> Value {
        let call = self
            .next(200, |c| {
                let mut obj = c.body.clone();
                stored(&mut obj);
                obj
            })
            .await;
        assert_eq!((&call.method, call.path.as_str()), (&Method::PATCH, path));
        assert_eq!(
            call.query,
            BTreeMap::from([("fieldManager".into(), "shoal".into()), ("force".into(), "true".into())]),
            "{path}"
        );
        assert_eq!(call.content_type, "application/apply-patch+yaml", "{path}");
        call.body
    }

    /// Expects a full apply of the tenant's objects and returns their bodies by kind.
    async fn apply_tenant(&mut self, ns: &str, cache: bool) -> BTreeMap<String, Value> {
        let mut applied = BTreeMap::new();
        let mut paths = vec![
            format!("/api/v1/namespaces/{ns}"),
            format!("/api/v1/namespaces/{ns}/secrets/shoal-worker"),
        ];
        if cache {
            paths.push(format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/shoal-cache"));
        }
        paths.extend([
            format!("/api/v1/namespaces/{ns}/services/shoal-worker"),
            format!("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/shoal-worker"),
            format!("/apis/apps/v1/namespaces/{ns}/deployments/shoal-worker"),
        ]);
        for path in paths {
            let body = self
                .apply(&path, |obj| match obj["kind"].as_str() {
                    Some("Service") => obj["spec"]["clusterIP"] = json!(CLUSTER_IP),
                    Some("Deployment") => obj["metadata"]["generation"] = json!(1),
                    _ => {}
                })
                .await;
            applied.insert(body["kind"].as_str().unwrap().to_string(), body);
        }
        applied
    }

    /// Expects a scale of the worker's Deployment to `replicas` through its scale subresource.
    async fn scale(&mut self, ns: &str, replicas: i32) {
        let call = self
            .next(200, |c| {
                json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                       "metadata": {"name": "shoal-worker", "namespace": ns},
                       "spec": c.body["spec"], "status": {"replicas": 1}})
            })
            .await;
        assert_eq!(
            (&call.method, call.path.as_str()),
            (
                &Method::PATCH,
                format!("/apis/apps/v1/namespaces/{ns}/deployments/shoal-worker/scale").as_str()
            )
        );
        assert_eq!(call.query, BTreeMap::from([("fieldManager".into(), "shoal".into())]));
        assert_eq!(call.content_type, "application/merge-patch+json");
        assert_eq!(call.body, json!({"spec": {"replicas": replicas}}));
    }

    /// Expects the list of the backend's namespaces and answers with those of `tenants`.
    async fn list_namespaces(&mut self, tenants: &[TenantId]) {
        let call = self
            .next(200, |_| {
                let items: Vec<_> = tenants
                    .iter()
                    .map(|t| {
                        json!({"metadata": {"name": tenant_namespace(*t), "labels": {
                            "app.kubernetes.io/managed-by": "shoal", "shoal.dev/tenant-id": t.to_string()}}})
                    })
                    .collect();
                json!({"apiVersion": "v1", "kind": "NamespaceList", "metadata": {}, "items": items})
            })
            .await;
        assert_eq!((&call.method, call.path.as_str()), (&Method::GET, "/api/v1/namespaces"));
        assert_eq!(
            call.query.get("labelSelector").map(String::as_str),
            Some("app.kubernetes.io/managed-by=shoal,shoal.dev/tenant-id")
        );
    }

    /// Expects the deletion of namespace `ns`.
    async fn delete_namespace(&mut self, ns: &str) {
        let call = self
            .next(200, |_| {
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "status": {"phase": "Terminating"}})
            })
            .await;
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&Method::DELETE, format!("/api/v1/namespaces/{ns}").as_str())
        );
    }

    /// Drops the runtime and proves it made no request beyond those answered.
    async fn no_more_requests(mut self, runtime: impl Sized) {
        drop(runtime);
        let next = tokio::time::timeout(Duration::from_secs(10), self.0.next_request())
            .await
            .expect("the client shut down");
        assert!(
            next.is_none(),
            "unexpected request {:?}",
            next.map(|(r, _)| r.uri().clone())
        );
    }
}

fn runtime(config: KubernetesConfig) -> (KubernetesRuntime, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    (KubernetesRuntime::new(client, Arc::new(config)), ApiServer(handle))
}

/// Runs the runtime's side and the API server's side together, failing rather than hanging.
async fn both<A, B>(runtime_side: impl Future<Output = A>, server_side: impl Future<Output = B>) -> (A, B) {
    tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(runtime_side, server_side)
    })
    .await
    .expect("the runtime and the API server finished")
}

fn available(generation: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "shoal-worker", "generation": generation},
           "spec": {"replicas": 1, "selector": {}, "template": {}},
           "status": {"observedGeneration": generation, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                      "conditions": [{"type": "Available", "status": "True"}]}})
}

#[tokio::test]
async fn a_tenant_gets_exactly_these_objects_applied_server_side_as_shoal() {
    let spec = spec();
    let ns = tenant_namespace(spec.tenant);
    assert!(
        ns.starts_with("shoal-t-") && ns.len() == 24 && !ns.contains("acme"),
        "{ns}"
    );
    let tenant = spec.tenant.to_string();
    let owner = json!({"app.kubernetes.io/managed-by": "shoal", "shoal.dev/tenant-id": tenant});
    let pod = json!({"app.kubernetes.io/managed-by": "shoal", "shoal.dev/tenant-id": tenant,
                     "app.kubernetes.io/name": "shoal-worker"});
    let meta = |name: &str| json!({"name": name, "namespace": ns, "labels": owner});
    let (rt, mut api) = runtime(config(true));

    let (state, applied) = both(rt.ensure_running(&spec), api.apply_tenant(&ns, true)).await;

    assert_eq!(state, WorkerState::Starting, "no pod is available yet");
    assert_eq!(
        applied["Namespace"],
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
            "app.kubernetes.io/managed-by": "shoal", "shoal.dev/tenant-id": tenant,
            "pod-security.kubernetes.io/enforce": "restricted"}}})
    );
    assert_eq!(
        applied["Secret"],
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("shoal-worker"), "type": "Opaque",
               "data": {"worker-secret": "d29ya2VyLXNlY3JldC12YWx1ZQ=="}})
    );
    assert_eq!(
        applied["PersistentVolumeClaim"],
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("shoal-cache"),
               "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                        "resources": {"requests": {"storage": "1Gi"}}}})
    );
    assert_eq!(
        applied["Service"],
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("shoal-worker"),
               "spec": {"type": "ClusterIP", "selector": pod,
                        "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "targetPort": "http"}]}})
    );
    let control_plane = json!({
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shoal"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "shoal-control-plane"}}});
    assert_eq!(
        applied["NetworkPolicy"],
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("shoal-worker"),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [control_plane], "ports": [{"protocol": "TCP", "port": 8080}]}],
            "egress": [
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"to": [control_plane], "ports": [{"protocol": "TCP", "port": 8080}]},
                {"to": [{"ipBlock": {"cidr": "140.82.112.0/20"}}], "ports": [{"protocol": "TCP", "port": 443}]}
            ]}})
    );
    let probe = |period: i64| json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": period});
    assert_eq!(
        applied["Deployment"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("shoal-worker"),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": pod},
            "template": {
                "metadata": {"labels": pod},
                "spec": {
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "terminationGracePeriodSeconds": 10,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                                        "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "shoal-cache"}}],
                    "containers": [{
                        "name": "worker",
                        "image": "registry.example.com/shoal/shoal-worker:1.0.0",
                        "args": ["--control-plane", "http://shoal-control-plane.shoal.svc:8080",
                                 "--worker-id", spec.worker.to_string(),
                                 "--listen", "0.0.0.0:8080", "--data-dir", "/data"],
                        "env": [
                            {"name": "SHOAL_WORKER_SECRET",
                             "valueFrom": {"secretKeyRef": {"name": "shoal-worker", "key": "worker-secret"}}},
                            {"name": "SHOAL_LOG_FORMAT", "value": "json"}
                        ],
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"cpu": "500m", "memory": "256Mi"}},
                        "livenessProbe": probe(10),
                        "readinessProbe": probe(2),
                        "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true,
                                            "allowPrivilegeEscalation": false, "privileged": false,
                                            "capabilities": {"drop": ["ALL"]},
                                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                    }]
                }
            }
        }})
    );
    api.no_more_requests(rt).await;
}

#[tokio::test]
async fn without_a_cache_size_there_is_no_claim_and_the_data_dir_is_an_empty_dir() {
    let spec = spec();
    let ns = tenant_namespace(spec.tenant);
    let (rt, mut api) = runtime(config(false));
    let (_, applied) = both(rt.ensure_running(&spec), api.apply_tenant(&ns, false)).await;
    assert!(!applied.contains_key("PersistentVolumeClaim"));
    assert_eq!(
        applied["Deployment"]["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "emptyDir": {}}])
    );
    api.no_more_requests(rt).await;
}

#[tokio::test]
async fn a_steady_tenant_costs_one_read_per_tick_and_runs_at_its_service_address() {
    let spec = spec();
    let ns = tenant_namespace(spec.tenant);
    let (rt, mut api) = runtime(config(true));
    both(rt.ensure_running(&spec), api.apply_tenant(&ns, true)).await;

    for _ in 0..2 {
        let (state, call) = both(rt.ensure_running(&spec), api.next(200, |_| available(1))).await;
        assert_eq!(
            (call.method, call.path),
            (
                Method::GET,
                format!("/apis/apps/v1/namespaces/{ns}/deployments/shoal-worker")
            )
        );
        assert_eq!(
            state,
            WorkerState::Running {
                addr: format!("{CLUSTER_IP}:8080").parse().unwrap()
            }
        );
    }
    api.no_more_requests(rt).await;
}

#[tokio::test]
async fn a_worker_scaled_to_zero_behind_our_back_is_applied_again_on_the_next_pass() {
    let spec = spec();
    let ns = tenant_namespace(spec.tenant);
    let (rt, mut api) = runtime(config(false));
    both(rt.ensure_running(&spec), api.apply_tenant(&ns, false)).await;
    let mut scaled_down = available(2);
    scaled_down["spec"]["replicas"] = json!(0);
    let (state, _) = both(rt.ensure_running(&spec), api.next(200, |_| scaled_down)).await;
    assert_eq!(state, WorkerState::Stopped);
    let (_, applied) = both(rt.ensure_running(&spec), api.apply_tenant(&ns, false)).await;
    assert_eq!(applied["Deployment"]["spec"]["replicas"], json!(1));
    api.no_more_requests(rt).await;
}

#[tokio::test]
async fn re_applying_sends_identical_objects_and_a_new_secret_is_applied_again() {
    let spec = spec();
    let ns = tenant_namespace(spec.tenant);
    // A new replica (an empty memory of what was applied) applies everything again, identically.
    let (first, mut api1) = runtime(config(true));
    let (_, once) = both(first.ensure_running(&spec), api1.apply_tenant(&ns, true)).await;
    let (second, mut api2) = runtime(config(true));
    let (_, again) = both(second.ensure_running(&spec), api2.apply_tenant(&ns, true)).await;
    assert_eq!(once, again);

    let rotated = WorkerSpec {
        secret: Secret::new("rotated"),
        ..spec.clone()
    };
    let (_, after) = both(second.ensure_running(&rotated), api2.apply_tenant(&ns, true)).await;
    assert_eq!(after["Secret"]["data"]["worker-secret"], json!("cm90YXRlZA=="));
    assert_eq!(after["Deployment"], once["Deployment"]);
    api1.no_more_requests(first).await;
    api2.no_more_requests(second).await;
}

#[tokio::test]
async fn stop_scales_to_zero_once_and_ensure_running_scales_back_to_one() {
    let spec = spec();
    let ns = tenant_namespace(spec.tenant);
    let (rt, mut api) = runtime(config(true));
    both(rt.ensure_running(&spec), api.apply_tenant(&ns, true)).await;

    both(rt.stop(spec.tenant), api.scale(&ns, 0)).await;
    // Already at zero: the next ticks' stops cost nothing.
    rt.stop(spec.tenant).await;
    rt.stop(spec.tenant).await;

    // Woken with nothing changed: only the scale goes back to one.
    let (state, ()) = both(rt.ensure_running(&spec), api.scale(&ns, 1)).await;
    assert_eq!(state, WorkerState::Starting);
    let (state, _) = both(rt.ensure_running(&spec), api.next(200, |_| available(1))).await;
    assert_eq!(
        state,
        WorkerState::Running {
            addr: format!("{CLUSTER_IP}:8080").parse().unwrap()
        }
    );
    api.no_more_requests(rt).await;
}

#[tokio::test]
async fn a_tenant_woken_with_changed_objects_is_applied_again_with_one_replica() {
    let spec = spec();
    let ns = tenant_namespace(spec.tenant);
    let (rt, mut api) = runtime(config(true));
    both(rt.ensure_running(&spec), api.apply_tenant(&ns, true)).await;
    both(rt.stop(spec.tenant), api.scale(&ns, 0)).await;

    let rotated = WorkerSpec {
        secret: Secret::new("rotated"),
        ..spec.clone()
    };
    let (state, applied) = both(rt.ensure_running(&rotated), api.apply_tenant(&ns, true)).await;
    assert_eq!(applied["Deployment"]["spec"]["replicas"], json!(1));
    assert_eq!(state, WorkerState::Starting);
    api.no_more_requests(rt).await;
}

#[tokio::test]
async fn stopping_a_tenant_without_a_deployment_is_not_an_error() {
    let tenant = spec().tenant;
    let ns = tenant_namespace(tenant);
    let (rt, mut api) = runtime(config(false));
    let not_found = |_: &Call| {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
               "message": "deployments.apps \"shoal-worker\" not found"})
    };
    let (scaled, call) = both(rt.scale(tenant, 0), api.next(404, not_found)).await;
    assert!(!scaled.unwrap());
    assert_eq!(
        call.path,
        format!("/apis/apps/v1/namespaces/{ns}/deployments/shoal-worker/scale")
    );
    api.no_more_requests(rt).await;
}

#[tokio::test]
async fn an_api_error_is_reported_by_its_reason_and_the_next_tick_applies_again() {
    let spec = spec();
    let ns = tenant_namespace(spec.tenant);
    let (rt, mut api) = runtime(config(false));
    let forbidden = |_: &Call| {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
               "message": "namespaces is forbidden: User \"system:serviceaccount:shoal:shoal\" cannot patch resource"})
    };
    let (state, _) = both(rt.ensure_running(&spec), api.next(403, forbidden)).await;
    let WorkerState::BackingOff {
        last_error,
        restarts: 0,
    } = state
    else {
        panic!("expected a backoff, got {state:?}");
    };
    assert_eq!(
        last_error, "the cluster gave Forbidden when starting the worker; the operator's logs have the details",
        "tenants see the API's reason, not its message"
    );
    both(rt.ensure_running(&spec), api.apply_tenant(&ns, false)).await;
    api.no_more_requests(rt).await;
}

#[tokio::test]
async fn removing_a_tenant_deletes_its_namespace_and_tenants_are_listed_by_owner_label() {
    let a = spec().tenant;
    let b = TenantId::new();
    let (rt, mut api) = runtime(config(false));
    let (mut listed, ()) = both(rt.tenants(), api.list_namespaces(&[a, b])).await;
    listed.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(listed, expected);

    both(rt.remove(b), api.delete_namespace(&tenant_namespace(b))).await;
    // Workers outlive a control-plane replica: shutting down touches nothing.
    rt.shutdown().await;
    api.no_more_requests(rt).await;
}

#[test]
fn observed_state_follows_the_deployments_status_and_conditions() {
    let running_at: std::net::SocketAddr = format!("{CLUSTER_IP}:8080").parse().unwrap();
    let addr = Some(running_at);
    let deployment = |v: Value| serde_json::from_value(v).unwrap();
    assert_eq!(
        observe(&deployment(available(3)), addr),
        WorkerState::Running { addr: running_at }
    );
    let mut stale = available(3);
    stale["status"]["observedGeneration"] = json!(2);
    assert_eq!(
        observe(&deployment(stale), addr),
        WorkerState::Starting,
        "status of an older generation"
    );
    assert_eq!(
        observe(&deployment(available(1)), None),
        WorkerState::Starting,
        "no service address yet"
    );
    let mut unavailable = available(1);
    unavailable["status"]["availableReplicas"] = json!(0);
    assert_eq!(observe(&deployment(unavailable), addr), WorkerState::Starting);

    let mut zero = available(1);
    zero["spec"]["replicas"] = json!(0);
    assert_eq!(observe(&deployment(zero), addr), WorkerState::Stopped);

    let mut deadline = available(1);
    deadline["status"]["availableReplicas"] = json!(0);
    deadline["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"shoal-worker-1\" has timed out progressing."}]);
    assert_eq!(
        observe(&deployment(deadline), addr),
        WorkerState::Failed {
            last_error: "ReplicaSet \"shoal-worker-1\" has timed out progressing.".into(),
            restarts: 0
        }
    );
    let mut quota = available(1);
    quota["status"]["availableReplicas"] = json!(0);
    quota["status"]["conditions"] = json!([{"type": "ReplicaFailure", "status": "True",
        "reason": "FailedCreate", "message": "pods \"shoal-worker-x\" is forbidden: exceeded quota"}]);
    assert_eq!(
        observe(&deployment(quota), addr),
        WorkerState::BackingOff {
            last_error: "pods \"shoal-worker-x\" is forbidden: exceeded quota".into(),
            restarts: 0
        }
    );
}

async fn observed(pool: &PgPool, tenant: TenantId) -> String {
    sqlx::query_scalar("SELECT observed_state FROM workers WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_reconciler_applies_a_tenant_scales_it_to_zero_on_suspension_and_deletes_orphans(pool: PgPool) {
    let keys = Arc::new(shoal_control_plane::config::Keys::generate());
    let admin = crate::support::user(&pool, "alice").await;
    let tenant = crate::support::tenant(&pool, &keys, &admin, "acme", "acme-org")
        .await
        .id;
    let ns = tenant_namespace(tenant);
    let orphan = TenantId::new();
    let (rt, mut api) = runtime(config(false));
    let rt = Arc::new(rt);
    let reconciler = Reconciler::new(pool.clone(), rt.clone(), keys, Duration::from_secs(1));

    let (done, applied) = both(reconciler.reconcile_once(), async {
        let applied = api.apply_tenant(&ns, false).await;
        api.list_namespaces(&[tenant, orphan]).await;
        api.delete_namespace(&tenant_namespace(orphan)).await;
        applied
    })
    .await;
    done.unwrap();
    assert_eq!(
        applied["Namespace"]["metadata"]["labels"]["shoal.dev/tenant-id"],
        json!(tenant.to_string())
    );
    assert_eq!(observed(&pool, tenant).await, "starting");

    sqlx::query("UPDATE tenants SET status = 'suspended' WHERE id = $1")
        .bind(tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let (done, ()) = both(reconciler.reconcile_once(), async {
        api.scale(&ns, 0).await;
        api.list_namespaces(&[tenant]).await;
    })
    .await;
    done.unwrap();
    assert_eq!(observed(&pool, tenant).await, "stopped");
    drop(reconciler);
    api.no_more_requests(rt).await;
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_idle_tenant_sleeps_at_zero_replicas_and_a_wake_scales_it_back_to_one(pool: PgPool) {
    let keys = Arc::new(shoal_control_plane::config::Keys::generate());
    let admin = crate::support::user(&pool, "alice").await;
    let tenant = crate::support::tenant(&pool, &keys, &admin, "acme", "acme-org")
        .await
        .id;
    let ns = tenant_namespace(tenant);
    let (rt, mut api) = runtime(config(false));
    let rt = Arc::new(rt);
    let reconciler = Reconciler::new(pool.clone(), rt.clone(), keys, Duration::from_secs(1))
        .with_idle(Some(Duration::from_secs(3600)));

    let (done, _) = both(reconciler.reconcile_once(), async {
        api.apply_tenant(&ns, false).await;
        api.list_namespaces(&[tenant]).await;
    })
    .await;
    done.unwrap();
    let (done, _) = both(reconciler.reconcile_once(), async {
        api.next(200, |_| available(1)).await;
        api.list_namespaces(&[tenant]).await;
    })
    .await;
    done.unwrap();
    assert_eq!(observed(&pool, tenant).await, "running");

    // Served nothing for two hours (by its usage reports and since it started).
    sqlx::query(
        "UPDATE workers SET last_served_at = now() - interval '2 hours', awake_since = now() - interval '2 hours'
         WHERE tenant_id = $1",
    )
    .bind(tenant.as_uuid())
    .execute(&pool)
    .await
    .unwrap();
    let (done, ()) = both(reconciler.reconcile_once(), async {
        api.scale(&ns, 0).await;
        api.list_namespaces(&[tenant]).await;
    })
    .await;
    done.unwrap();
    assert_eq!(observed(&pool, tenant).await, "stopped");
    let sleeping: bool = sqlx::query_scalar("SELECT sleeping_since IS NOT NULL FROM workers WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(sleeping);
    // Asleep, a tick costs only the namespace list.
    let (done, ()) = both(reconciler.reconcile_once(), api.list_namespaces(&[tenant])).await;
    done.unwrap();

    // What the edge does for the next request: clear the sleep, then the scheduler wakes it.
    sqlx::query("UPDATE workers SET sleeping_since = NULL, woken_at = now(), wakes = wakes + 1 WHERE tenant_id = $1")
        .bind(tenant.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let (state, ()) = both(reconciler.wake(tenant), async {
        api.scale(&ns, 1).await;
        api.next(200, |_| available(1)).await;
    })
    .await;
    assert_eq!(
        state.unwrap(),
        WorkerState::Running {
            addr: format!("{CLUSTER_IP}:8080").parse().unwrap()
        }
    );
    assert_eq!(observed(&pool, tenant).await, "running");
    drop(reconciler);
    api.no_more_requests(rt).await;
}
