//! CSRF tokens: one random token per session, embedded in every form and compared in constant
//! time. Forms are checked by the `CsrfForm` extractor before a handler runs; the admin API
//! checks the `X-CSRF-Token` header of a session caller's writes with [`verify_csrf`].

use crate::Error;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

const CSRF_KEY: &str = "csrf";

/// 32 random bytes, hex.
pub fn new_secret_hex() -> Result<String, Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|_| shoal_common::Error::Random)?;
    Ok(hex::encode(b))
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, Error> {
    if let Some(t) = session.get::<String>(CSRF_KEY).await? {
        return Ok(t);
    }
    let t = new_secret_hex()?;
    session.insert(CSRF_KEY, &t).await?;
    Ok(t)
}

/// Replaces the session's CSRF token (at sign-in).
pub(super) async fn reset(session: &Session, token: String) -> Result<(), Error> {
    session.insert(CSRF_KEY, token).await?;
    Ok(())
}

/// Checks a submitted CSRF token against the session's, in constant time.
pub async fn verify_csrf(session: &Session, given: &str) -> Result<(), Error> {
    let expected = session.get::<String>(CSRF_KEY).await?.unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(Error::Forbidden(
            "this form has expired or did not come from shoal; reload the page and try again".into(),
        ));
    }
    Ok(())
}
