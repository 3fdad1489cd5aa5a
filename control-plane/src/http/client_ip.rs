//! The client's address, for rate limits and the audit log.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};

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
