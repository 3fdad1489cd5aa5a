//! Request signing for the internal API between a worker and the control plane. Each worker has
//! its own secret; every request carries a timestamp, a nonce and an HMAC-SHA256 over
//!
//! ```text
//! v1 \n METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n hex(SHA-256(body))
//! ```
//!
//! The receiver refuses a timestamp outside the replay window, a nonce it has seen within the
//! window, or a signature that does not match (compared in constant time).

use crate::{Error, Secret};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// Names the worker (its `WorkerId`).
pub const HEADER_WORKER: &str = "x-shoal-worker";
/// Unix seconds when the request was signed.
pub const HEADER_TIMESTAMP: &str = "x-shoal-timestamp";
/// Random, unique per request.
pub const HEADER_NONCE: &str = "x-shoal-nonce";
/// `v1=<hex hmac>`.
pub const HEADER_SIGNATURE: &str = "x-shoal-signature";
/// How far a timestamp may be from the receiver's clock, either way.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// The headers to attach to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub timestamp: i64,
    pub nonce: String,
    /// `v1=<hex>`.
    pub signature: String,
}

/// Why a signed request was refused. The messages are safe to return to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing or malformed signature headers")]
    Malformed,
    #[error("timestamp is outside the {REPLAY_WINDOW_SECS} s window: check the worker's clock")]
    Expired,
    #[error("this request was already received")]
    Replayed,
    #[error("signature does not match")]
    BadSignature,
}

fn mac(secret: &Secret, method: &str, path_and_query: &str, timestamp: i64, nonce: &str, body: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key length");
    let body_hash = hex::encode(Sha256::digest(body));
    m.update(
        format!(
            "v1\n{}\n{path_and_query}\n{timestamp}\n{nonce}\n{body_hash}",
            method.to_ascii_uppercase()
        )
        .as_bytes(),
    );
    m.finalize().into_bytes().into()
}

/// Signs a request at time `now` (unix seconds).
pub fn sign(secret: &Secret, method: &str, path_and_query: &str, body: &[u8], now: i64) -> Result<Signature, Error> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|_| Error::Random)?;
    let nonce = hex::encode(raw);
    let sig = mac(secret, method, path_and_query, now, &nonce, body);
    Ok(Signature {
        timestamp: now,
        nonce,
        signature: format!("v1={}", hex::encode(sig)),
    })
}

/// Checks a signature's MAC and timestamp (not the nonce: see [`ReplayGuard`]).
pub fn verify(
    secret: &Secret,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    sig: &Signature,
    now: i64,
) -> Result<(), VerifyError> {
    let hex_sig = sig.signature.strip_prefix("v1=").ok_or(VerifyError::Malformed)?;
    let given = hex::decode(hex_sig).map_err(|_| VerifyError::Malformed)?;
    if sig.nonce.is_empty() || sig.nonce.len() > 64 {
        return Err(VerifyError::Malformed);
    }
    // abs_diff: a timestamp header near i64::MIN or MAX must not overflow the subtraction.
    if now.abs_diff(sig.timestamp) > REPLAY_WINDOW_SECS.unsigned_abs() {
        return Err(VerifyError::Expired);
    }
    let want = mac(secret, method, path_and_query, sig.timestamp, &sig.nonce, body);
    if given.len() != want.len() || !bool::from(want.ct_eq(&given[..])) {
        return Err(VerifyError::BadSignature);
    }
    Ok(())
}

/// Remembers nonces seen within the replay window so an identical request is refused.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayGuard {
    /// Records the nonce of a verified request; `Err(Replayed)` if it was already seen.
    pub fn check(&self, sig: &Signature, now: i64) -> Result<(), VerifyError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, ts| now.abs_diff(*ts) <= REPLAY_WINDOW_SECS.unsigned_abs());
        if seen.insert(sig.nonce.clone(), sig.timestamp).is_some() {
            return Err(VerifyError::Replayed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn secret() -> Secret {
        Secret::new("a-worker-secret-of-enough-length-0123456789")
    }

    #[test]
    fn a_signed_request_verifies() {
        let s = sign(&secret(), "post", "/internal/v1/usage", b"{}", NOW).unwrap();
        assert!(s.signature.starts_with("v1="));
        assert_eq!(
            verify(&secret(), "POST", "/internal/v1/usage", b"{}", &s, NOW + 10),
            Ok(())
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let s = sign(&secret(), "GET", "/internal/v1/bundle?after=3", b"", NOW).unwrap();
        let bad = VerifyError::BadSignature;
        assert_eq!(
            verify(
                &Secret::new("other"),
                "GET",
                "/internal/v1/bundle?after=3",
                b"",
                &s,
                NOW
            ),
            Err(bad.clone())
        );
        assert_eq!(
            verify(&secret(), "POST", "/internal/v1/bundle?after=3", b"", &s, NOW),
            Err(bad.clone())
        );
        assert_eq!(
            verify(&secret(), "GET", "/internal/v1/bundle?after=4", b"", &s, NOW),
            Err(bad.clone())
        );
        assert_eq!(
            verify(&secret(), "GET", "/internal/v1/bundle?after=3", b"x", &s, NOW),
            Err(bad.clone())
        );
        let mut other_nonce = s.clone();
        other_nonce.nonce = "00".repeat(16);
        assert_eq!(
            verify(&secret(), "GET", "/internal/v1/bundle?after=3", b"", &other_nonce, NOW),
            Err(bad.clone())
        );
        let mut other_ts = s.clone();
        other_ts.timestamp += 1;
        assert_eq!(
            verify(&secret(), "GET", "/internal/v1/bundle?after=3", b"", &other_ts, NOW),
            Err(bad)
        );
    }

    #[test]
    fn old_or_future_timestamps_are_refused() {
        let s = sign(&secret(), "GET", "/p", b"", NOW).unwrap();
        assert_eq!(
            verify(&secret(), "GET", "/p", b"", &s, NOW + REPLAY_WINDOW_SECS + 1),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            verify(&secret(), "GET", "/p", b"", &s, NOW - REPLAY_WINDOW_SECS - 1),
            Err(VerifyError::Expired)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let mut s = sign(&secret(), "GET", "/p", b"", NOW).unwrap();
        s.signature = s.signature.replace("v1=", "v2=");
        assert_eq!(
            verify(&secret(), "GET", "/p", b"", &s, NOW),
            Err(VerifyError::Malformed)
        );
        s.signature = "v1=zz".into();
        assert_eq!(
            verify(&secret(), "GET", "/p", b"", &s, NOW),
            Err(VerifyError::Malformed)
        );
        s.signature = "v1=abcd".into();
        assert_eq!(
            verify(&secret(), "GET", "/p", b"", &s, NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_replayed_nonce_is_refused_within_the_window() {
        let guard = ReplayGuard::default();
        let s = sign(&secret(), "GET", "/p", b"", NOW).unwrap();
        assert_eq!(guard.check(&s, NOW), Ok(()));
        assert_eq!(guard.check(&s, NOW + 1), Err(VerifyError::Replayed));
        let fresh = sign(&secret(), "GET", "/p", b"", NOW).unwrap();
        assert_eq!(guard.check(&fresh, NOW + 1), Ok(()));
    }
}
