//! Running a [`Program`] on one request: a fresh store and instance per call (from the pool, so
//! nothing a call leaves in memory or globals reaches the next), under fuel, the epoch deadline
//! and the memory cap. Every way a call can fail becomes a [`Failure`], never a panic.

use super::abi::{self, Decision, ENTRY};
use super::engine::{EPOCH_DEADLINE_TICKS, FUEL_YIELD_INTERVAL, MAX_DEADLINE_EXTENSIONS};
use super::host::HostState;
use super::{Facts, Program};
use std::sync::Arc;
use wasmtime::{Store, Trap, UpdateDeadline};

/// How a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// Ran out of fuel.
    Fuel,
    /// Passed the wall-clock backstop.
    Timeout,
    /// Asked for more memory than its cap.
    Memory,
    /// Trapped (unreachable, out-of-bounds access, bad host call...).
    Trap,
    /// Answered something that is not a decision.
    Garbage,
    /// Could not be instantiated (the pool is full).
    Instantiate,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Fuel => "fuel",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Trap => "trap",
            FailureKind::Garbage => "garbage",
            FailureKind::Instantiate => "instantiate",
        }
    }
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

/// One `log` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// What one call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Result<Decision, Failure>,
    pub logs: Vec<LogLine>,
    /// Lines the module logged beyond the per-call limit.
    pub logs_dropped: u32,
    pub fuel_used: u64,
}

fn level_name(level: i32) -> &'static str {
    match level {
        i32::MIN..=0 => "debug",
        1 => "info",
        2 => "warn",
        _ => "error",
    }
}

impl Program {
    /// Runs the module on `facts`. Long calls yield to the async runtime every
    /// [`FUEL_YIELD_INTERVAL`] units of fuel.
    pub async fn decide(&self, facts: Arc<Facts>) -> Outcome {
        let mut store = Store::new(self.pre.module().engine(), HostState::new(facts));
        store.limiter(|s| s);
        store.set_epoch_deadline(EPOCH_DEADLINE_TICKS);
        let fuel = self.fuel;
        let mut extensions = 0;
        store.epoch_deadline_callback(move |ctx| {
            // A call that used little of its fuel by the deadline was mostly off the CPU (a busy
            // machine), not busy itself: give it a little longer before calling it a timeout.
            let used = fuel.saturating_sub(ctx.get_fuel().unwrap_or(0));
            extensions += 1;
            Ok(if used < fuel / 4 && extensions <= MAX_DEADLINE_EXTENSIONS {
                UpdateDeadline::Continue(EPOCH_DEADLINE_TICKS)
            } else {
                UpdateDeadline::Interrupt
            })
        });
        let setup = store
            .set_fuel(self.fuel)
            .and_then(|()| store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL)));
        let answer = match setup {
            Ok(()) => self.call(&mut store).await,
            Err(e) => Err(classify(&store, &e, FailureKind::Instantiate)),
        };
        let fuel_used = self.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let state = store.into_data();
        let decision = answer.and_then(|raw| {
            abi::unpack(raw, state.deny_reason).ok_or_else(|| Failure {
                kind: FailureKind::Garbage,
                detail: format!("decide answered {raw:#x}, which is not a decision"),
            })
        });
        Outcome {
            decision,
            logs: state
                .logs
                .into_iter()
                .map(|(level, message)| LogLine {
                    level: level_name(level),
                    message,
                })
                .collect(),
            logs_dropped: state.logs_dropped,
            fuel_used,
        }
    }

    async fn call(&self, store: &mut Store<HostState>) -> Result<i64, Failure> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(|e| classify(store, &e, FailureKind::Instantiate))?;
        let entry = instance
            .get_typed_func::<(), i64>(&mut *store, ENTRY)
            .map_err(|e| classify(store, &e, FailureKind::Trap))?;
        entry
            .call_async(&mut *store, ())
            .await
            .map_err(|e| classify(store, &e, FailureKind::Trap))
    }
}

fn classify(store: &Store<HostState>, e: &wasmtime::Error, otherwise: FailureKind) -> Failure {
    let kind = match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => FailureKind::Fuel,
        Some(Trap::Interrupt) => FailureKind::Timeout,
        _ if store.data().memory_refused => FailureKind::Memory,
        _ => otherwise,
    };
    let mut detail = format!("{e:#}");
    detail.truncate(detail.floor_char_boundary(300));
    Failure { kind, detail }
}
