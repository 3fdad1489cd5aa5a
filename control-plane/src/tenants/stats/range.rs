//! The time ranges the dashboard, the stats API and `shoal stats` offer, and the window and
//! buckets each one reads. Ranges are whole hours (usage is stored per hour): the last hour is
//! the current hour, the last 24 hours are it and the 23 before, and so on.

use crate::Error;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// A time range, named as in `?range=`: `1h`, `24h`, `7d`, `30d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Range {
    #[serde(rename = "1h")]
    Hour,
    #[default]
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl Range {
    /// Every range, shortest first (the picker's order).
    pub const ALL: [Range; 4] = [Range::Hour, Range::Day, Range::Week, Range::Month];

    /// Parses exactly `1h`, `24h`, `7d` or `30d`; no parameter is `24h` (an empty one is refused,
    /// as the OpenAPI document's pattern says).
    pub fn parse(s: Option<&str>) -> Result<Self, Error> {
        match s {
            None => Ok(Range::Day),
            Some(s) => Range::ALL
                .into_iter()
                .find(|r| r.as_str() == s)
                .ok_or_else(|| Error::BadRequest(format!("unknown range {s:?}: use 1h, 24h, 7d or 30d"))),
        }
    }

    /// The name in `?range=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }

    /// What the picker and headings say.
    pub fn label(self) -> &'static str {
        match self {
            Range::Hour => "Last hour",
            Range::Day => "Last 24 hours",
            Range::Week => "Last 7 days",
            Range::Month => "Last 30 days",
        }
    }

    /// Hours covered, the current one included.
    pub fn hours(self) -> i64 {
        match self {
            Range::Hour => 1,
            Range::Day => 24,
            Range::Week => 168,
            Range::Month => 720,
        }
    }

    /// Hours per chart bucket.
    pub fn bucket_hours(self) -> i64 {
        match self {
            Range::Hour | Range::Day => 1,
            Range::Week => 6,
            Range::Month => 24,
        }
    }

    /// The window this range covers at `now`.
    pub fn window(self, now: OffsetDateTime) -> Window {
        let hour = now
            .replace_minute(0)
            .and_then(|t| t.replace_second(0))
            .and_then(|t| t.replace_nanosecond(0))
            .unwrap_or(now);
        Window {
            start: hour - Duration::hours(self.hours() - 1),
            end: hour + Duration::hours(1),
            bucket_hours: self.bucket_hours(),
            buckets: (self.hours() / self.bucket_hours()) as usize,
        }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Hours `[start, end)` split into `buckets` buckets of `bucket_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub bucket_hours: i64,
    pub buckets: usize,
}

impl Window {
    /// Where bucket `i` starts.
    pub fn bucket_start(&self, i: usize) -> OffsetDateTime {
        self.start + Duration::hours(self.bucket_hours * i as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_by_name_and_refuse_anything_else() {
        assert_eq!(Range::parse(None).unwrap(), Range::Day);
        assert_eq!(Range::parse(Some("7d")).unwrap(), Range::Week);
        assert!(Range::parse(Some("")).is_err() && Range::parse(Some(" 7d")).is_err());
        assert!(
            Range::parse(Some("2w"))
                .unwrap_err()
                .to_string()
                .contains("1h, 24h, 7d or 30d")
        );
    }

    #[test]
    fn windows_are_whole_hours_ending_after_the_current_one() {
        let now = time::macros::datetime!(2026-12-03 10:17:05 UTC);
        let w = Range::Month.window(now);
        assert_eq!(w.start, time::macros::datetime!(2026-11-03 11:00 UTC));
        assert_eq!(w.end, time::macros::datetime!(2026-12-03 11:00 UTC));
        assert_eq!((w.buckets, w.bucket_hours), (30, 24));
        assert_eq!(
            Range::Hour.window(now).start,
            time::macros::datetime!(2026-12-03 10:00 UTC)
        );
    }
}
