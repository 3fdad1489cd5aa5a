//! GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`.
//! The control plane verifies it on every delivery; the fake GitHub signs with it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header GitHub signs deliveries with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The event name (`push`, `pull_request`, `ping`, ...).
pub const EVENT_HEADER: &str = "x-github-event";
/// The delivery's unique id (the same on a redelivery).
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// The `X-Hub-Signature-256` value for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, body).finalize().into_bytes()))
}

/// Whether `header` is `body`'s signature under `secret`, compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(sig) = header.trim().strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    mac(secret, body).verify_slice(&sig).is_ok()
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    m.update(body);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_documented_example_verifies() {
        // The example from GitHub's "Validating webhook deliveries".
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify(b"It's a Secret to Everybody", b"Hello, World!", header));
        assert_eq!(sign(b"It's a Secret to Everybody", b"Hello, World!"), header);
        assert!(!verify(b"another secret", b"Hello, World!", header));
        assert!(!verify(b"It's a Secret to Everybody", b"Hello, World?", header));
        assert!(!verify(b"It's a Secret to Everybody", b"Hello, World!", "sha256=zz"));
        assert!(!verify(b"It's a Secret to Everybody", b"Hello, World!", ""));
    }
}
