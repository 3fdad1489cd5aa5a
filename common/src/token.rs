//! Caller tokens: `shoal_` + 32 random bytes in base62 (43 characters). They are shown to their
//! owner once and stored only as HMAC-SHA256(pepper, token); lookups compare in constant time.

use crate::{Error, Secret};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Every caller token starts with this.
pub const TOKEN_PREFIX: &str = "shoal_";
const BODY_LEN: usize = 43;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// How many characters of a token a UI may show: `shoal_` and the first 6 of the body.
const DISPLAY_LEN: usize = TOKEN_PREFIX.len() + 6;

/// Base62 of a 256-bit big-endian number, left-padded to 43 characters.
fn base62(bytes: &[u8; 32]) -> String {
    let mut num = *bytes;
    let mut out = [b'0'; BODY_LEN];
    for slot in out.iter_mut().rev() {
        let mut rem: u32 = 0;
        for b in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*b);
            *b = (acc / 62) as u8;
            rem = acc % 62;
        }
        *slot = ALPHABET[rem as usize];
    }
    String::from_utf8(out.to_vec()).expect("alphabet is ASCII")
}

/// A new caller token. Show it once; store only [`hash_token`] of it.
pub fn generate_token() -> Result<Secret, Error> {
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut raw[..]).map_err(|_| Error::Random)?;
    Ok(Secret::new(format!("{TOKEN_PREFIX}{}", base62(&raw))))
}

/// Whether a string has the shape of a caller token (cheap check before hashing).
pub fn looks_like_token(token: &str) -> bool {
    token.len() == TOKEN_PREFIX.len() + BODY_LEN
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The part of a token safe to show in UIs and lists, e.g. `shoal_3kF9aQ`.
pub fn display_prefix(token: &str) -> Result<String, Error> {
    if !looks_like_token(token) {
        return Err(Error::TokenMalformed);
    }
    Ok(token[..DISPLAY_LEN].to_string())
}

/// The server-side key that token hashes are made with. Never printed.
#[derive(Clone)]
pub struct Pepper(Zeroizing<Vec<u8>>);

impl Pepper {
    /// At least 32 bytes of secret key material.
    pub fn new(bytes: Vec<u8>) -> Result<Self, Error> {
        if bytes.len() < 32 {
            return Err(Error::MasterKeyInvalid("the token pepper must be at least 32 bytes"));
        }
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// A fresh random pepper.
    pub fn generate() -> Result<Self, Error> {
        let mut b = vec![0u8; 32];
        getrandom::fill(&mut b).map_err(|_| Error::Random)?;
        Self::new(b)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

/// HMAC-SHA256(pepper, token). Its `Debug` shows only the type name.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// From storage (a `bytea` column or hex on the wire).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        bytes.try_into().map(Self).map_err(|_| Error::TokenMalformed)
    }

    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let v = hex::decode(text).map_err(|_| Error::TokenMalformed)?;
        Self::from_slice(&v)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PartialEq for TokenHash {
    /// Constant time.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash")
    }
}

/// HMAC-SHA256(pepper, token).
pub fn hash_token(pepper: &Pepper, token: &str) -> TokenHash {
    TokenHasher::new(pepper).hash(token)
}

/// [`hash_token`] with the pepper's HMAC key schedule done once: a server that hashes the token of
/// every request keeps one, and each hash then costs two SHA-256 blocks instead of four. Its
/// `Debug` shows only the type name.
#[derive(Clone)]
pub struct TokenHasher(Hmac<Sha256>);

impl TokenHasher {
    pub fn new(pepper: &Pepper) -> Self {
        Self(Hmac::<Sha256>::new_from_slice(pepper.as_bytes()).expect("HMAC takes any key length"))
    }

    /// HMAC-SHA256(pepper, token), as [`hash_token`] computes it.
    pub fn hash(&self, token: &str) -> TokenHash {
        let mut mac = self.0.clone();
        mac.update(token.as_bytes());
        let mut h = [0u8; 32];
        h.copy_from_slice(&mac.finalize().into_bytes());
        TokenHash(h)
    }
}

impl fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHasher([redacted])")
    }
}

