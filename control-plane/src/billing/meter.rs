//! Metered overage on paid plans: every hour's reads beyond the plan's monthly allowance become
//! one row of `billing_meter_outbox` (tenant, hour, a deterministic identifier), and a drain loop
//! sends each row to Stripe as a Billing Meter event. The row's lock (`FOR UPDATE SKIP LOCKED`) is
//! held while sending and it is marked sent in that transaction: two replicas never send one row
//! at once, and a crash mid-report leaves it unsent, to be sent again under the same identifier,
//! which Stripe deduplicates. So each tenant-hour is reported exactly once.

use crate::Error;
use crate::billing::{Overage, Plan, Stripe};
use sqlx::PgPool;
use std::time::Duration;
use time::OffsetDateTime;

/// How long after an hour ends before it is reported, so workers' last usage reports for it are in.
const SETTLE: &str = "5 minutes";
/// Wait before retrying a row Stripe refused or could not take.
const RETRY_AFTER: &str = "1 minute";

/// Enqueues every settled hour of this month (and the last) with overage, once. Idempotent:
/// rows already enqueued are left alone, so every replica may run it.
pub async fn enqueue(pool: &PgPool) -> Result<u64, Error> {
    let included = |p: Plan| {
        let l = p.limits();
        (l.overage == Overage::Metered).then_some(l.included_reads as i64)
    };
    let inserted = sqlx::query(&format!(
        "WITH hourly AS (
             SELECT u.tenant_id, u.hour, sum(u.requests)::bigint AS reads
             FROM usage_requests_hourly u JOIN tenants t ON t.id = u.tenant_id
             WHERE t.plan IN ('team', 'business') AND t.stripe_customer_id IS NOT NULL
               AND t.subscription_status IN ('active', 'trialing', 'past_due')
               AND u.hour >= date_trunc('month', now() - interval '1 month')
               AND u.hour + interval '1 hour' <= now() - interval '{SETTLE}'
             GROUP BY u.tenant_id, u.hour
         ), running AS (
             SELECT tenant_id, hour, reads,
                    sum(reads) OVER (PARTITION BY tenant_id, date_trunc('month', hour AT TIME ZONE 'UTC')
                                     ORDER BY hour)::bigint AS through
             FROM hourly
         ), overage AS (
             SELECT r.tenant_id, r.hour, t.stripe_customer_id,
                    GREATEST(r.through - a.included, 0) - GREATEST(r.through - r.reads - a.included, 0) AS value
             FROM running r JOIN tenants t ON t.id = r.tenant_id
             JOIN (VALUES ('team', $1::bigint), ('business', $2::bigint)) AS a(plan, included) ON a.plan = t.plan
             WHERE r.hour >= now() - interval '30 days'
         )
         INSERT INTO billing_meter_outbox (tenant_id, hour, identifier, stripe_customer, value)
         SELECT tenant_id, hour,
                'shoal-' || tenant_id || '-' || to_char(hour AT TIME ZONE 'UTC', 'YYYYMMDDHH24'),
                stripe_customer_id, value
         FROM overage WHERE value > 0
         ON CONFLICT DO NOTHING"
    ))
    .bind(included(Plan::Team))
    .bind(included(Plan::Business))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted)
}

#[derive(sqlx::FromRow)]
struct Due {
    tenant_id: uuid::Uuid,
    hour: OffsetDateTime,
    identifier: String,
    stripe_customer: String,
    value: i64,
}

/// Sends every due row, one transaction (and row lock) each; returns how many were sent.
pub async fn drain(pool: &PgPool, stripe: &Stripe, event_name: &str) -> Result<u64, Error> {
    let mut sent = 0;
    loop {
        let mut tx = pool.begin().await?;
        let due: Option<Due> = sqlx::query_as(
            "SELECT tenant_id, hour, identifier, stripe_customer, value FROM billing_meter_outbox
             WHERE sent_at IS NULL AND next_attempt_at <= now()
             ORDER BY hour LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(due) = due else {
            return Ok(sent);
        };
        let result = stripe
            .meter_event(
                event_name,
                &due.stripe_customer,
                due.value,
                &due.identifier,
                due.hour.unix_timestamp(),
            )
            .await;
        let update = match &result {
            Ok(()) => "UPDATE billing_meter_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL
                       WHERE tenant_id = $1 AND hour = $2"
                .to_string(),
            Err(_) => format!(
                "UPDATE billing_meter_outbox SET attempts = attempts + 1, last_error = $3,
                     next_attempt_at = now() + interval '{RETRY_AFTER}'
                 WHERE tenant_id = $1 AND hour = $2"
            ),
        };
        sqlx::query(&update)
            .bind(due.tenant_id)
            .bind(due.hour)
            .bind(result.as_ref().err().map(|e| e.to_string()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        match result {
            Ok(()) => {
                sent += 1;
                tracing::info!(tenant.id = %due.tenant_id, meter.identifier = %due.identifier, value = due.value, "overage reported");
            }
            Err(e) => {
                tracing::warn!(tenant.id = %due.tenant_id, meter.identifier = %due.identifier, error = %e, "overage report failed; will retry")
            }
        }
    }
}

/// Enqueues and drains every `every`, until the task is dropped.
pub async fn run(pool: PgPool, stripe: Stripe, event_name: String, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = enqueue(&pool).await {
            tracing::warn!(error = %e, "enqueueing overage failed");
        }
        if let Err(e) = drain(&pool, &stripe, &event_name).await {
            tracing::warn!(error = %e, "draining the meter outbox failed");
        }
    }
}
