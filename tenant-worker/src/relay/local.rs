//! Endpoints the worker answers itself: `/healthz`, `/metrics`, `/_shoal/stats` and the pool's
//! `/rate_limit`.

use crate::route::Resource;
use crate::stats::{Gauges, METRICS_CONTENT_TYPE};
use crate::worker::Worker;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Liveness.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /rate_limit` for the pool: per resource, the sum over the pool's accounts.
pub fn rate_limit(w: &Worker) -> Response {
    let mut resources = serde_json::Map::new();
    for r in Resource::ALL {
        let p = w.coord.pool(r);
        resources.insert(
            r.as_str().into(),
            json!({ "limit": p.limit, "remaining": p.remaining, "used": p.used, "reset": p.reset, "resource": r.as_str() }),
        );
    }
    let rate = resources.get("core").cloned().unwrap_or_default();
    let mut resp = Json(json!({ "resources": resources, "rate": rate })).into_response();
    resp.headers_mut()
        .insert("x-shoal-cache", HeaderValue::from_static("BYPASS"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The stats document (also used by tests).
pub fn stats_json(w: &Worker) -> serde_json::Value {
    let spend = w.stats.spend();
    let mut totals = crate::stats::Spend::default();
    let mut by_identity: BTreeMap<_, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for ((id, res), s) in &spend {
        totals.calls += s.calls;
        totals.units += s.units;
        totals.not_modified += s.not_modified;
        totals.refused += s.refused;
        totals.errors += s.errors;
        by_identity
            .entry(*id)
            .or_default()
            .insert(res.as_str().into(), serde_json::to_value(s).unwrap_or_default());
    }
    let identities: Vec<serde_json::Value> = w
        .coord
        .identities()
        .into_iter()
        .map(|v| {
            let upstream = by_identity.remove(&v.id).unwrap_or_default();
            let mut j = serde_json::to_value(&v).unwrap_or_default();
            j["upstream"] = serde_json::Value::Object(upstream);
            j
        })
        .collect();
    let (entries, bytes) = w.fetcher.cache.size();
    json!({
        "bundle_version": w.tenant().bundle_version,
        "requests": w.stats.requests_json(),
        "revalidations": w.stats.revalidations_json(),
        "webhook_events": w.stats.webhook_events(),
        "webhooks_live": w.fetcher.webhooks_live(),
        "policy_module": w.stats.policy_module.json(),
        "upstream": totals,
        "identities": identities,
        "cache": { "entries": entries, "bytes": bytes },
        "in_flight": w.fetcher.flights.len(),
        "pacing": w.coord.pacing(),
    })
}

/// `GET /_shoal/stats` (caller token required).
pub async fn stats(State(w): State<Arc<Worker>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let tenant = w.tenant();
    if let Err(e) = super::auth::authenticate(&tenant, &parts, w.clock.now_ms()) {
        return e.into_response();
    }
    Json(stats_json(&w)).into_response()
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(w): State<Arc<Worker>>) -> Response {
    let tenant = w.tenant();
    let names = |id| {
        tenant
            .identity(id)
            .map(|i| i.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let (entries, bytes) = w.fetcher.cache.size();
    let gauges = Gauges {
        pool_remaining: Resource::ALL.map(|r| w.coord.pool(r).remaining),
        pacing: w.coord.pacing(),
        cache_entries: entries,
        cache_bytes: bytes,
    };
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        w.stats.prometheus(&names, gauges),
    )
        .into_response()
}
