//! What the tenant's module did: decisions and failures per kind (shown in `/_shoal/stats`) and,
//! since the last usage report, failures and log lines for the control plane's policy page.

use serde_json::json;
use shoal_common::policy::{Decision, Outcome};
use shoal_common::protocol::{PolicyFailureCount, PolicyLogLine, PolicyModuleReport};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use time::OffsetDateTime;

/// Most log lines kept between two usage reports; older ones are dropped first.
pub const MAX_LOG_LINES: usize = 50;

#[derive(Default)]
struct Counts {
    decisions: BTreeMap<&'static str, u64>,
    failures: BTreeMap<&'static str, (u64, String)>,
    logs_dropped: u64,
}

#[derive(Default)]
struct Inner {
    total: Counts,
    /// Since the last report.
    pending: Counts,
    sha256: Option<String>,
    logs: VecDeque<PolicyLogLine>,
}

/// The module's counters and log lines.
#[derive(Default)]
pub struct ModuleReport(Mutex<Inner>);

impl ModuleReport {
    /// Counts one call's decision or failure and keeps its log lines.
    pub fn record(&self, sha256: &str, o: &Outcome) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let g = &mut *guard;
        if g.sha256.as_deref() != Some(sha256) {
            g.sha256 = Some(sha256.to_string());
        }
        for counts in [&mut g.total, &mut g.pending] {
            match &o.decision {
                Ok(d) => *counts.decisions.entry(decision_name(d)).or_default() += 1,
                Err(f) => {
                    let e = counts.failures.entry(f.kind.as_str()).or_default();
                    e.0 += 1;
                    e.1.clone_from(&f.detail);
                }
            }
            counts.logs_dropped += u64::from(o.logs_dropped);
        }
        let at = OffsetDateTime::now_utc();
        for line in &o.logs {
            if g.logs.len() == MAX_LOG_LINES {
                g.logs.pop_front();
                g.pending.logs_dropped += 1;
            }
            g.logs.push_back(PolicyLogLine {
                level: line.level.to_string(),
                message: line.message.clone(),
                at,
            });
        }
    }

    /// Failures and log lines since the last call, for the usage report.
    pub fn take(&self) -> PolicyModuleReport {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let pending = std::mem::take(&mut g.pending);
        PolicyModuleReport {
            sha256: g.sha256.clone(),
            failures: pending
                .failures
                .into_iter()
                .map(|(kind, (count, last_detail))| PolicyFailureCount {
                    kind: kind.to_string(),
                    count,
                    last_detail,
                })
                .collect(),
            logs: g.logs.drain(..).collect(),
        }
    }

    /// Totals since start and the log lines not yet reported, for `/_shoal/stats`.
    pub fn json(&self) -> serde_json::Value {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let failures: BTreeMap<_, _> = g.total.failures.iter().map(|(k, (n, _))| (*k, *n)).collect();
        json!({
            "sha256": g.sha256,
            "decisions": g.total.decisions,
            "failures": failures,
            "logs_dropped": g.total.logs_dropped,
            "logs": g.logs.iter().map(|l| json!({ "level": l.level, "message": l.message })).collect::<Vec<_>>(),
        })
    }
}

fn decision_name(d: &Decision) -> &'static str {
    match d {
        Decision::Serve { .. } => "serve",
        Decision::Deny { .. } => "deny",
        Decision::FallbackLocal => "fallback_local",
    }
}
