//! The frame every page renders in ([`Layout`]), how a form post ends ([`form_result`]), and
//! errors as pages ([`PageError`]).

use super::flash::{Flash, flash, take_flash};
use super::session::{SessionUser, current_user};
use crate::Error;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

/// What every page's frame needs: who is signed in, the form token, a one-shot message.
pub struct Layout {
    /// Signed-in user.
    pub user: Option<SessionUser>,
    /// CSRF token for forms on this page.
    pub csrf: String,
    /// Message from the previous action.
    pub flash: Option<Flash>,
}

impl Layout {
    /// The frame for this session.
    pub async fn load(session: &Session) -> Result<Self, Error> {
        let user = current_user(session).await?;
        // Anonymous visitors get no form token, so a drive-by visit stores no session row.
        let csrf = match user {
            Some(_) => super::csrf::csrf_token(session).await?,
            None => String::new(),
        };
        Ok(Self {
            user,
            csrf,
            flash: take_flash(session).await?,
        })
    }

    /// A frame with nobody signed in (error pages).
    pub fn anonymous() -> Self {
        Self {
            user: None,
            csrf: String::new(),
            flash: None,
        }
    }
}

/// Ends a form post: success goes to `ok_to` with a message; a client error goes back to
/// `err_to` with the reason (nothing was changed); anything else is an error page.
pub async fn form_result(
    session: &Session,
    result: Result<String, Error>,
    ok_to: &str,
    err_to: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(msg) => {
            flash(session, "ok", msg).await?;
            Ok(Redirect::to(ok_to).into_response())
        }
        Err(e) if e.status().is_client_error() && !matches!(e, Error::Unauthorized(_) | Error::NotFound) => {
            flash(session, "error", e.public_message()).await?;
            Ok(Redirect::to(err_to).into_response())
        }
        Err(e) => Err(PageError(e)),
    }
}

/// An error on a page: sign-in problems send the browser to the start page, everything else
/// renders the error page with the same message the JSON API would give.
#[derive(Debug)]
pub struct PageError(pub Error);

impl<E: Into<Error>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        e.log();
        if matches!(e, Error::Unauthorized(_)) {
            return Redirect::to("/").into_response();
        }
        let status = e.status();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::TOO_MANY_REQUESTS => "Slow down",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let message = match e {
            Error::NotFound => "There is nothing here, or you are not a member of this tenant.".into(),
            e => e.public_message(),
        };
        let page = ErrorPage {
            layout: Layout::anonymous(),
            status: status.as_u16(),
            title,
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, "error").into_response(),
        }
    }
}
