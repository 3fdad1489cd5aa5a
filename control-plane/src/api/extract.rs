//! axum's `Json` and `Path` extractors with their rejections turned into the API's one error
//! body (`{"message": ...}` with a 4xx), instead of axum's `text/plain` answers.

use crate::Error;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

/// A JSON object request body; a body that is not one, lacks `Content-Type: application/json`
/// or does not fit the type is a 400 that says why, one over the limit a 413.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        if !is_json(req.headers()) {
            return Err(Error::BadRequest(
                "invalid JSON body: send it with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge,
            _ => Error::BadRequest(format!("could not read the body: {}", r.body_text())),
        })?;
        // serde also reads a struct from an array (`[null, null]`); every body here is an object.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(Error::BadRequest("invalid JSON body: send a JSON object".into()));
        }
        axum::Json::from_bytes(&bytes)
            .map(|axum::Json(value)| Json(value))
            .map_err(|r| Error::BadRequest(format!("invalid JSON body: {}", r.body_text())))
    }
}

/// `application/json`, or another `application/...+json` type, as axum's `Json` accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
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
