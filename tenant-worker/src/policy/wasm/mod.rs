//! The tenant's WebAssembly policy module in the worker: loaded from the bundle (compiled once
//! per content hash, see [`TenantModule::load`]), given a request's [`facts`], and its decision
//! or failure turned into the relay's answer ([`decide`]) and counted ([`report`]). The host
//! itself (engine, limits, imports) is `shoal_common::policy`, shared with the control plane,
//! which validates uploads with it.
//!
//! Calls run inline on the request's task: a well-behaved module costs a few microseconds (see
//! the throughput bench's policy row), and a long one yields to the runtime every
//! `FUEL_YIELD_INTERVAL` units of fuel, so it never holds a runtime thread from other requests.

pub mod facts;
pub mod report;

use crate::error::Error;
use base64::Engine as _;
use shoal_common::policy::{Decision, Facts, Program};
use shoal_common::protocol::{OnFailure, PolicyModule};
use std::sync::Arc;

/// The module in force for a tenant.
pub struct TenantModule {
    pub program: Arc<Program>,
    pub on_failure: OnFailure,
}

impl TenantModule {
    /// Compiles the bundle's module, or reuses `previous`'s program when the hash is the same.
    pub fn load(m: &PolicyModule, previous: Option<&TenantModule>) -> Result<Self, Error> {
        let program = match previous {
            Some(p) if p.program.sha256() == m.sha256 => p.program.clone(),
            _ => {
                let binary = base64::engine::general_purpose::STANDARD
                    .decode(&m.wasm_base64)
                    .map_err(|_| Error::Config("the policy module is not base64".into()))?;
                let program =
                    Program::from_binary(&binary).map_err(|e| Error::Config(format!("policy module: {e}")))?;
                if program.sha256() != m.sha256 {
                    return Err(Error::Config("the policy module does not match its sha256".into()));
                }
                Arc::new(program)
            }
        };
        Ok(Self {
            program,
            on_failure: m.on_failure,
        })
    }
}

/// Runs the tenant's module, if any, on a request: `Ok(None)` to serve as the relay would,
/// `Ok(Some(ttl))` to serve with the module's TTL in seconds, or the refusal to answer with. A
/// failed call is decided by the tenant's failure setting.
pub async fn decide(
    module: Option<&TenantModule>,
    report: &report::ModuleReport,
    facts: Facts,
) -> Result<Option<u32>, Error> {
    let Some(m) = module else { return Ok(None) };
    let outcome = m.program.decide(Arc::new(facts)).await;
    report.record(m.program.sha256(), &outcome);
    match outcome.decision {
        Ok(Decision::Serve { ttl_secs }) => Ok(ttl_secs),
        Ok(Decision::Deny { reason }) => Err(Error::Forbidden(reason)),
        Ok(Decision::FallbackLocal) => Err(Error::FallbackLocal(
            "this tenant's policy module sends this request to your own credentials".into(),
        )),
        Err(failure) => {
            tracing::warn!(
                policy.failure = failure.kind.as_str(),
                policy.sha256 = m.program.sha256(),
                "policy module failed"
            );
            match m.on_failure {
                OnFailure::Serve => Ok(None),
                OnFailure::FallbackLocal => Err(Error::FallbackLocal(
                    "this tenant's policy module failed on this request; read it with your own credentials".into(),
                )),
            }
        }
    }
}
