//! Sealing grant tokens inside outbox payloads (XChaCha20-Poly1305).
//!
//! The outbox must carry the raw grant token until the email is sent, yet a database
//! dump must not hand anyone a working link. So the token is encrypted with a key
//! that lives in configuration, not in the database, and the sealed copy is erased
//! once the message is sent or has failed for good. The message id is the associated
//! data: a sealed token copied into another row does not open.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

/// The 32-byte key that seals grant tokens in the outbox. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxKey([u8; 32]);

impl OutboxKey {
    /// Wraps 32 key bytes (from configuration; generate them with a CSPRNG).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key, for tests and throw-away databases: tokens sealed with it
    /// cannot be opened after a restart.
    #[must_use]
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Seals `secret` for the row `row_id`: base64url of nonce ‖ ciphertext.
    pub(crate) fn seal(&self, secret: &str, row_id: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: row_id })
            .map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(nonce.len() + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens what [`OutboxKey::seal`] produced for the same row.
    pub(crate) fn open(&self, sealed: &str, row_id: &[u8]) -> Result<String, SealError> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| SealError)?;
        if raw.len() < 24 {
            return Err(SealError);
        }
        let (nonce, ciphertext) = raw.split_at(24);
        let plain = self
            .cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: row_id })
            .map_err(|_| SealError)?;
        String::from_utf8(plain).map_err(|_| SealError)
    }
}

impl fmt::Debug for OutboxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutboxKey(<redacted>)")
    }
}

/// A sealed token that does not open with this key for this row (wrong key, other
/// row, or tampered with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed token does not open with the configured outbox key")]
pub(crate) struct SealError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_only_with_its_key_and_row() {
        let key = OutboxKey::from_bytes([7; 32]);
        let sealed = key.seal("raw-token-text", b"row-1").unwrap();
        assert!(!sealed.contains("raw-token-text"));
        assert_eq!(key.open(&sealed, b"row-1").unwrap(), "raw-token-text");
        assert_eq!(key.open(&sealed, b"row-2"), Err(SealError), "bound to its row");
        assert_eq!(OutboxKey::from_bytes([8; 32]).open(&sealed, b"row-1"), Err(SealError), "bound to its key");
        assert_eq!(key.open("not base64!", b"row-1"), Err(SealError));
        assert_eq!(key.open("", b"row-1"), Err(SealError));
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let key = OutboxKey::random();
        assert_ne!(key.seal("t", b"r").unwrap(), key.seal("t", b"r").unwrap());
    }

    #[test]
    fn debug_never_shows_the_key() {
        assert_eq!(format!("{:?}", OutboxKey::from_bytes([1; 32])), "OutboxKey(<redacted>)");
    }
}
