//! Extractors for pages: [`SignedIn`] (others are sent to the start page) and [`CsrfForm`] (a
//! form whose CSRF token matched the session's).

use super::csrf::verify_csrf;
use super::page::PageError;
use super::session::{SessionUser, current_user, session_of};
use crate::Error;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower_sessions::Session;

/// A signed-in user and their session. Pages that need one send others to the sign-in page.
pub struct SignedIn {
    /// The user.
    pub user: SessionUser,
    /// Their session.
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = session_of(parts, state).await?;
        match current_user(&session).await? {
            Some(user) => Ok(SignedIn { user, session }),
            None => Err(PageError(Error::Unauthorized("sign in first".into()))),
        }
    }
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
