//! The signed-in user, as kept in the session, and the [`SignedIn`] extractor.

use super::csrf::new_secret_hex;
use super::page::PageError;
use crate::Error;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use shoal_common::UserId;
use tower_sessions::Session;

const USER_KEY: &str = "user";

/// A GitHub org the user belongs to, with their role, as GitHub reported it at sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionOrg {
    /// Org login.
    pub login: String,
    /// GitHub's org id.
    pub id: i64,
    /// `admin` or `member`.
    pub role: String,
}

/// The signed-in user, as kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    /// Our id.
    pub id: UserId,
    /// GitHub login.
    pub login: String,
    /// Display name.
    pub name: Option<String>,
    /// Orgs with an active membership, verified with GitHub at sign-in.
    pub orgs: Vec<SessionOrg>,
}

impl SessionUser {
    /// Orgs the user administers.
    pub fn admin_orgs(&self) -> impl Iterator<Item = &SessionOrg> {
        self.orgs.iter().filter(|o| o.role == "admin")
    }
}

/// Stores the user after a successful sign-in.
pub async fn sign_in(session: &Session, user: &SessionUser) -> Result<(), Error> {
    // A fresh id at privilege change: a session id planted before sign-in is useless after it.
    session.cycle_id().await?;
    session.insert(USER_KEY, user).await?;
    super::csrf::reset(session, new_secret_hex()?).await
}

/// The user in the session, if any.
pub async fn current_user(session: &Session) -> Result<Option<SessionUser>, Error> {
    Ok(session.get(USER_KEY).await?)
}

/// The session of a request, which the session layer always provides.
pub(super) async fn session_of<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Session, Error> {
    Session::from_request_parts(parts, state).await.map_err(|_| {
        Error::Session(tower_sessions::session::Error::Store(
            tower_sessions::session_store::Error::Backend("session layer missing".into()),
        ))
    })
}

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
