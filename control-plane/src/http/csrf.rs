//! CSRF tokens: one random token per session, embedded in every form and compared in constant
//! time. [`CsrfForm`] checks it before a handler runs; the admin API checks the `X-CSRF-Token`
//! header of a session caller's writes with [`verify_csrf`].

use super::page::PageError;
use super::session::session_of;
use crate::Error;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
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

/// A posted form whose `csrf` field matched the session's token. `T` holds the other fields.
pub struct CsrfForm<T>(pub T);

/// A form with no fields besides its CSRF token (a button).
#[derive(Debug, Deserialize)]
pub struct Confirm {}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequest<S> for CsrfForm<T> {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let session = session_of(&mut parts, state).await?;
        let Form(WithCsrf { csrf, form }) = Form::<WithCsrf<T>>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(form_error)?;
        verify_csrf(&session, &csrf).await?;
        Ok(CsrfForm(form))
    }
}

fn form_error(r: FormRejection) -> PageError {
    PageError(if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge
    } else {
        Error::BadRequest(format!("invalid form: {}", r.body_text()))
    })
}
