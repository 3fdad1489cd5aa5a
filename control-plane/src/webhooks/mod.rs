//! GitHub webhooks a tenant forwards to shoal: each tenant's webhook secrets (generated here,
//! sealed with the tenant's data key, rotatable with a 24 h grace for the previous one) and the
//! deliveries accepted for it, stored once each by `X-GitHub-Delivery` with a cursor that orders
//! them for the tenant's worker. Receiving is [`receive`]; the HTTP side is `crate::hooks`.

use crate::Error;
use crate::access::{TenantAdmin, TenantMember};
use crate::audit::{self, Actor};
use crate::db::{TenantTx, begin_tenant};
use crate::state::AppState;
use crate::tenants::{self, Role, data_key};
use shoal_common::Secret;
use shoal_common::crypto::{DataKey, SealedSecret};
use shoal_common::github::webhook;
use uuid::Uuid;

pub mod feed;

/// The events to select when registering the webhook: the ones that change what the cache holds.
pub const EVENTS: &[&str] = &[
    "push",
    "pull_request",
    "pull_request_review",
    "issues",
    "issue_comment",
    "check_run",
    "check_suite",
    "status",
    "workflow_run",
    "workflow_job",
    "release",
    "create",
    "delete",
    "repository",
];

/// How long a rotated-out secret is still accepted, so deliveries signed before the new secret
/// was saved on GitHub's side get through.
pub const PREVIOUS_SECRET_GRACE: &str = "24 hours";

/// What the settings page shows about the tenant's webhook.
pub struct WebhookSettings {
    /// Where GitHub sends the deliveries.
    pub url: String,
    /// The current secret, for admins only.
    pub secret: Option<Secret>,
    /// When the last delivery (an event or a ping) arrived, UTC.
    pub last_delivery: Option<String>,
    /// Whether one arrived within [`LIVE_WITHIN`]: the tenant's worker then caches the routes
    /// events cover longer, since a change arrives as an event.
    pub live: bool,
}

/// How recent the last delivery must be for the webhook to count as live (the worker's rule).
pub const LIVE_WITHIN: &str = "1 hour";

/// The webhook's URL and, for an admin, its current secret (generated on first use).
pub async fn settings(state: &AppState, member: &TenantMember) -> Result<WebhookSettings, Error> {
    let mut tx = member.begin(state).await?;
    let secret = match member.role {
        Role::Admin => {
            let dk = data_key(&mut tx, &state.config.keys).await?;
            Some(current_secret(&mut tx, &dk).await?)
        }
        Role::Member => None,
    };
    let (last_delivery, live): (Option<String>, bool) = sqlx::query_as(
        "SELECT to_char(max(received_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'),
                COALESCE(max(received_at) > now() - $2::interval, false)
         FROM webhook_events WHERE tenant_id = $1",
    )
    .bind(tx.tenant().as_uuid())
    .bind(LIVE_WITHIN)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(WebhookSettings {
        url: url(state, &member.tenant.slug),
        secret,
        last_delivery,
        live,
    })
}

/// `POST /webhooks/github/<slug>` on the control plane's public URL.
pub fn url(state: &AppState, slug: &str) -> String {
    state
        .public_url
        .join(&format!("webhooks/github/{slug}"))
        .map(String::from)
        .unwrap_or_default()
}

/// Replaces the current secret with a new one; the previous one keeps working for
/// [`PREVIOUS_SECRET_GRACE`]. Audited (never with a secret).
pub async fn rotate(state: &AppState, admin: &TenantAdmin) -> Result<(), Error> {
    let mut tx = admin.begin(state).await?;
    let dk = data_key(&mut tx, &state.config.keys).await?;
    lock_secrets(&mut tx).await?;
    let retired: Option<Uuid> = sqlx::query_scalar(
        "UPDATE webhook_secrets SET retired_at = now() WHERE tenant_id = $1 AND retired_at IS NULL RETURNING id",
    )
    .bind(tx.tenant().as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let (id, _) = insert_secret(&mut tx, &dk).await?;
    audit::record(
        &mut tx,
        Actor::from(admin),
        "webhook_secret.rotate",
        &id.to_string(),
        serde_json::json!({ "previous": retired, "previous_valid_for": PREVIOUS_SECRET_GRACE }),
    )
    .await?;
    tx.commit().await
}

/// The current secret, created when the tenant has none.
async fn current_secret(tx: &mut TenantTx, dk: &DataKey) -> Result<Secret, Error> {
    lock_secrets(tx).await?;
    let row: Option<(Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, sealed_secret FROM webhook_secrets WHERE tenant_id = $1 AND retired_at IS NULL")
            .bind(tx.tenant().as_uuid())
            .fetch_optional(&mut **tx)
            .await?;
    match row {
        Some((id, sealed)) => Ok(dk.open_string(&SealedSecret::from_bytes(sealed), tx.tenant(), id)?),
        None => Ok(insert_secret(tx, dk).await?.1),
    }
}

/// Serialises the changes of a tenant's current secret (two first views or two rotations at once
/// would otherwise both insert one, and the second would break the unique index).
async fn lock_secrets(tx: &mut TenantTx) -> Result<(), Error> {
    sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tx.tenant().as_uuid())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Generates, seals and stores a new current secret (32 random bytes, hex).
async fn insert_secret(tx: &mut TenantTx, dk: &DataKey) -> Result<(Uuid, Secret), Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|_| shoal_common::Error::Random)?;
    let secret = Secret::new(hex::encode(raw));
    let id = Uuid::new_v4();
    let sealed = dk.seal(secret.expose().as_bytes(), tx.tenant(), id)?;
    sqlx::query("INSERT INTO webhook_secrets (id, tenant_id, sealed_secret) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(tx.tenant().as_uuid())
        .bind(sealed.as_bytes())
        .execute(&mut **tx)
        .await?;
    Ok((id, secret))
}

/// A delivery as it arrived: the raw body and GitHub's headers.
pub struct Delivery<'a> {
    pub signature: Option<&'a str>,
    pub event: Option<&'a str>,
    pub delivery_id: Option<&'a str>,
    pub body: &'a [u8],
}

