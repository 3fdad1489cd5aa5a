//! Authenticating a worker's request: its id names its row, whose sealed secret (opened with the
//! tenant's data key) must have signed this exact request within the replay window, once.

use crate::Error;
use crate::billing::Account;
use crate::billing::standing::ACCOUNT_COLS;
use crate::state::AppState;
use axum::http::{HeaderMap, Uri};
use shoal_common::crypto::{SealedSecret, WrappedDataKey};
use shoal_common::signing::{self, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_WORKER, Signature};
use shoal_common::{TenantId, WorkerId};
use uuid::Uuid;

/// A worker whose request verified.
#[derive(Debug, Clone, Copy)]
pub struct AuthedWorker {
    pub tenant: TenantId,
    pub worker: WorkerId,
    /// Whether the tenant is served now (its standing, see [`crate::billing::standing`]).
    pub tenant_active: bool,
}

#[derive(sqlx::FromRow)]
struct WorkerRow {
    tenant_id: Uuid,
    sealed_secret: Option<Vec<u8>>,
    wrapped_data_key: Vec<u8>,
    #[sqlx(flatten)]
    account: Account,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn refused() -> Error {
    Error::Unauthorized("unknown worker or bad signature".into())
}

/// Verifies the request's signature headers against the worker's secret.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Result<AuthedWorker, Error> {
    let worker: Uuid = header(headers, HEADER_WORKER)
        .and_then(|v| v.parse().ok())
        .ok_or_else(refused)?;
    let sig = Signature {
        timestamp: header(headers, HEADER_TIMESTAMP)
            .and_then(|v| v.parse().ok())
            .ok_or_else(refused)?,
        nonce: header(headers, HEADER_NONCE).ok_or_else(refused)?.to_string(),
        signature: header(headers, HEADER_SIGNATURE).ok_or_else(refused)?.to_string(),
    };
    // Authentication comes before we know the tenant, like a login lookup: by the worker's id.
    let sql = format!(
        "SELECT w.tenant_id, w.sealed_secret, t.wrapped_data_key, {ACCOUNT_COLS}
         FROM workers w JOIN tenants t ON t.id = w.tenant_id WHERE w.id = $1"
    );
    let row: Option<WorkerRow> = sqlx::query_as(&sql).bind(worker).fetch_optional(&state.pool).await?;
    let Some(WorkerRow {
        tenant_id,
        sealed_secret: Some(sealed),
        wrapped_data_key: wrapped,
        account,
    }) = row
    else {
        return Err(refused());
    };
    let tenant = TenantId(tenant_id);
    let data_key = state
        .config
        .keys
        .keyring
        .unwrap_key(&WrappedDataKey::from_bytes(wrapped), tenant)?;
    let secret = data_key.open_string(&SealedSecret::from_bytes(sealed), tenant, worker)?;
    let now = time::OffsetDateTime::now_utc();
    signing::verify(&secret, method, path_and_query, body, &sig, now.unix_timestamp())
        .and_then(|()| state.replay.check(&sig, now.unix_timestamp()))
        .map_err(|e| Error::Unauthorized(e.to_string()))?;
    Ok(AuthedWorker {
        tenant,
        worker: WorkerId(worker),
        tenant_active: account.standing(&state.config.billing, now).serves(),
    })
}

/// Authenticates a long-polling `GET` of an active tenant's worker and reads its only, optional
/// query parameter `after=<n>` (`what` names `n` in the error).
pub async fn authenticate_long_poll(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    what: &str,
) -> Result<(AuthedWorker, Option<u64>), Error> {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let worker = authenticate(state, headers, "GET", path_and_query, b"").await?;
    if !worker.tenant_active {
        return Err(Error::Forbidden("the tenant is suspended".into()));
    }
    let after = match uri.query() {
        None => None,
        Some(q) => Some(
            q.strip_prefix("after=")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::BadRequest(format!("the only query parameter is after=<{what}>")))?,
        ),
    };
    Ok((worker, after))
}
