//! Fault injection set over the control API: added latency, 5xx answers, connection resets, and
//! GitHub unreachable for a while. Rates are applied deterministically (a rate of 0.25 fails
//! exactly every 4th call), so tests can assert exact counts; `fail_next` / `reset_next` fail the
//! next N calls.

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Faults applied to API calls (REST, GraphQL, installation tokens), not to `/_fake` or OAuth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added latency before answering, in milliseconds.
    pub latency_ms: u64,
    /// Fraction (0..=1) of calls answered with `error_status`.
    pub error_rate: f64,
    /// Status of injected errors (default 502).
    pub error_status: Option<u16>,
    /// Fraction (0..=1) of calls whose connection is cut mid-answer.
    pub reset_rate: f64,
    /// The next N calls get `error_status`.
    pub fail_next: u32,
    /// The next N calls get their connection cut.
    pub reset_next: u32,
    /// GitHub is down for this many milliseconds from now: new connections are closed before
    /// anything is read and calls on open ones are cut, control API included; then it is back
    /// by itself (or sooner with `clear_faults` in process).
    pub down_ms: u64,
}

/// Closes a just-accepted connection before anything is read from it, as an unreachable GitHub
/// would (the client sees its connection closed with no answer).
pub fn refuse(stream: &mut tokio::net::TcpStream) {
    use std::os::fd::AsRawFd;
    // SAFETY: shutdown(2) on a descriptor this stream owns and keeps open; it changes no memory.
    unsafe {
        libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR);
    }
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Answer with this 5xx status.
    Error(u16),
    /// Cut the connection.
    Reset,
}

/// Faults plus the accumulators that make rates deterministic.
#[derive(Debug, Default)]
pub struct FaultState {
    /// Current settings.
    pub faults: Faults,
    error_acc: f64,
    reset_acc: f64,
    down_until: Option<Instant>,
}

impl FaultState {
    /// Replaces the settings and restarts the rate accumulators.
    pub fn set(&mut self, f: Faults) {
        let down_until = (f.down_ms > 0).then(|| Instant::now() + Duration::from_millis(f.down_ms));
        *self = FaultState {
            faults: f,
            error_acc: 0.0,
            reset_acc: 0.0,
            down_until,
        };
    }

    /// Whether GitHub is down now (see [`Faults::down_ms`]).
    pub fn is_down(&self) -> bool {
        self.down_until.is_some_and(|t| Instant::now() < t)
    }

    /// Decides the fault for the next call.
    pub fn next(&mut self) -> Fault {
        let status = self.faults.error_status.unwrap_or(502);
        if self.is_down() {
            return Fault::Reset;
        }
        if self.faults.reset_next > 0 {
            self.faults.reset_next -= 1;
            return Fault::Reset;
        }
        if self.faults.fail_next > 0 {
            self.faults.fail_next -= 1;
            return Fault::Error(status);
        }
        self.reset_acc += self.faults.reset_rate.clamp(0.0, 1.0);
        if self.reset_acc >= 1.0 - 1e-9 {
            self.reset_acc -= 1.0;
            return Fault::Reset;
        }
        self.error_acc += self.faults.error_rate.clamp(0.0, 1.0);
        if self.error_acc >= 1.0 - 1e-9 {
            self.error_acc -= 1.0;
            return Fault::Error(status);
        }
        Fault::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_rate_fails_exactly_every_fourth_call() {
        let mut s = FaultState::default();
        s.set(Faults {
            error_rate: 0.25,
            ..Faults::default()
        });
        let got: Vec<bool> = (0..8).map(|_| s.next() != Fault::None).collect();
        assert_eq!(got, [false, false, false, true, false, false, false, true]);
    }

    #[test]
    fn down_cuts_every_call_until_it_ends() {
        let mut s = FaultState::default();
        s.set(Faults {
            down_ms: 60_000,
            ..Faults::default()
        });
        assert!(s.is_down());
        assert_eq!(s.next(), Fault::Reset);
        s.set(Faults::default());
        assert!(!s.is_down());
        assert_eq!(s.next(), Fault::None);
    }
}
