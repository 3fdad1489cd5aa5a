//! A hard-capped plan's monthly allowance of relayed reads (the free plan with billing on),
//! enforced here from the bundle. The bundle says how many reads the control plane has counted
//! this UTC month (from usage reports); the worker adds every read it serves itself, so the cap
//! holds exactly within this worker's life. A read takes a [`Reservation`] before it is served
//! and keeps it only when it is counted as served, so concurrent reads never overshoot.
//!
//! Across a restart the new worker starts from the bundle's count, which lacks what the old one
//! served after its last usage report reached the control plane. A stopped worker sends a last
//! report before it exits, so then nothing is lost; a worker killed (-9, OOM, a crash) loses at
//! most the reads of one report interval (`--usage-every-ms`, plus a report in flight): that is
//! the worst-case overshoot.

use crate::error::Error;
use shoal_common::protocol::Bundle;
use std::sync::Mutex;
use time::{Date, Month, OffsetDateTime, Time};

/// What a capped bundle allows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cap {
    plan: String,
    reads_per_month: u64,
    upgrade_url: String,
}

#[derive(Debug)]
struct State {
    cap: Option<Cap>,
    /// The start of the month `used` counts, in Unix seconds.
    month: i64,
    /// Reads counted in `month`, including reservations not yet given back.
    used: u64,
}

/// The allowance in force, shared by every request; a new bundle updates it.
#[derive(Debug)]
pub struct Allowance(Mutex<State>);

/// One read's claim on the allowance: given back when dropped unless [`Reservation::keep`] is
/// called (the read was served).
#[must_use]
pub struct Reservation<'a> {
    allowance: Option<&'a Allowance>,
    month: i64,
}

impl Allowance {
    /// The allowance a worker starts with.
    pub fn from_bundle(bundle: &Bundle) -> Self {
        let a = Self(Mutex::new(State {
            cap: None,
            month: i64::MIN,
            used: 0,
        }));
        a.update(bundle);
        a
    }

    /// Takes in a new bundle: its cap, and its count when that is ahead of this worker's own (a
    /// previous worker's reads, reported after this one started).
    pub fn update(&self, bundle: &Bundle) {
        let mut s = self.lock();
        s.cap = bundle.allowance.as_ref().map(|a| Cap {
            plan: bundle.plan.clone(),
            reads_per_month: a.reads_per_month,
            upgrade_url: a.upgrade_url.clone(),
        });
        if let Some(a) = &bundle.allowance {
            let month = a.month_start.unix_timestamp();
            if month > s.month {
                (s.month, s.used) = (month, a.reads_this_month);
            } else if month == s.month {
                s.used = s.used.max(a.reads_this_month);
            }
        }
    }

    /// Claims one read at `now_ms`, or refuses once the month's allowance is spent.
    pub fn reserve(&self, now_ms: u64) -> Result<Reservation<'_>, Error> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(cap) = &s.cap else {
            return Ok(Reservation {
                allowance: None,
                month: 0,
            });
        };
        let now = OffsetDateTime::from_unix_timestamp((now_ms / 1000) as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let month = month_start(now.date()).unix_timestamp();
        if month > s.month {
            (s.month, s.used) = (month, 0);
        }
        if s.used >= cap.reads_per_month {
            let next = next_month_start(now.date());
            return Err(Error::AllowanceSpent {
                plan: cap.plan.clone(),
                reads_per_month: cap.reads_per_month,
                upgrade_url: cap.upgrade_url.clone(),
                retry_after_secs: (next - now).whole_seconds().max(1) as u64,
            });
        }
        s.used += 1;
        Ok(Reservation {
            allowance: Some(self),
            month,
        })
    }

    /// Reads counted this month (tests and stats).
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reservation<'_> {
    /// The read was served: it stays counted.
    pub fn keep(mut self) {
        self.allowance = None;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.allowance {
            let mut s = a.lock();
            if s.month == self.month {
                s.used = s.used.saturating_sub(1);
            }
        }
    }
}

fn month_start(d: Date) -> OffsetDateTime {
    let first = Date::from_calendar_date(d.year(), d.month(), 1).expect("the first of a month exists");
    first.with_time(Time::MIDNIGHT).assume_utc()
}

fn next_month_start(d: Date) -> OffsetDateTime {
    let (year, month) = match d.month() {
        Month::December => (d.year() + 1, Month::January),
        m => (d.year(), m.next()),
    };
    let first = Date::from_calendar_date(year, month, 1).expect("the first of a month exists");
    first.with_time(Time::MIDNIGHT).assume_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_common::protocol;

    fn bundle(reads_per_month: u64, reads_this_month: u64, month_start: &str) -> Bundle {
        let mut b = crate::coordinator::testing::bundle(&[]);
        b.plan = "free".into();
        b.allowance = Some(protocol::Allowance {
            reads_per_month,
            reads_this_month,
            month_start: OffsetDateTime::parse(month_start, &time::format_description::well_known::Rfc3339).unwrap(),
            upgrade_url: "https://shoal.example/t/acme/billing".into(),
        });
        b
    }

    fn ms(rfc3339: &str) -> u64 {
        let t = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap();
        (t.unix_timestamp() * 1000) as u64
    }

    #[test]
    fn the_allowance_counts_on_from_the_bundle_and_refuses_until_the_month_turns() {
        let a = Allowance::from_bundle(&bundle(3, 1, "2026-12-01T00:00:00Z"));
        let now = ms("2026-12-31T23:59:00Z");
        a.reserve(now).unwrap().keep();
        a.reserve(now).unwrap().keep();
        let Err(Error::AllowanceSpent { retry_after_secs, .. }) = a.reserve(now) else {
            panic!("the fourth read of three was served");
        };
        assert_eq!(retry_after_secs, 60);
        a.reserve(ms("2027-01-01T00:00:00Z")).unwrap().keep();
        assert_eq!(a.used(), 1);
    }

    #[test]
    fn a_read_not_served_gives_its_reservation_back() {
        let a = Allowance::from_bundle(&bundle(1, 0, "2026-12-01T00:00:00Z"));
        let now = ms("2026-12-02T00:00:00Z");
        drop(a.reserve(now).unwrap());
        let r = a.reserve(now).unwrap();
        assert!(a.reserve(now).is_err(), "a held reservation counts");
        r.keep();
        assert_eq!(a.used(), 1);
    }

    #[test]
    fn a_newer_bundle_count_is_taken_and_an_older_one_never_lowers_the_own() {
        let a = Allowance::from_bundle(&bundle(10, 2, "2026-12-01T00:00:00Z"));
        let now = ms("2026-12-02T00:00:00Z");
        for _ in 0..3 {
            a.reserve(now).unwrap().keep();
        }
        a.update(&bundle(10, 4, "2026-12-01T00:00:00Z"));
        assert_eq!(a.used(), 5);
        a.update(&bundle(10, 7, "2026-12-01T00:00:00Z"));
        assert_eq!(a.used(), 7);
        a.update(&bundle(10, 3, "2026-11-01T00:00:00Z"));
        assert_eq!(a.used(), 7, "last month's count is ignored");
    }

    #[test]
    fn no_allowance_in_the_bundle_caps_nothing() {
        let mut b = bundle(1, 5, "2026-12-01T00:00:00Z");
        b.allowance = None;
        let a = Allowance::from_bundle(&b);
        for _ in 0..3 {
            a.reserve(ms("2026-12-02T00:00:00Z")).unwrap().keep();
        }
    }
}
