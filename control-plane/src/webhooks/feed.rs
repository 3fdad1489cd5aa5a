//! The change feed a tenant's worker follows: its stored deliveries after a cursor, oldest first,
//! each reduced to what invalidation needs ([`WebhookEvent`]) so the worker never reads payloads.

use crate::Error;
use crate::db::begin_tenant;
use serde_json::Value;
use shoal_common::TenantId;
use shoal_common::protocol::{EVENTS_PAGE, EventPage, PROTOCOL_VERSION, WebhookEvent};
use sqlx::PgPool;

/// The tenant's events after `after` (at most [`EVENTS_PAGE`]); without a cursor, no events and
/// the feed's current end, where a worker with nothing to resume from starts.
pub async fn page(pool: &PgPool, tenant: TenantId, after: Option<u64>) -> Result<EventPage, Error> {
    let mut tx = begin_tenant(pool, tenant).await?;
    let Some(after) = after else {
        let end: i64 = sqlx::query_scalar("SELECT COALESCE(max(cursor), 0) FROM webhook_events WHERE tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(EventPage {
            protocol_version: PROTOCOL_VERSION,
            events: Vec::new(),
            next: end.unsigned_abs(),
        });
    };
    let rows: Vec<(i64, String, String, Value)> = sqlx::query_as(
        "SELECT cursor, event, delivery_id, payload FROM webhook_events
         WHERE tenant_id = $1 AND cursor > $2 ORDER BY cursor LIMIT $3",
    )
    .bind(tenant.as_uuid())
    .bind(i64::try_from(after).unwrap_or(i64::MAX))
    .bind(EVENTS_PAGE as i64)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let events: Vec<WebhookEvent> = rows
        .into_iter()
        .map(|(cursor, event, delivery_id, payload)| extract(cursor.unsigned_abs(), event, delivery_id, &payload))
        .collect();
    Ok(EventPage {
        protocol_version: PROTOCOL_VERSION,
        next: events.last().map_or(after, |e| e.cursor),
        events,
    })
}

/// The parts of a payload invalidation needs; `ping` and unknown shapes leave them empty.
fn extract(cursor: u64, event: String, delivery_id: String, p: &Value) -> WebhookEvent {
    let str_at = |ptr: &str| p.pointer(ptr).and_then(Value::as_str).map(str::to_string);
    let u64_at = |ptr: &str| p.pointer(ptr).and_then(Value::as_u64);
    let first_str = |ptrs: &[&str]| ptrs.iter().find_map(|ptr| str_at(ptr));
    let first_u64 = |ptrs: &[&str]| ptrs.iter().find_map(|ptr| u64_at(ptr));
    if event == "ping" {
        return WebhookEvent {
            cursor,
            event,
            delivery_id,
            ..WebhookEvent::default()
        };
    }
    WebhookEvent {
        cursor,
        repository: str_at("/repository/full_name"),
        number: first_u64(&["/pull_request/number", "/issue/number", "/number"]),
        head_sha: first_str(&[
            "/pull_request/head/sha",
            "/check_suite/head_sha",
            "/check_run/head_sha",
            "/workflow_run/head_sha",
            "/workflow_job/head_sha",
            "/after",
            "/sha",
        ]),
        git_ref: first_str(&[
            "/ref",
            "/pull_request/head/ref",
            "/check_suite/head_branch",
            "/workflow_run/head_branch",
        ]),
        check_suite_id: first_u64(&[
            "/check_suite/id",
            "/check_run/check_suite/id",
            "/workflow_run/check_suite_id",
        ]),
        check_run_id: first_u64(&["/check_run/id", "/workflow_job/id"]),
        event,
        delivery_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_what_invalidation_needs() {
        let pr = json!({"number": 7, "repository": {"full_name": "octo-org/app"},
            "pull_request": {"number": 7, "head": {"sha": "abc", "ref": "feature"}}});
        let e = extract(3, "pull_request".into(), "d1".into(), &pr);
        assert_eq!(e.repository.as_deref(), Some("octo-org/app"));
        assert_eq!(
            (e.number, e.head_sha.as_deref(), e.git_ref.as_deref()),
            (Some(7), Some("abc"), Some("feature"))
        );

        let run = json!({"repository": {"full_name": "octo-org/app"},
            "check_run": {"id": 11, "head_sha": "def", "check_suite": {"id": 22}}});
        let e = extract(4, "check_run".into(), "d2".into(), &run);
        assert_eq!(
            (e.check_run_id, e.check_suite_id, e.head_sha.as_deref()),
            (Some(11), Some(22), Some("def"))
        );

        let push = json!({"ref": "refs/heads/main", "after": "0123", "repository": {"full_name": "octo-org/app"}});
        let e = extract(5, "push".into(), "d3".into(), &push);
        assert_eq!(
            (e.git_ref.as_deref(), e.head_sha.as_deref(), e.number),
            (Some("refs/heads/main"), Some("0123"), None)
        );

        let ping = json!({"zen": "Keep it simple.", "hook": {"id": 1}, "repository": {"full_name": "octo-org/app"}});
        let e = extract(6, "ping".into(), "d4".into(), &ping);
        assert_eq!(e.repository, None);
    }
}
