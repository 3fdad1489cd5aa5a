//! Extractors for pages: [`SignedIn`] (others are sent to the start page) and [`CsrfForm`] (a
//! form whose CSRF token matched the session's).

use super::csrf::verify_csrf;
use super::page::PageError;
use super::session::{SessionUser, current_user, session_of};
use crate::Error;
use axum::Form;
use axum::body::{Body, Bytes};
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
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|r| {
                PageError(if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::TooLarge
                } else {
                    Error::BadRequest(format!("invalid form: {}", r.body_text()))
                })
            })?;
        check_form_encoding(&bytes)?;
        let Form(WithCsrf { csrf, form }) =
            Form::<WithCsrf<T>>::from_request(Request::from_parts(parts, Body::from(bytes)), state)
                .await
                .map_err(form_error)?;
        verify_csrf(&session, &csrf).await?;
        Ok(CsrfForm(form))
    }
}

/// A form body as browsers send it: ASCII, its escapes well formed and decoding to UTF-8. The
/// form parser would otherwise turn anything else into replacement characters and carry on.
fn check_form_encoding(body: &[u8]) -> Result<(), PageError> {
    let bad = || {
        PageError(Error::BadRequest(
            "invalid form: the body is not UTF-8 URL-encoded".into(),
        ))
    };
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut decoded = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    body.get(i + 1).copied().and_then(hex),
                    body.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(bad());
                };
                decoded.push(h << 4 | l);
                i += 3;
            }
            b if b.is_ascii() => {
                decoded.push(b);
                i += 1;
            }
            _ => return Err(bad()),
        }
    }
    std::str::from_utf8(&decoded).map(|_| ()).map_err(|_| bad())
}

fn form_error(r: FormRejection) -> PageError {
    PageError(if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge
    } else {
        Error::BadRequest(format!("invalid form: {}", r.body_text()))
    })
}

#[cfg(test)]
mod tests {
    use super::check_form_encoding;

    #[test]
    fn only_utf8_url_encoded_bodies_are_forms() {
        for ok in [&b""[..], b"csrf=ab&name=x+y", b"name=caf%C3%A9", b"a=%7e&b=%2B"] {
            assert!(check_form_encoding(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            &b"name=\xff\xfe"[..],
            b"name=caf\xc3\xa9",
            b"name=%zz",
            b"name=%C3",
            b"name=%",
            b"name=%ff",
        ] {
            assert!(check_form_encoding(bad).is_err(), "{bad:?}");
        }
    }
}
