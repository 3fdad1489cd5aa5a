//! Time as the worker sees it: wall-clock milliseconds since the Unix epoch, behind a trait so
//! tests move time forward (TTL expiry, staleness, cooldowns, resets) without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A future that completes once a clock reaches a time.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of the current time in Unix milliseconds. GitHub's `x-ratelimit-reset` is in Unix
/// seconds, so the clock is a wall clock rather than a monotonic one.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Completes once [`Clock::now_ms`] reaches `at_ms` (at once when it already has).
    fn sleep_until(&self, at_ms: u64) -> Sleep;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn sleep_until(&self, at_ms: u64) -> Sleep {
        let wait = Duration::from_millis(at_ms.saturating_sub(self.now_ms()));
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that only moves when told to. Starts at the real time so reset times GitHub sends
/// stay meaningful. Sleepers wake when [`ManualClock::advance`] moves it past their time.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicU64,
    moved: tokio::sync::watch::Sender<u64>,
}

impl ManualClock {
    /// A manual clock set to the current wall time.
    pub fn new() -> Arc<Self> {
        let now = SystemClock.now_ms();
        Arc::new(Self {
            now: AtomicU64::new(now),
            moved: tokio::sync::watch::Sender::new(now),
        })
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let now = self.now.fetch_add(by.as_millis() as u64, Ordering::SeqCst) + by.as_millis() as u64;
        self.moved.send_replace(now);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, at_ms: u64) -> Sleep {
        let mut moved = self.moved.subscribe();
        Box::pin(async move {
            // `wait_for` checks the current value first, so an advance before this runs counts.
            let _ = moved.wait_for(|now| *now >= at_ms).await;
        })
    }
}

/// An instant in milliseconds since the Unix epoch, the unit the worker keeps instants in.
/// GitHub's headers and the stats document count seconds: [`UnixMs::from_secs`] and
/// [`UnixMs::as_secs`] are the only crossings, so a value in one unit cannot pass for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixMs(u64);

impl UnixMs {
    /// From milliseconds since the epoch ([`Clock::now_ms`]).
    pub const fn from_ms(ms: u64) -> Self {
        Self(ms)
    }

    /// From whole seconds since the epoch (GitHub's `x-ratelimit-reset`).
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_ms(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This instant moved `by` later.
    pub fn plus(self, by: Duration) -> Self {
        Self(self.0.saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX)))
    }

    /// As a calendar time (what the control plane's protocol carries).
    pub fn to_datetime(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_ms_converts_to_seconds_and_calendar_time_once() {
        let t = UnixMs::from_secs(1_800_000_000).plus(Duration::from_millis(1_500));
        assert_eq!((t.as_ms(), t.as_secs()), (1_800_000_001_500, 1_800_000_001));
        assert_eq!(t.to_datetime().unix_timestamp(), 1_800_000_001);
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new();
        let t0 = c.now_ms();
        assert_eq!(c.now_ms(), t0);
        c.advance(Duration::from_secs(61));
        assert_eq!(c.now_ms(), t0 + 61_000);
    }

    #[tokio::test]
    async fn a_manual_sleeper_wakes_only_when_the_clock_passes_its_time() {
        let c = ManualClock::new();
        let at = c.now_ms() + 5_000;
        let mut sleep = c.sleep_until(at);
        let poll = |s: &mut Sleep| {
            let waker = std::task::Waker::noop();
            s.as_mut().poll(&mut std::task::Context::from_waker(waker)).is_ready()
        };
        assert!(!poll(&mut sleep));
        c.advance(Duration::from_secs(4));
        assert!(!poll(&mut sleep));
        c.advance(Duration::from_secs(1));
        assert!(poll(&mut sleep));
        assert!(poll(&mut c.sleep_until(at)), "a time already reached completes at once");
    }
}
