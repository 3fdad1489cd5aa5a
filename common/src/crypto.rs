//! Envelope encryption. A master key (32 bytes, from `SHOAL_MASTER_KEY` or a key file) wraps
//! per-tenant data keys; a data key seals identity secrets with an AAD that binds each ciphertext
//! to its tenant and record. Rotating the master key re-wraps data keys only.
//!
//! Every ciphertext is self-describing:
//!
//! ```text
//! magic "shl" | version 1 | kind (1 = wrapped data key, 2 = sealed secret) | key id (8) | nonce (12) | ciphertext+tag
//! ```
//!
//! The key id names the key that sealed it (the master key for kind 1, the data key for kind 2), so
//! a keyring holding the current and previous master keys can open any wrapped key during a rotation.
//! The header is part of the AAD, so editing any byte of it is detected like editing the body.

use crate::{Error, TenantId};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

const MAGIC: &[u8; 3] = b"shl";
const VERSION: u8 = 1;
const KIND_WRAPPED_KEY: u8 = 1;
const KIND_SEALED_SECRET: u8 = 2;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = MAGIC.len() + 2 + KEY_ID_LEN;
const TAG_LEN: usize = 16;

/// Env var holding the master key (64 hex chars, or base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "SHOAL_MASTER_KEY";
/// Env var naming a file that holds the master key in either encoding.
pub const MASTER_KEY_FILE_ENV: &str = "SHOAL_MASTER_KEY_FILE";

/// The first 8 bytes of SHA-256 over a domain tag and the key: names a key without revealing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    fn of(domain: &[u8], key: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(domain);
        h.update(key);
        let d = h.finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&d[..KEY_ID_LEN]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| Error::Random)?;
    Ok(b)
}

/// An AES-256 key with its id; zeroed on drop, never printed.
struct KeyMaterial {
    key: Zeroizing<[u8; 32]>,
    id: KeyId,
}

impl KeyMaterial {
    fn new(domain: &[u8], key: [u8; 32]) -> Self {
        let id = KeyId::of(domain, &key);
        Self {
            key: Zeroizing::new(key),
            id,
        }
    }

    fn seal(&self, kind: u8, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let header = header(kind, self.id);
        let aad = aad(&header, context);
        let cipher = Aes256Gcm::new_from_slice(&self.key[..]).map_err(|_| Error::Decrypt)?;
        let ct = cipher
            .encrypt(
                &Nonce::try_from(&nonce[..]).map_err(|_| Error::Malformed("nonce length"))?,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Decrypt)?;
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ct.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open(&self, parsed: &Parsed<'_>, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let aad = aad(parsed.header, context);
        let cipher = Aes256Gcm::new_from_slice(&self.key[..]).map_err(|_| Error::Decrypt)?;
        cipher
            .decrypt(
                &Nonce::try_from(parsed.nonce).map_err(|_| Error::Malformed("nonce length"))?,
                Payload {
                    msg: parsed.body,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| Error::Decrypt)
    }
}

fn header(kind: u8, id: KeyId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..3].copy_from_slice(MAGIC);
    h[3] = VERSION;
    h[4] = kind;
    h[5..].copy_from_slice(&id.0);
    h
}

fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(header.len() + context.len());
    a.extend_from_slice(header);
    a.extend_from_slice(context);
    a
}

struct Parsed<'a> {
    header: &'a [u8],
    key_id: KeyId,
    nonce: &'a [u8],
    body: &'a [u8],
}

fn parse(bytes: &[u8], want_kind: u8) -> Result<Parsed<'_>, Error> {
    if bytes.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(Error::Malformed("too short"));
    }
    if &bytes[..3] != MAGIC {
        return Err(Error::Malformed("not a shoal ciphertext"));
    }
    if bytes[3] != VERSION {
        return Err(Error::Malformed("unsupported version"));
    }
    if bytes[4] != want_kind {
        return Err(Error::Malformed("wrong kind of ciphertext"));
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&bytes[5..HEADER_LEN]);
    Ok(Parsed {
        header: &bytes[..HEADER_LEN],
        key_id: KeyId(id),
        nonce: &bytes[HEADER_LEN..HEADER_LEN + NONCE_LEN],
        body: &bytes[HEADER_LEN + NONCE_LEN..],
    })
}