/// What became of a verified delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored, to be delivered to the tenant's worker.
    Accepted,
    /// This delivery id was stored before (a redelivery): nothing changed.
    Duplicate,
}

/// Verifies a delivery for the tenant `slug` against its live secrets (the current one and those
/// rotated out within the grace) and stores it once. An unknown tenant, a missing or forged
/// signature: `Unauthorized`, checked before anything in the delivery is read.
pub async fn receive(state: &AppState, slug: &str, d: Delivery<'_>) -> Result<Received, Error> {
    let refused = || Error::Unauthorized("the X-Hub-Signature-256 header is missing or does not match".into());
    let signature = d.signature.ok_or_else(refused)?;
    let tenant = match tenants::resolve(&state.pool, slug).await {
        Ok(t) => t,
        Err(Error::NotFound) => return Err(refused()),
        Err(e) => return Err(e),
    };
    let mut tx = begin_tenant(&state.pool, tenant.id).await?;
    if !signed_by_live_secret(&mut tx, &state.config.keys, signature, d.body).await? {
        return Err(refused());
    }
    let (Some(event), Some(delivery_id)) = (d.event, d.delivery_id) else {
        return Err(Error::BadRequest(
            "a GitHub delivery carries X-GitHub-Event and X-GitHub-Delivery".into(),
        ));
    };
    if !(1..=100).contains(&event.len()) || !(1..=100).contains(&delivery_id.len()) {
        return Err(Error::BadRequest(
            "X-GitHub-Event or X-GitHub-Delivery is empty or too long".into(),
        ));
    }
    let payload: serde_json::Value = serde_json::from_slice(d.body).map_err(|_| {
        Error::BadRequest("the delivery's body is not JSON (set the content type to application/json)".into())
    })?;
    // GitHub's payloads are objects; anything else is not a delivery, however it is signed.
    if !payload.is_object() {
        return Err(Error::BadRequest("the delivery's body is not a JSON object".into()));
    }
    let stored = sqlx::query(
        "INSERT INTO webhook_events (tenant_id, delivery_id, event, payload) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, delivery_id) DO NOTHING",
    )
    .bind(tx.tenant().as_uuid())
    .bind(delivery_id)
    .bind(event)
    .bind(&payload)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Committing notifies the tenant's waiting change-feed polls (a trigger, see `db::changes`).
    tx.commit().await?;
    tracing::info!(tenant.slug = %tenant.slug, webhook.event = event, webhook.delivery = delivery_id, duplicate = stored == 0, "webhook received");
    Ok(if stored == 0 {
        Received::Duplicate
    } else {
        Received::Accepted
    })
}

/// Whether `signature` is the body's under the current secret or one rotated out within the grace.
async fn signed_by_live_secret(
    tx: &mut TenantTx,
    keys: &crate::config::Keys,
    signature: &str,
    body: &[u8],
) -> Result<bool, Error> {
    let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT id, sealed_secret FROM webhook_secrets
         WHERE tenant_id = $1 AND (retired_at IS NULL OR retired_at > now() - $2::interval)",
    )
    .bind(tx.tenant().as_uuid())
    .bind(PREVIOUS_SECRET_GRACE)
    .fetch_all(&mut **tx)
    .await?;
    if rows.is_empty() {
        return Ok(false);
    }
    let dk = data_key(tx, keys).await?;
    let mut any = false;
    for (id, sealed) in rows {
        let secret = dk.open(&SealedSecret::from_bytes(sealed), tx.tenant(), id)?;
        // Every live secret is tried, so the time taken does not say which one matched.
        any |= webhook::verify(&secret, body, signature);
    }
    Ok(any)
}
