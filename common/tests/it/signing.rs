//! Signed internal requests: a signature verifies for exactly the request it was made for; any
//! change to the method, path, body, timestamp, nonce or signature, or another worker's secret,
//! is refused; arbitrary header values never panic the verifier; a nonce is accepted once.

use proptest::prelude::*;
use shoal_common::Secret;
use shoal_common::signing::{REPLAY_WINDOW_SECS, ReplayGuard, Signature, VerifyError, sign, verify};

const NOW: i64 = 1_800_000_000;

fn method() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_signature_verifies_for_its_own_request_only(
        secret in "[ -~]{16,64}",
        other_secret in "[ -~]{16,64}",
        m in method(),
        path in "/[ -~]{0,80}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        flip in any::<prop::sample::Index>(),
        skew in -REPLAY_WINDOW_SECS..=REPLAY_WINDOW_SECS,
    ) {
        let key = Secret::new(secret.clone());
        let sig = sign(&key, m, &path, &body, NOW).unwrap();
        prop_assert_eq!(verify(&key, m, &path, &body, &sig, NOW + skew), Ok(()));
        // Lower-case methods are the same method.
        prop_assert_eq!(verify(&key, &m.to_ascii_lowercase(), &path, &body, &sig, NOW), Ok(()));

        let bad = Err(VerifyError::BadSignature);
        if other_secret != secret {
            prop_assert_eq!(verify(&Secret::new(other_secret), m, &path, &body, &sig, NOW), bad.clone());
        }
        let other_method = if m == "GET" { "POST" } else { "GET" };
        prop_assert_eq!(verify(&key, other_method, &path, &body, &sig, NOW), bad.clone());
        prop_assert_eq!(verify(&key, m, &format!("{path}x"), &body, &sig, NOW), bad.clone());
        let mut longer = body.clone();
        longer.push(0);
        prop_assert_eq!(verify(&key, m, &path, &longer, &sig, NOW), bad.clone());
        if !body.is_empty() {
            let mut flipped = body.clone();
            flipped[flip.index(body.len())] ^= 1;
            prop_assert_eq!(verify(&key, m, &path, &flipped, &sig, NOW), bad.clone());
        }
        let moved = Signature { timestamp: sig.timestamp + 1, ..sig.clone() };
        prop_assert_eq!(verify(&key, m, &path, &body, &moved, NOW), bad.clone());
        let renonced = Signature { nonce: format!("{}0", &sig.nonce[1..]), ..sig.clone() };
        prop_assert_eq!(verify(&key, m, &path, &body, &renonced, NOW), bad.clone());
        let mut hex = sig.signature.clone().into_bytes();
        let at = 3 + flip.index(hex.len() - 3);
        hex[at] = if hex[at] == b'0' { b'1' } else { b'0' };
        let tampered = Signature { signature: String::from_utf8(hex).unwrap(), ..sig.clone() };
        prop_assert_eq!(verify(&key, m, &path, &body, &tampered, NOW), bad);
        // Outside the window: expired, whatever else is right.
        prop_assert_eq!(
            verify(&key, m, &path, &body, &sig, NOW + REPLAY_WINDOW_SECS + 1),
            Err(VerifyError::Expired)
        );
    }

    #[test]
    fn arbitrary_signature_headers_are_refused_never_a_panic(
        timestamp in any::<i64>(),
        nonce in ".{0,100}",
        signature in ".{0,100}",
        path in ".{0,100}",
    ) {
        let key = Secret::new("k".repeat(32));
        let sig = Signature { timestamp, nonce, signature };
        prop_assert!(verify(&key, "GET", &path, b"", &sig, NOW).is_err());
        let _ = ReplayGuard::default().check(&sig, NOW);
    }

    #[test]
    fn a_nonce_is_accepted_once_within_the_window(secret in "[a-z]{32}", n in 1usize..20) {
        let key = Secret::new(secret);
        let guard = ReplayGuard::default();
        for i in 0..n {
            let sig = sign(&key, "GET", "/internal/v1/bundle", b"", NOW + i as i64).unwrap();
            prop_assert_eq!(guard.check(&sig, NOW + i as i64), Ok(()));
            prop_assert_eq!(guard.check(&sig, NOW + i as i64), Err(VerifyError::Replayed));
        }
    }
}

/// Found by the property above: `now - timestamp` overflowed (a panic in debug builds, a wrap
/// in release) for a timestamp header near `i64::MIN` or `i64::MAX`.
#[test]
fn extreme_timestamps_are_expired_not_an_overflow() {
    let key = Secret::new("k".repeat(32));
    for timestamp in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
        let sig = Signature {
            timestamp,
            nonce: "n".into(),
            signature: format!("v1={}", "00".repeat(32)),
        };
        assert_eq!(verify(&key, "GET", "/", b"", &sig, NOW), Err(VerifyError::Expired));
        assert_eq!(ReplayGuard::default().check(&sig, NOW), Ok(()));
    }
}
