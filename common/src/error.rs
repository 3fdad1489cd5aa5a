//! The one error type of `shoal-common`.

/// Everything that can go wrong in the shared primitives. Messages never carry key material,
/// plaintext or tokens.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "master key is missing: set SHOAL_MASTER_KEY (64 hex chars or base64 of 32 bytes) or SHOAL_MASTER_KEY_FILE"
    )]
    MasterKeyMissing,
    #[error("master key is invalid: {0}")]
    MasterKeyInvalid(&'static str),
    #[error("could not read key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("ciphertext is malformed: {0}")]
    Malformed(&'static str),
    #[error("ciphertext was sealed with key {0}, which is not loaded")]
    UnknownKey(String),
    #[error("decryption failed: wrong key, wrong context or tampered data")]
    Decrypt,
    #[error("the operating system's random source failed")]
    Random,
    #[error("caller token is malformed")]
    TokenMalformed,
}
