//! The long-polling `GET /internal/v1/events`: the worker's tenant's webhook events after a cursor.

use super::auth::authenticate_long_poll;
use super::long_poll::LongPoll;
use crate::Error;
use crate::db::changes::Feed;
use crate::state::AppState;
use crate::webhooks::feed;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use shoal_common::protocol::EventPage;

/// `GET /internal/v1/events[?after=<cursor>]`: the events after the cursor at once when there are
/// some, else as soon as one is stored (by any replica: see [`crate::db::changes`]), else an empty
/// page at the end of the long-poll window. Without a cursor: an empty page whose `next` is the
/// feed's current end.
pub async fn get_events(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Json<EventPage>, Error> {
    let (worker, after) = authenticate_long_poll(&state, &headers, &uri, "event cursor").await?;
    let mut poll = LongPoll::start(&state, Feed::Events, worker.tenant);
    let page = loop {
        let page = feed::page(&state.pool, worker.tenant, after).await?;
        if after.is_none() || !page.events.is_empty() || !poll.again().await {
            break page;
        }
    };
    tracing::debug!(worker.id = %worker.worker, events = page.events.len(), next = page.next, "served events");
    Ok(Json(page))
}
