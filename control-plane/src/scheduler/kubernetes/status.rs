//! What a tenant's worker is doing, read from its Deployment's status and conditions and its
//! Service's cluster address.

use super::objects::WORKER_PORT;
use crate::scheduler::WorkerState;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use std::net::{IpAddr, SocketAddr};

/// Where the edge reaches the worker: its Service's cluster IP and port.
pub fn service_addr(service: &Service) -> Option<SocketAddr> {
    let ip: IpAddr = service.spec.as_ref()?.cluster_ip.as_deref()?.parse().ok()?;
    Some(SocketAddr::new(ip, WORKER_PORT))
}

/// The worker's state from its Deployment: stopped when scaled to zero; failed when its rollout
/// passed the progress deadline; backing off when the ReplicaSet cannot create its pod; running
/// when the current generation has an available pod (and the Service an address); else starting.
pub fn observe(deployment: &Deployment, addr: Option<SocketAddr>) -> WorkerState {
    if deployment.spec.as_ref().and_then(|s| s.replicas) == Some(0) {
        return WorkerState::Stopped;
    }
    let Some(status) = &deployment.status else {
        return WorkerState::Starting;
    };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let condition = |kind: &str, value: &str| conditions.iter().find(|c| c.type_ == kind && c.status == value);
    if let Some(c) =
        condition("Progressing", "False").filter(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    {
        return WorkerState::Failed {
            last_error: c
                .message
                .clone()
                .unwrap_or_else(|| "the worker did not become available before its progress deadline".into()),
            restarts: 0,
        };
    }
    if let Some(c) = condition("ReplicaFailure", "True") {
        return WorkerState::BackingOff {
            last_error: c
                .message
                .clone()
                .unwrap_or_else(|| "the worker's pod could not be created".into()),
            restarts: 0,
        };
    }
    let current = status.observed_generation >= deployment.metadata.generation;
    match addr {
        Some(addr) if current && status.available_replicas.unwrap_or(0) >= 1 => WorkerState::Running { addr },
        _ => WorkerState::Starting,
    }
}
