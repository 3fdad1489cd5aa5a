//! GitHub App identities: sign an RS256 JWT as the app, exchange it at
//! `POST /app/installations/{id}/access_tokens` for an installation token, and keep that token
//! until 5 minutes before it expires. One refresh runs at a time per installation; callers that
//! arrive during it wait for its result.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use shoal_common::Secret;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// GitHub allows at most 10 minutes; a little less leaves room for clock drift.
const JWT_LIFETIME_SECS: i64 = 9 * 60;
/// GitHub's advice: backdate `iat` by 60 s against clock drift.
const JWT_BACKDATE_SECS: i64 = 60;
/// Refresh an installation token this long before it expires.
pub const REFRESH_BEFORE_SECS: i64 = 5 * 60;

/// Why an App identity could not get a token. Messages never carry key material or tokens.
#[derive(Debug, thiserror::Error)]
pub enum AppAuthError {
    #[error("the App private key is not an RSA key in PKCS#8 or PKCS#1 PEM")]
    BadKey,
    #[error("could not sign the App JWT")]
    Sign,
    #[error("token exchange failed: {0}")]
    Exchange(String),
    #[error("token exchange answered {status}: {message}")]
    Refused { status: u16, message: String },
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// An App installation's credentials. The key never leaves this struct and is never printed.
pub struct AppCredentials {
    app_id: u64,
    installation_id: u64,
    key: EncodingKey,
    /// SHA-256 over app id, installation id and key: tells whether a new bundle changed them.
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AppCredentials(app {}, installation {})",
            self.app_id, self.installation_id
        )
    }
}

impl AppCredentials {
    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub fn new(app_id: u64, installation_id: u64, private_key_pem: &Secret) -> Result<Self, AppAuthError> {
        let key = EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes()).map_err(|_| AppAuthError::BadKey)?;
        let fingerprint = Self::fingerprint_of(app_id, installation_id, private_key_pem);
        Ok(Self {
            app_id,
            installation_id,
            key,
            fingerprint,
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
        let claims = Claims {
            iat: now - JWT_BACKDATE_SECS,
            exp: now + JWT_LIFETIME_SECS,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(Secret::new)
            .map_err(|_| AppAuthError::Sign)
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

#[derive(Deserialize)]
struct AccessTokenOut {
    token: String,
    expires_at: String,
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
        "{}/app/installations/{}/access_tokens",
        api_base.trim_end_matches('/'),
        creds.installation_id
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
        token: Secret::new(out.token),
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
    use jsonwebtoken::{DecodingKey, Validation, decode};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/github-app");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
    }

    #[derive(Deserialize)]
    struct Decoded {
        iat: i64,
        exp: i64,
        iss: String,
    }

    fn verify(jwt: &str, public_pem: &str) -> Result<Decoded, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        decode::<Decoded>(jwt, &DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap(), &v).map(|d| d.claims)
    }

    #[test]
    fn jwt_is_rs256_backdated_and_short_lived_for_both_key_encodings() {
        let now = 1_800_000_000;
        for key in ["app-pkcs8.pem", "app-pkcs1.pem"] {
            let creds = AppCredentials::new(4242, 7, &Secret::new(fixture(key))).unwrap();
            let jwt = creds.jwt(now).unwrap();
            let claims = verify(jwt.expose(), &fixture("app-public.pem")).unwrap();
            assert_eq!(claims.iss, "4242");
            assert_eq!(claims.iat, now - 60);
            assert!(
                claims.exp - claims.iat <= 600,
                "GitHub refuses a JWT living more than 10 minutes"
            );
            assert!(claims.exp > now);
        }
    }

    #[test]
    fn a_jwt_from_another_key_does_not_verify() {
        let creds = AppCredentials::new(1, 2, &Secret::new(fixture("other-pkcs8.pem"))).unwrap();
        assert!(verify(creds.jwt(1_800_000_000).unwrap().expose(), &fixture("app-public.pem")).is_err());
    }

    #[test]
    fn a_non_rsa_or_garbage_key_is_a_clear_error_without_the_key_in_it() {
        let err = AppCredentials::new(
            1,
            2,
            &Secret::new("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"),
        )
        .unwrap_err();
        assert!(matches!(err, AppAuthError::BadKey));
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
