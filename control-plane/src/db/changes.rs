//! What wakes the workers' long polls: Postgres triggers `NOTIFY` [`CHANNEL`] with
//! `bundle:<tenant id>` when a worker's bundle version moves and `events:<tenant id>` when a webhook
//! event is stored (delivered at commit, to every control-plane replica that listens), and one
//! `PgListener` per process ([`Changes::listen`]) hands each to the polls waiting on that tenant.
//! A poll subscribes before it looks at Postgres, so a change committed in between still wakes it;
//! when the listener (re)connects, every waiting poll looks again, since notifications sent while it
//! was not listening are lost.

use shoal_common::TenantId;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// The `NOTIFY` channel of bundle and event changes (see `migrations/*_change_notifications`).
pub const CHANNEL: &str = "shoal_changes";
/// How long the listener waits before connecting again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What a long poll follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feed {
    /// The tenant's bundle version.
    Bundle,
    /// The tenant's stored webhook events.
    Events,
}

impl Feed {
    /// The metric label and the payload's prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Bundle => "bundle",
            Feed::Events => "events",
        }
    }
}

/// Parses a notification's payload, `<feed>:<tenant id>`.
fn parse(payload: &str) -> Option<(Feed, TenantId)> {
    let (feed, tenant) = payload.split_once(':')?;
    let feed = match feed {
        "bundle" => Feed::Bundle,
        "events" => Feed::Events,
        _ => return None,
    };
    Some((feed, TenantId(tenant.parse().ok()?)))
}

/// The long polls of this process waiting for a change, by feed and tenant.
#[derive(Default)]
pub struct Changes {
    waiting: Mutex<HashMap<(Feed, TenantId), watch::Sender<()>>>,
}

/// A long poll's place in [`Changes`]: [`Subscription::changed`] resolves on the first change
/// notified after the subscription was taken.
pub struct Subscription<'a> {
    changes: &'a Changes,
    key: (Feed, TenantId),
    rx: watch::Receiver<()>,
}

impl Subscription<'_> {
    /// Waits for the next change (forever when none comes: select it against a deadline).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let mut waiting = self.changes.lock();
        // This receiver is the last one: nobody waits on the tenant any more.
        if waiting.get(&self.key).is_some_and(|tx| tx.receiver_count() == 1) {
            waiting.remove(&self.key);
        }
    }
}

impl Changes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Feed, TenantId), watch::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts following `feed` of `tenant`; take it before looking at Postgres.
    pub fn subscribe(&self, feed: Feed, tenant: TenantId) -> Subscription<'_> {
        let rx = self
            .lock()
            .entry((feed, tenant))
            .or_insert_with(|| watch::channel(()).0)
            .subscribe();
        Subscription {
            changes: self,
            key: (feed, tenant),
            rx,
        }
    }

    /// Wakes the polls waiting on `feed` of `tenant`.
    pub fn notify(&self, feed: Feed, tenant: TenantId) {
        if let Some(tx) = self.lock().get(&(feed, tenant)) {
            tx.send_replace(());
        }
    }

    /// Wakes every waiting poll (after the listener missed what happened while it was away).
    pub fn notify_all(&self) {
        for tx in self.lock().values() {
            tx.send_replace(());
        }
    }

    /// How many tenants' feeds have a poll waiting.
    pub fn waiting(&self) -> usize {
        self.lock().len()
    }

    /// Listens on [`CHANNEL`] until `closing` turns true, reconnecting after failures, and hands
    /// every notification to the polls waiting on it.
    pub async fn listen(&self, pool: PgPool, mut closing: watch::Receiver<bool>) {
        while !*closing.borrow() {
            let mut listener = match super::listen(&pool, CHANNEL).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for bundle and event changes: long polls fall back to polling");
                    pause(&mut closing).await;
                    continue;
                }
            };
            self.notify_all();
            loop {
                let next = tokio::select! {
                    n = listener.try_recv() => n,
                    _ = closing.changed() => return,
                };
                match next {
                    Ok(Some(n)) => match parse(n.payload()) {
                        Some((feed, tenant)) => self.notify(feed, tenant),
                        None => tracing::warn!(payload = n.payload(), "unknown change notification"),
                    },
                    // The connection dropped; the next `try_recv` reconnects. What was sent meanwhile
                    // is lost, so every poll looks again.
                    Ok(None) => self.notify_all(),
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the change notifications' connection");
                        pause(&mut closing).await;
                        break;
                    }
                }
            }
        }
    }
}

/// Waits [`RECONNECT_AFTER`] before connecting again, or until the control plane closes.
async fn pause(closing: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(RECONNECT_AFTER) => {}
        _ = closing.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_feed_and_a_tenant() {
        let t = TenantId::new();
        assert_eq!(parse(&format!("bundle:{t}")), Some((Feed::Bundle, t)));
        assert_eq!(parse(&format!("events:{t}")), Some((Feed::Events, t)));
        assert_eq!(parse(&format!("other:{t}")), None);
        assert_eq!(parse("bundle:not-a-uuid"), None);
        assert_eq!(parse("bundle"), None);
    }

    #[tokio::test]
    async fn a_change_wakes_only_the_polls_of_its_tenant_and_feed_and_the_last_one_out_cleans_up() {
        let changes = Changes::default();
        let (a, b) = (TenantId::new(), TenantId::new());
        let mut a_bundle = changes.subscribe(Feed::Bundle, a);
        let mut a_bundle_too = changes.subscribe(Feed::Bundle, a);
        let mut a_events = changes.subscribe(Feed::Events, a);
        let mut b_bundle = changes.subscribe(Feed::Bundle, b);
        assert_eq!(changes.waiting(), 3);

        changes.notify(Feed::Bundle, a);
        a_bundle.changed().await;
        a_bundle_too.changed().await;
        let quiet = |s: &Subscription<'_>| !s.rx.has_changed().unwrap();
        assert!(quiet(&a_events) && quiet(&b_bundle));

        // A change notified before the wait began is not lost.
        changes.notify(Feed::Events, a);
        a_events.changed().await;

        changes.notify_all();
        b_bundle.changed().await;

        drop((a_bundle, a_events));
        assert_eq!(changes.waiting(), 2);
        drop(a_bundle_too);
        drop(b_bundle);
        assert_eq!(changes.waiting(), 0);
        // Nobody waiting: a notification is a no-op.
        changes.notify(Feed::Bundle, a);
        assert_eq!(changes.waiting(), 0);
    }
}
