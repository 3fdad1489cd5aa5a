//! The long-polling `GET /internal/v1/events`: the worker's tenant's webhook events after a cursor.

use super::auth::authenticate_long_poll;
use crate::Error;
use crate::db::changes::Feed;
use crate::metrics;
use crate::state::AppState;
use crate::webhooks::feed;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use shoal_common::protocol::EventPage;
use std::time::Instant;

/// `GET /internal/v1/events[?after=<cursor>]`: the events after the cursor at once when there are
/// some, else as soon as one is stored (by any replica: see [`crate::db::changes`]), else an empty
/// page at the end of the long-poll window. Without a cursor: an empty page whose `next` is the
/// feed's current end.
pub async fn get_events(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Json<EventPage>, Error> {
    let (worker, after) = authenticate_long_poll(&state, &headers, &uri, "event cursor").await?;
    let deadline = Instant::now() + state.config.bundle_long_poll;
    let mut closing = state.closing.clone();
    // Taken before looking, so an event stored in between still wakes this poll.
    let mut changes = state.changes.subscribe(Feed::Events, worker.tenant);
    let page = loop {
        metrics::global().long_poll_checked(Feed::Events.as_str());
        let page = feed::page(&state.pool, worker.tenant, after).await?;
        let now = Instant::now();
        if after.is_none() || !page.events.is_empty() || now >= deadline || *closing.borrow() {
            break page;
        }
        let recheck = (deadline - now).min(state.config.long_poll_recheck);
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep(recheck) => {}
            _ = closing.changed() => {}
        }
    };
    tracing::debug!(worker.id = %worker.worker, events = page.events.len(), next = page.next, "served events");
    Ok(Json(page))
}
