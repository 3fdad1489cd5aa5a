//! Who is asking: the signed-in user in the session, the client address, CSRF tokens for forms
//! and one-shot flash messages. Session data never holds a GitHub token or a caller token.

use crate::Error;
use crate::web::PageError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use shoal_common::UserId;
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

const USER_KEY: &str = "user";
const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";

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
    session.insert(CSRF_KEY, new_secret_hex()?).await?;
    Ok(())
}

/// The user in the session, if any.
pub async fn current_user(session: &Session) -> Result<Option<SessionUser>, Error> {
    Ok(session.get(USER_KEY).await?)
}

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

/// A one-shot message shown on the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `ok` or `error`.
    pub kind: String,
    /// The text.
    pub message: String,
}

/// Queues a message for the next page.
pub async fn flash(session: &Session, kind: &str, message: impl Into<String>) -> Result<(), Error> {
    session
        .insert(
            FLASH_KEY,
            Flash {
                kind: kind.into(),
                message: message.into(),
            },
        )
        .await?;
    Ok(())
}

/// Takes the queued message, if any.
pub async fn take_flash(session: &Session) -> Result<Option<Flash>, Error> {
    Ok(session.remove(FLASH_KEY).await?)
}

/// The client's address: the socket peer, or, when the peer is on loopback (our own edge, which
/// appends the address it saw to `X-Forwarded-For`), the last address in that header. A peer
/// elsewhere cannot choose its address (and so its rate-limit bucket) with the header.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    fn of(peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Self {
        let forwarded = || forwarded_for?.rsplit(',').next()?.trim().parse().ok();
        ClientIp(match peer {
            Some(p) if p.is_loopback() => forwarded().or(Some(p)),
            other => other,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let forwarded_for = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Ok(ClientIp::of(peer, forwarded_for))
    }
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
        let session = Session::from_request_parts(parts, state).await.map_err(|_| {
            PageError(Error::Session(tower_sessions::session::Error::Store(
                tower_sessions::session_store::Error::Backend("session layer missing".into()),
            )))
        })?;
        match current_user(&session).await? {
            Some(user) => Ok(SignedIn { user, session }),
            None => Err(PageError(Error::Unauthorized("sign in first".into()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edge_names_the_client_and_others_cannot() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let edge = ip("127.0.0.1");
        assert_eq!(ClientIp::of(edge, Some("9.9.9.9, 203.0.113.7")).0, ip("203.0.113.7"));
        assert_eq!(ClientIp::of(edge, None).0, edge);
        assert_eq!(ClientIp::of(edge, Some("garbage")).0, edge);
        let remote = ip("198.51.100.1");
        assert_eq!(ClientIp::of(remote, Some("203.0.113.7")).0, remote);
    }
}
