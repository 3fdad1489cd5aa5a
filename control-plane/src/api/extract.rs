//! axum's `Json` and `Path` extractors with their rejections turned into the API's one error
//! body (`{"message": ...}` with a 4xx), instead of axum's `text/plain` answers.

use crate::Error;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON request body; a body that is not JSON, lacks `Content-Type: application/json` or does
/// not fit the type is a 400 that says why, one over the limit a 413.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Error::TooLarge),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::BadRequest(
                "invalid JSON body: send it with Content-Type: application/json".into(),
            )),
            Err(r) => Err(Error::BadRequest(format!("invalid JSON body: {}", r.body_text()))),
        }
    }
}

/// Path parameters; one that does not parse (an id that is not a UUID) is a 400 that names it.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(r) if r.status().is_client_error() => Err(Error::BadRequest(r.body_text())),
            // The route and the handler's parameter types disagree: a bug, logged as such.
            Err(r) => Err(Error::Config(format!("path parameters: {}", r.body_text()))),
        }
    }
}
