//! The session cookie's name and signing key, and the signed-in user as kept in the session.

use super::csrf::new_secret_hex;
use crate::Error;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use shoal_common::UserId;
use shoal_common::token::{Pepper, hash_token};
use tower_sessions::Session;
use tower_sessions::cookie::Key;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "shoal_session";

const USER_KEY: &str = "user";

/// The key the session layer signs cookies with (HMAC-SHA256), derived from the pepper in an
/// input domain of its own. A cookie whose signature does not verify is no session, so a
/// guessed or planted id is refused without a store lookup.
pub fn cookie_key(pepper: &Pepper) -> Key {
    let half = |n: u8| hash_token(pepper, &format!("shoal-session-cookie\0{n}"));
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(half(1).as_bytes());
    bytes[32..].copy_from_slice(half(2).as_bytes());
    Key::from(&bytes)
}

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

impl SessionOrg {
    /// Whether the user administers the org.
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

impl SessionUser {
    /// Orgs the user administers.
    pub fn admin_orgs(&self) -> impl Iterator<Item = &SessionOrg> {
        self.orgs.iter().filter(|o| o.is_admin())
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
