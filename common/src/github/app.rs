//! GitHub App authentication: the RS256 JWT an App signs for `/app/...` endpoints and the
//! installation-token exchange's path and answer. The control plane uses it to prove an App at
//! registration, the worker to mint installation tokens.

use crate::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// GitHub allows at most 10 minutes; a little less leaves room for clock drift.
const JWT_LIFETIME_SECS: i64 = 9 * 60;
/// GitHub's advice: backdate `iat` by 60 s against clock drift.
const JWT_BACKDATE_SECS: i64 = 60;

/// Why an App key could not be used. Messages never carry key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppKeyError {
    #[error("the App private key is not an RSA key in PKCS#8 or PKCS#1 PEM")]
    BadKey,
    #[error("could not sign the App JWT")]
    Sign,
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// An App's signing key. The key never leaves this struct and is never printed.
pub struct AppKey {
    app_id: u64,
    key: EncodingKey,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppKey(app {})", self.app_id)
    }
}

impl AppKey {
    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub fn new(app_id: u64, private_key_pem: &str) -> Result<Self, AppKeyError> {
        let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|_| AppKeyError::BadKey)?;
        Ok(Self { app_id, key })
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// The JWT GitHub wants for `/app/...` endpoints, valid from `now - 60 s` for 9 minutes
    /// (`now` in Unix seconds).
    pub fn jwt(&self, now: i64) -> Result<Secret, AppKeyError> {
        let claims = Claims {
            iat: now - JWT_BACKDATE_SECS,
            exp: now + JWT_LIFETIME_SECS,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(Secret::new)
            .map_err(|_| AppKeyError::Sign)
    }
}

/// Where an App exchanges its JWT for an installation token (relative to the API base).
pub fn access_tokens_path(installation_id: u64) -> String {
    format!("/app/installations/{installation_id}/access_tokens")
}

/// GitHub's answer to the exchange. `Debug` never shows the token.
#[derive(Deserialize)]
pub struct AccessTokenOut {
    pub token: Secret,
    /// RFC 3339.
    pub expires_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    fn fixture(name: &str) -> String {
        let path = format!("{}/../tests/fixtures/github-app/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
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
            let jwt = AppKey::new(42, &fixture(key)).unwrap().jwt(now).unwrap();
            let claims = verify(jwt.expose(), &fixture("app-public.pem")).unwrap();
            assert_eq!(
                (claims.iat, claims.exp, claims.iss.as_str()),
                (now - 60, now + 540, "42")
            );
            assert!(
                claims.exp - claims.iat <= 600,
                "GitHub refuses a JWT living more than 10 minutes"
            );
        }
    }

    #[test]
    fn a_jwt_from_another_key_does_not_verify() {
        let jwt = AppKey::new(1, &fixture("other-pkcs8.pem"))
            .unwrap()
            .jwt(1_800_000_000)
            .unwrap();
        assert!(verify(jwt.expose(), &fixture("app-public.pem")).is_err());
    }

    #[test]
    fn a_key_that_is_not_rsa_pem_is_refused_without_echoing_it() {
        let err = AppKey::new(1, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----").unwrap_err();
        assert_eq!(err, AppKeyError::BadKey);
        assert!(!err.to_string().contains("not a key"));
    }

    #[test]
    fn the_exchange_answer_hides_its_token() {
        let out: AccessTokenOut =
            serde_json::from_str(r#"{"token":"ghs_secret","expires_at":"2030-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(out.token.expose(), "ghs_secret");
        assert!(!format!("{:?}", out.token).contains("ghs_secret"));
    }
}