fn data_key_context(tenant: TenantId) -> Vec<u8> {
    let mut c = b"shoal/data-key\0".to_vec();
    c.extend_from_slice(tenant.as_uuid().as_bytes());
    c
}

fn secret_context(tenant: TenantId, record: Uuid) -> Vec<u8> {
    let mut c = b"shoal/secret\0".to_vec();
    c.extend_from_slice(tenant.as_uuid().as_bytes());
    c.extend_from_slice(record.as_bytes());
    c
}

/// The root key. Loaded once at start; never printed.
pub struct MasterKey(KeyMaterial);

impl MasterKey {
    /// Parses 64 hex characters or standard/URL-safe base64 of exactly 32 bytes (whitespace trimmed).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        let bytes = Zeroizing::new(if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).map_err(|_| Error::MasterKeyInvalid("bad hex"))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(t))
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
                .map_err(|_| Error::MasterKeyInvalid("expected 64 hex chars or base64 of 32 bytes"))?
        });
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::MasterKeyInvalid("the key must be exactly 32 bytes"))?;
        Ok(Self(KeyMaterial::new(b"shoal/master-key", key)))
    }

    /// Reads a key file holding the key in either encoding.
    pub fn from_file(path: &std::path::Path) -> Result<Self, Error> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| Error::KeyFile {
            path: path.display().to_string(),
            source,
        })?);
        Self::parse(&text)
    }

    /// `SHOAL_MASTER_KEY`, else the file named by `SHOAL_MASTER_KEY_FILE`.
    pub fn from_env() -> Result<Self, Error> {
        if let Ok(v) = std::env::var(MASTER_KEY_ENV) {
            return Self::parse(&v);
        }
        if let Ok(p) = std::env::var(MASTER_KEY_FILE_ENV) {
            return Self::from_file(std::path::Path::new(&p));
        }
        Err(Error::MasterKeyMissing)
    }

    /// A new random master key, and its hex encoding to store (dev set-ups and tests).
    pub fn generate() -> Result<(Self, Zeroizing<String>), Error> {
        let key = random_bytes::<32>()?;
        let text = Zeroizing::new(hex::encode(key));
        Ok((Self(KeyMaterial::new(b"shoal/master-key", key)), text))
    }

    /// The id written into every data key this master key wraps.
    pub fn id(&self) -> KeyId {
        self.0.id
    }

    /// Wraps a tenant's data key.
    pub fn wrap(&self, key: &DataKey, tenant: TenantId) -> Result<WrappedDataKey, Error> {
        self.0
            .seal(KIND_WRAPPED_KEY, &key.0.key[..], &data_key_context(tenant))
            .map(WrappedDataKey)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.0.id)
    }
}

/// The current master key and the ones it replaced, so data keys wrapped by any of them open
/// while a rotation re-wraps them.
#[derive(Debug)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds a retired master key that can still unwrap, never wrap.
    pub fn with_previous(mut self, key: MasterKey) -> Self {
        self.previous.push(key);
        self
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Unwraps a tenant's data key with whichever loaded master key wrapped it.
    pub fn unwrap_key(&self, wrapped: &WrappedDataKey, tenant: TenantId) -> Result<DataKey, Error> {
        let parsed = parse(&wrapped.0, KIND_WRAPPED_KEY)?;
        let master = std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|k| k.0.id == parsed.key_id)
            .ok_or_else(|| Error::UnknownKey(parsed.key_id.to_string()))?;
        let raw = master.0.open(&parsed, &data_key_context(tenant))?;
        let key: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("data key length"))?;
        Ok(DataKey(KeyMaterial::new(b"shoal/data-key", key)))
    }

    /// Re-wraps a data key under the current master key. The secrets it sealed are untouched.
    pub fn rewrap(&self, wrapped: &WrappedDataKey, tenant: TenantId) -> Result<WrappedDataKey, Error> {
        let key = self.unwrap_key(wrapped, tenant)?;
        self.current.wrap(&key, tenant)
    }

    /// Whether this wrapped key still names a retired master key.
    pub fn needs_rewrap(&self, wrapped: &WrappedDataKey) -> Result<bool, Error> {
        Ok(parse(&wrapped.0, KIND_WRAPPED_KEY)?.key_id != self.current.0.id)
    }
}