/// Finds the entry whose hash matches, comparing against every candidate so the time taken does
/// not depend on where (or whether) the match is.
pub fn find_constant_time<'a, T>(
    hash: &TokenHash,
    candidates: impl IntoIterator<Item = (&'a TokenHash, T)>,
) -> Option<T> {
    let mut found = None;
    for (h, item) in candidates {
        if h == hash && found.is_none() {
            found = Some(item);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let t = generate_token().unwrap();
        let s = t.expose();
        assert!(s.starts_with("shoal_"));
        assert_eq!(s.len(), 6 + 43);
        assert!(looks_like_token(s));
        assert_ne!(generate_token().unwrap().expose(), s);
        assert_eq!(display_prefix(s).unwrap(), &s[..12]);
    }

    #[test]
    fn base62_of_edges() {
        assert_eq!(base62(&[0u8; 32]), "0".repeat(43));
        // 2^256 - 1, checked against an independent big-integer conversion.
        assert_eq!(base62(&[0xff; 32]), "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
        let mut one = [0u8; 32];
        one[31] = 61;
        assert!(base62(&one).ends_with('z'));
    }

    #[test]
    fn hashing_depends_on_pepper_and_token() {
        let p1 = Pepper::generate().unwrap();
        let p2 = Pepper::generate().unwrap();
        let t = generate_token().unwrap();
        assert_eq!(hash_token(&p1, t.expose()), hash_token(&p1, t.expose()));
        assert_ne!(hash_token(&p1, t.expose()), hash_token(&p2, t.expose()));
        assert_ne!(
            hash_token(&p1, t.expose()),
            hash_token(&p1, generate_token().unwrap().expose())
        );
        let h = hash_token(&p1, t.expose());
        assert_eq!(TokenHash::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(format!("{h:?}"), "TokenHash");
        assert!(!format!("{p1:?}").contains(&hex::encode(&p1.as_bytes()[..4])));
    }

    #[test]
    fn known_answer_hmac() {
        // Computed independently with Python's hmac module; both sides must agree byte for byte.
        let p = Pepper::new(vec![0x0b; 32]).unwrap();
        assert_eq!(
            hash_token(&p, "shoal_test").to_hex(),
            "2cd440f5dc7e0fd997e6c92632b70eeeba50b57a1ab9ea28b1e168b0a5177ae7"
        );
        assert!(Pepper::new(vec![0; 31]).is_err());
    }

    #[test]
    fn lookup_finds_the_matching_entry_only() {
        let p = Pepper::generate().unwrap();
        let tokens: Vec<_> = (0..5).map(|_| generate_token().unwrap()).collect();
        let hashes: Vec<_> = tokens.iter().map(|t| hash_token(&p, t.expose())).collect();
        let probe = hash_token(&p, tokens[3].expose());
        assert_eq!(find_constant_time(&probe, hashes.iter().zip(0..)), Some(3));
        let unknown = hash_token(&p, generate_token().unwrap().expose());
        assert_eq!(find_constant_time(&unknown, hashes.iter().zip(0..)), None);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in [
            "",
            "shoal_",
            "ghp_abc",
            "shoal_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert!(!looks_like_token(bad));
            assert!(display_prefix(bad).is_err());
        }
    }

    proptest! {
        #[test]
        fn the_keyed_hasher_hashes_as_hash_token_does(pepper in proptest::collection::vec(any::<u8>(), 32..100), token in ".{0,80}") {
            let pepper = Pepper::new(pepper).unwrap();
            let hasher = TokenHasher::new(&pepper);
            prop_assert_eq!(hasher.hash(&token).to_hex(), hash_token(&pepper, &token).to_hex());
            prop_assert_eq!(hasher.hash(&token).to_hex(), hasher.hash(&token).to_hex());
        }

        #[test]
        fn base62_is_injective_and_fixed_width(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let (ea, eb) = (base62(&a), base62(&b));
            prop_assert_eq!(ea.len(), 43);
            prop_assert_eq!(a == b, ea == eb);
        }
    }
}
