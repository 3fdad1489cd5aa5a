//! Signs the session cookie: the browser holds `<session id>.<HMAC-SHA256(pepper, id)>`, and a
//! cookie whose signature does not verify (constant time) is dropped before the session layer
//! sees it. Session ids are already random; the signature means a guessed or planted id is
//! refused without a database lookup.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use shoal_common::token::{Pepper, TokenHash, hash_token};
use std::sync::Arc;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "shoal_session";

/// The key cookies are signed with.
#[derive(Clone)]
pub struct CookieSigner(Arc<Pepper>);

impl CookieSigner {
    /// Signs with a key derived from the pepper (a separate input domain from token hashes).
    pub fn new(pepper: Pepper) -> Self {
        Self(Arc::new(pepper))
    }

    fn mac(&self, id: &str) -> TokenHash {
        hash_token(&self.0, &format!("shoal-session-cookie\0{id}"))
    }

    fn sign(&self, id: &str) -> String {
        format!("{id}.{}", self.mac(id).to_hex())
    }

    fn verify<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (id, sig) = value.rsplit_once('.')?;
        let given = TokenHash::from_hex(sig).ok()?;
        (given == self.mac(id)).then_some(id)
    }
}

/// Verifies incoming session cookies and signs outgoing ones.
pub async fn sign_session_cookie(State(signer): State<CookieSigner>, mut req: Request, next: Next) -> Response {
    let incoming: Vec<HeaderValue> = req.headers_mut().remove(header::COOKIE).into_iter().collect();
    let mut kept = Vec::new();
    for value in incoming.iter().filter_map(|v| v.to_str().ok()) {
        for pair in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((SESSION_COOKIE, v)) => {
                    if let Some(id) = signer.verify(v) {
                        kept.push(format!("{SESSION_COOKIE}={id}"));
                    }
                }
                _ => kept.push(pair.to_string()),
            }
        }
    }
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        req.headers_mut().insert(header::COOKIE, v);
    }
    let mut resp = next.run(req).await;
    let outgoing: Vec<HeaderValue> = resp.headers_mut().remove(header::SET_COOKIE).into_iter().collect();
    for v in outgoing {
        let signed = v.to_str().ok().and_then(|text| {
            let rest = text.strip_prefix(&format!("{SESSION_COOKIE}="))?;
            let (id, attrs) = rest.split_once(';').unwrap_or((rest, ""));
            if id.is_empty() {
                return None;
            }
            let sep = if attrs.is_empty() { "" } else { ";" };
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={}{sep}{attrs}", signer.sign(id))).ok()
        });
        resp.headers_mut().append(header::SET_COOKIE, signed.unwrap_or(v));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signed_id_verifies() {
        let s = CookieSigner::new(Pepper::generate().unwrap());
        let signed = s.sign("abc123");
        assert_eq!(s.verify(&signed), Some("abc123"));
        assert_eq!(s.verify("abc123"), None);
        assert_eq!(s.verify(&signed.replace("abc123", "abc124")), None);
        let other = CookieSigner::new(Pepper::generate().unwrap());
        assert_eq!(other.verify(&signed), None);
    }
}
