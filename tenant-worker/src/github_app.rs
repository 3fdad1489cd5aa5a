//! GitHub App identities: sign an RS256 JWT as the app, exchange it at
//! `POST /app/installations/{id}/access_tokens` for an installation token, and keep that token
//! until 5 minutes before it expires. One refresh runs at a time per installation; callers that
//! arrive during it wait for its result.

use shoal_common::Secret;
use shoal_common::github::app::{AccessTokenOut, AppKey, AppKeyError, access_tokens_path};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Refresh an installation token this long before it expires.
pub const REFRESH_BEFORE_SECS: i64 = 5 * 60;

/// Why an App identity could not get a token. Messages never carry key material or tokens.
#[derive(Debug, thiserror::Error)]
pub enum AppAuthError {
    #[error(transparent)]
    Key(#[from] AppKeyError),
    #[error("token exchange failed: {0}")]
    Exchange(String),
    #[error("token exchange answered {status}: {message}")]
    Refused { status: u16, message: String },
}

/// An App installation's credentials. The key never leaves this struct and is never printed.
pub struct AppCredentials {
    key: AppKey,
    installation_id: u64,
    /// SHA-256 over app id, installation id and key: tells whether a new bundle changed them.
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AppCredentials(app {}, installation {})",
            self.key.app_id(),
            self.installation_id
        )
    }
}

impl AppCredentials {
    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub fn new(app_id: u64, installation_id: u64, private_key_pem: &Secret) -> Result<Self, AppAuthError> {
        Ok(Self {
            key: AppKey::new(app_id, private_key_pem.expose())?,
            installation_id,
            fingerprint: Self::fingerprint_of(app_id, installation_id, private_key_pem),
        })
    }

    /// The fingerprint credentials built from these values would have.
    pub fn fingerprint_of(app_id: u64, installation_id: u64, private_key_pem: &Secret) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(app_id.to_be_bytes());
        h.update(installation_id.to_be_bytes());
        h.update(private_key_pem.expose().as_bytes());
        h.finalize().into()
    }

    pub fn installation_id(&self) -> u64 {
        self.installation_id
    }

    /// The JWT GitHub wants for `/app/...` endpoints, valid from `now - 60 s` for 9 minutes.
    pub fn jwt(&self, now: i64) -> Result<Secret, AppAuthError> {
        Ok(self.key.jwt(now)?)
    }
}

/// An installation token and when it stops working.
#[derive(Debug, Clone)]
pub struct InstallationToken {
    pub token: Secret,
    /// Unix seconds.
    pub expires_at: i64,
}

impl InstallationToken {
    pub fn needs_refresh(&self, now: i64) -> bool {
        now >= self.expires_at - REFRESH_BEFORE_SECS
    }
}

/// Exchanges a fresh JWT for an installation token at `{api_base}/app/installations/{id}/access_tokens`.
pub async fn exchange(
    client: &reqwest::Client,
    api_base: &str,
    creds: &AppCredentials,
    now: i64,
) -> Result<InstallationToken, AppAuthError> {
    let jwt = creds.jwt(now)?;
    let url = format!(
        "{}{}",
        api_base.trim_end_matches('/'),
        access_tokens_path(creds.installation_id)
    );
    let resp = client
        .post(url)
        .header("authorization", format!("Bearer {}", jwt.expose()))
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "shoal-worker")
        .send()
        .await
        .map_err(|e| AppAuthError::Exchange(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    if status != 201 && status != 200 {
        let message = resp
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(|m| m.chars().take(200).collect())
            })
            .unwrap_or_default();
        return Err(AppAuthError::Refused { status, message });
    }
    let out: AccessTokenOut = resp
        .json()
        .await
        .map_err(|_| AppAuthError::Exchange("the answer was not an access token".into()))?;
    let expires_at = OffsetDateTime::parse(&out.expires_at, &Rfc3339)
        .map_err(|_| AppAuthError::Exchange("expires_at is not an RFC 3339 time".into()))?
        .unix_timestamp();
    Ok(InstallationToken {
        token: out.token,
        expires_at,
    })
}

/// Hands out a valid installation token, exchanging a new one when the cached one is within
/// [`REFRESH_BEFORE_SECS`] of expiry. The clock is passed in, so tests never sleep.
pub struct AppTokenSource {
    creds: AppCredentials,
    current: tokio::sync::Mutex<Option<InstallationToken>>,
}

impl AppTokenSource {
    /// Identifies the credentials (never reveals them).
    pub fn fingerprint(&self) -> [u8; 32] {
        self.creds.fingerprint
    }

    pub fn new(creds: AppCredentials) -> Self {
        Self {
            creds,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// A token valid at `now` (the worker's clock, which decides when to refresh). The JWT itself
    /// is dated by the system clock, since GitHub checks it against real time. Concurrent
    /// callers share one exchange.
    pub async fn token(&self, client: &reqwest::Client, api_base: &str, now: i64) -> Result<Secret, AppAuthError> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref().filter(|t| !t.needs_refresh(now)) {
            return Ok(t.token.clone());
        }
        let wall = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut fresh = exchange(client, api_base, &self.creds, wall).await?;
        // Keep the expiry on the worker's clock so a clock moved by tests ages it consistently.
        fresh.expires_at += now - wall;
        let token = fresh.token.clone();
        *current = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token (after GitHub answered 401 with it).
    pub async fn invalidate(&self) {
        *self.current.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/github-app");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
    }

    #[test]
    fn a_non_rsa_or_garbage_key_is_a_clear_error_without_the_key_in_it() {
        let err = AppCredentials::new(
            1,
            2,
            &Secret::new("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"),
        )
        .unwrap_err();
        assert!(matches!(err, AppAuthError::Key(AppKeyError::BadKey)));
        assert!(!err.to_string().contains("nope"));
        let creds = AppCredentials::new(1, 2, &Secret::new(fixture("app-pkcs8.pem"))).unwrap();
        assert_eq!(format!("{creds:?}"), "AppCredentials(app 1, installation 2)");
    }

    #[test]
    fn tokens_refresh_five_minutes_before_expiry() {
        let t = InstallationToken {
            token: Secret::new("ghs_x"),
            expires_at: 10_000,
        };
        assert!(!t.needs_refresh(10_000 - 301));
        assert!(t.needs_refresh(10_000 - 300));
        assert!(t.needs_refresh(20_000));
    }
}
