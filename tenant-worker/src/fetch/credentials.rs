//! Upstream credentials per pooled identity at call time: a PAT's header as is, an App
//! installation's token minted (and refreshed 5 minutes before expiry) through
//! [`crate::github_app::AppTokenSource`]. A failed exchange cools the identity down so other
//! identities serve meanwhile, instead of failing the caller.

use crate::coordinator::Coordinator;
use crate::tenant::{Identity, IdentityAuth};

/// How long an App identity stays out of selection after a failed token exchange.
pub const REFRESH_FAILURE_COOLDOWN_MS: u64 = 60_000;

/// The `Authorization` value for `ident`, or why it cannot be used right now (already logged;
/// the identity is cooling down when the cause was a failed App token exchange). `upstream` is
/// the API base the installation token is minted at.
pub async fn authorization(
    ident: &Identity,
    client: &reqwest::Client,
    upstream: &str,
    coord: &Coordinator,
    now_ms: u64,
) -> Result<String, String> {
    match &ident.auth {
        IdentityAuth::Token(_) => ident.authorization().ok_or_else(|| "no token".to_string()),
        IdentityAuth::Unusable(why) => Err(why.clone()),
        IdentityAuth::App(source) => match source.token(client, upstream, (now_ms / 1000) as i64).await {
            Ok(t) => Ok(format!("token {}", t.expose())),
            Err(e) => {
                tracing::warn!(identity.name = %ident.name, error = %e, "App installation token exchange failed; identity cools down");
                let e = e.to_string();
                coord.cool_down(
                    ident.id,
                    now_ms + REFRESH_FAILURE_COOLDOWN_MS,
                    &format!("App installation {e}"),
                );
                Err(e)
            }
        },
    }
}

/// After GitHub answered 401 to `ident`: an App's installation token is dropped and the
/// identity cools down briefly instead of staying quarantined (the next use mints a new
/// token; a revoked installation then fails the exchange and keeps cooling down). A PAT
/// stays quarantined.
pub async fn unauthorized(ident: &Identity, coord: &Coordinator, now_ms: u64) {
    if let IdentityAuth::App(source) = &ident.auth {
        source.invalidate().await;
        coord.lift_quarantine(ident.id);
        coord.cool_down(
            ident.id,
            now_ms + REFRESH_FAILURE_COOLDOWN_MS,
            "GitHub refused its installation token (401); a new one is minted after the cooldown",
        );
        tracing::warn!(identity.name = %ident.name, "GitHub refused the installation token; a new one is minted after a cooldown");
    }
}