/// A tenant's data key: seals that tenant's identity secrets.
pub struct DataKey(KeyMaterial);

impl DataKey {
    pub fn generate() -> Result<Self, Error> {
        Ok(Self(KeyMaterial::new(b"shoal/data-key", random_bytes::<32>()?)))
    }

    /// Seals a secret for one record of one tenant.
    pub fn seal(&self, plaintext: &[u8], tenant: TenantId, record: Uuid) -> Result<SealedSecret, Error> {
        self.0
            .seal(KIND_SEALED_SECRET, plaintext, &secret_context(tenant, record))
            .map(SealedSecret)
    }

    /// Opens a secret sealed for exactly this tenant and record.
    pub fn open(&self, sealed: &SealedSecret, tenant: TenantId, record: Uuid) -> Result<Zeroizing<Vec<u8>>, Error> {
        let parsed = parse(&sealed.0, KIND_SEALED_SECRET)?;
        if parsed.key_id != self.0.id {
            return Err(Error::UnknownKey(parsed.key_id.to_string()));
        }
        self.0.open(&parsed, &secret_context(tenant, record))
    }

    /// Opens a secret that is UTF-8 text (tokens, PEM keys).
    pub fn open_string(&self, sealed: &SealedSecret, tenant: TenantId, record: Uuid) -> Result<crate::Secret, Error> {
        let bytes = self.open(sealed, tenant, record)?;
        let s = std::str::from_utf8(&bytes).map_err(|_| Error::Malformed("secret is not UTF-8"))?;
        Ok(crate::Secret::new(s))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({})", self.0.id)
    }
}

macro_rules! ciphertext_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// Wraps bytes read from storage; they are checked when opened.
            pub fn from_bytes(bytes: Vec<u8>) -> Self {
                Self(bytes)
            }
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
            pub fn into_bytes(self) -> Vec<u8> {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({} bytes)", stringify!($name), self.0.len())
            }
        }
    };
}

