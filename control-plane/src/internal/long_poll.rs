//! The wait both long polls share: after a look at Postgres, look again when a change of the feed
//! is notified (see [`crate::db::changes`]) or every `long_poll_recheck`, until the long-poll
//! window ends or the control plane closes.

use crate::db::changes::{Feed, Subscription};
use crate::metrics;
use crate::state::AppState;
use shoal_common::TenantId;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// One long poll on `feed` of a tenant.
pub(super) struct LongPoll<'a> {
    feed: Feed,
    deadline: Instant,
    recheck: Duration,
    closing: watch::Receiver<bool>,
    changes: Subscription<'a>,
}

impl<'a> LongPoll<'a> {
    /// Begins the wait; call it before the first look, so a change committed in between still
    /// wakes the poll.
    pub(super) fn start(state: &'a AppState, feed: Feed, tenant: TenantId) -> Self {
        metrics::global().long_poll_checked(feed.as_str());
        Self {
            feed,
            deadline: Instant::now() + state.config.bundle_long_poll,
            recheck: state.config.long_poll_recheck,
            closing: state.closing.clone(),
            changes: state.changes.subscribe(feed, tenant),
        }
    }

    /// Waits until it is time to look again (`true`), or the window ended or the control plane
    /// is closing (`false`).
    pub(super) async fn again(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline || *self.closing.borrow() {
            return false;
        }
        tokio::select! {
            _ = self.changes.changed() => {}
            _ = tokio::time::sleep((self.deadline - now).min(self.recheck)) => {}
            _ = self.closing.changed() => {}
        }
        metrics::global().long_poll_checked(self.feed.as_str());
        true
    }
}