ciphertext_type!(
    /// A data key wrapped by a master key, as stored in `tenants.wrapped_data_key`.
    WrappedDataKey
);
ciphertext_type!(
    /// A secret sealed by a tenant's data key, as stored in `identities.sealed_secret`.
    SealedSecret
);

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::generate().unwrap().0
    }

    #[test]
    fn seal_and_open_round_trip() {
        let mk = master();
        let tenant = TenantId::new();
        let record = Uuid::new_v4();
        let dk = DataKey::generate().unwrap();
        let wrapped = mk.wrap(&dk, tenant).unwrap();
        let ring = Keyring::new(mk);
        let dk2 = ring.unwrap_key(&wrapped, tenant).unwrap();
        let sealed = dk.seal(b"ghp_secret", tenant, record).unwrap();
        assert_eq!(&dk2.open(&sealed, tenant, record).unwrap()[..], b"ghp_secret");
        assert_eq!(dk2.open_string(&sealed, tenant, record).unwrap().expose(), "ghp_secret");
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let dk = DataKey::generate().unwrap();
        let (t, r) = (TenantId::new(), Uuid::new_v4());
        assert_ne!(dk.seal(b"x", t, r).unwrap(), dk.seal(b"x", t, r).unwrap());
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let dk = DataKey::generate().unwrap();
        let (t, r) = (TenantId::new(), Uuid::new_v4());
        let sealed = dk.seal(b"ghp_secret_value", t, r).unwrap();
        for i in 0..sealed.0.len() * 8 {
            let mut bytes = sealed.0.clone();
            bytes[i / 8] ^= 1 << (i % 8);
            assert!(
                dk.open(&SealedSecret(bytes), t, r).is_err(),
                "bit {i} flip not detected"
            );
        }
    }

    #[test]
    fn wrong_tenant_or_record_is_refused() {
        let dk = DataKey::generate().unwrap();
        let (t, r) = (TenantId::new(), Uuid::new_v4());
        let sealed = dk.seal(b"s", t, r).unwrap();
        assert!(matches!(dk.open(&sealed, TenantId::new(), r), Err(Error::Decrypt)));
        assert!(matches!(dk.open(&sealed, t, Uuid::new_v4()), Err(Error::Decrypt)));
    }

    #[test]
    fn wrong_data_key_is_refused() {
        let (t, r) = (TenantId::new(), Uuid::new_v4());
        let sealed = DataKey::generate().unwrap().seal(b"s", t, r).unwrap();
        assert!(DataKey::generate().unwrap().open(&sealed, t, r).is_err());
    }

    #[test]
    fn wrapped_key_is_bound_to_its_tenant() {
        let mk = master();
        let t = TenantId::new();
        let wrapped = mk.wrap(&DataKey::generate().unwrap(), t).unwrap();
        let ring = Keyring::new(mk);
        assert!(matches!(
            ring.unwrap_key(&wrapped, TenantId::new()),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn wrong_master_key_is_refused_not_garbage() {
        let t = TenantId::new();
        let wrapped = master().wrap(&DataKey::generate().unwrap(), t).unwrap();
        assert!(matches!(
            Keyring::new(master()).unwrap_key(&wrapped, t),
            Err(Error::UnknownKey(_))
        ));
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let dk = DataKey::generate().unwrap();
        let (t, r) = (TenantId::new(), Uuid::new_v4());
        assert!(dk.open(&SealedSecret(vec![]), t, r).is_err());
        assert!(dk.open(&SealedSecret(b"hello world".to_vec()), t, r).is_err());
        let sealed = dk.seal(b"abc", t, r).unwrap();
        for n in 0..sealed.0.len() {
            assert!(dk.open(&SealedSecret(sealed.0[..n].to_vec()), t, r).is_err());
        }
        // A wrapped key is not a sealed secret, and the other way round.
        let mk = master();
        let wrapped = mk.wrap(&dk, t).unwrap();
        assert!(dk.open(&SealedSecret(wrapped.0.clone()), t, r).is_err());
        assert!(Keyring::new(mk).unwrap_key(&WrappedDataKey(sealed.0), t).is_err());
    }

    #[test]
    fn rotation_rewraps_data_keys_and_secrets_still_open() {
        let old = master();
        let t = TenantId::new();
        let r = Uuid::new_v4();
        let dk = DataKey::generate().unwrap();
        let wrapped_old = old.wrap(&dk, t).unwrap();
        let sealed = dk.seal(b"ghp_rotate_me", t, r).unwrap();

        let new = master();
        let new_id = new.id();
        let ring = Keyring::new(new).with_previous(old);
        assert!(ring.needs_rewrap(&wrapped_old).unwrap());
        let wrapped_new = ring.rewrap(&wrapped_old, t).unwrap();
        assert!(!ring.needs_rewrap(&wrapped_new).unwrap());
        assert_eq!(parse(&wrapped_new.0, KIND_WRAPPED_KEY).unwrap().key_id, new_id);

        // After rotation only the new master key is needed, and the sealed secret is unchanged.
        let only_new = Keyring {
            current: ring.current,
            previous: vec![],
        };
        let dk2 = only_new.unwrap_key(&wrapped_new, t).unwrap();
        assert_eq!(&dk2.open(&sealed, t, r).unwrap()[..], b"ghp_rotate_me");
        assert!(only_new.unwrap_key(&wrapped_old, t).is_err());
    }

    #[test]
    fn master_key_parses_hex_and_base64_and_rejects_bad_lengths() {
        let raw = [7u8; 32];
        let hex_key = MasterKey::parse(&hex::encode(raw)).unwrap();
        let b64_key = MasterKey::parse(&base64::engine::general_purpose::STANDARD.encode(raw)).unwrap();
        assert_eq!(hex_key.id(), b64_key.id());
        assert!(MasterKey::parse("abcd").is_err());
        assert!(MasterKey::parse(&hex::encode([1u8; 31])).is_err());
        assert!(MasterKey::parse("").is_err());
        let err = MasterKey::parse("not a key at all!").unwrap_err().to_string();
        assert!(err.contains("32 bytes"));
    }

    #[test]
    fn master_key_loads_from_file_and_debug_hides_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.key");
        let (k, text) = MasterKey::generate().unwrap();
        std::fs::write(&p, format!("{}\n", &*text)).unwrap();
        let loaded = MasterKey::from_file(&p).unwrap();
        assert_eq!(loaded.id(), k.id());
        assert!(!format!("{loaded:?}").contains(&text[..16]));
        assert!(MasterKey::from_file(&dir.path().join("missing")).is_err());
    }
}
