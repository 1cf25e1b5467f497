//! Secret bearer tokens (grant links and sessions) and their hashes (rule 3).
//!
//! A raw token exists only in memory, in the email that carries it, or in the
//! response that hands a session to its owner. Storage sees [`TokenHash`] only.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of randomness in every token: 256 bits, twice NIST's 128-bit floor.
pub const TOKEN_BYTES: usize = 32;
/// Length of a token's text form (unpadded URL-safe base64 of [`TOKEN_BYTES`]).
pub const TOKEN_TEXT_LEN: usize = 43;

/// Marker for grant-link tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {}
/// Marker for session tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {}

/// A raw secret token of kind `K`. Its `Debug` never shows the value.
///
/// ```
/// use clients_domain::{GrantToken, TokenHash};
/// let token = GrantToken::from_random([7u8; 32]);
/// assert_eq!(token.expose().len(), 43);
/// let parsed = GrantToken::parse(token.expose()).unwrap();
/// assert_eq!(parsed.hash(), token.hash());
/// assert!(!format!("{token:?}").contains(token.expose()));
/// assert!(GrantToken::parse("short").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token<K> {
    text: String,
    kind: PhantomData<K>,
}

/// The token in a grant link (`/grant-access?token=…`).
pub type GrantToken = Token<Grant>;
/// The bearer token of a session.
pub type SessionToken = Token<Session>;

/// Text that cannot be a token we issued. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed token")]
pub struct MalformedToken;

impl<K> Token<K> {
    /// Builds a token from [`TOKEN_BYTES`] bytes of CSPRNG output
    /// (see [`crate::ports::Entropy`]).
    #[must_use]
    pub fn from_random(bytes: [u8; TOKEN_BYTES]) -> Self {
        Self { text: URL_SAFE_NO_PAD.encode(bytes), kind: PhantomData }
    }

    /// Accepts text a client presents, if it has the shape of a token we issue.
    ///
    /// # Errors
    /// [`MalformedToken`] for any other text.
    pub fn parse(text: &str) -> Result<Self, MalformedToken> {
        if text.len() != TOKEN_TEXT_LEN {
            return Err(MalformedToken);
        }
        match URL_SAFE_NO_PAD.decode(text) {
            Ok(bytes) if bytes.len() == TOKEN_BYTES => Ok(Self { text: text.to_owned(), kind: PhantomData }),
            _ => Err(MalformedToken),
        }
    }

    /// The raw value, for the one place that must carry it (an email link, a response).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the token: what storage keeps and looks up by.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.text.as_bytes()).into())
    }
}

impl<K> fmt::Debug for Token<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// SHA-256 of a token. Compared in constant time.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps stored bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, for storage columns and logs.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses [`TokenHash::to_hex`] output.
    ///
    /// # Errors
    /// When the text is not 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, MalformedToken> {
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(MalformedToken);
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| MalformedToken)?;
        }
        Ok(Self(out))
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule3_token_text_is_url_safe_and_carries_256_bits() {
        let t = SessionToken::from_random([0xff; 32]);
        assert_eq!(t.expose().len(), TOKEN_TEXT_LEN);
        assert!(t.expose().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn rule3_only_the_hash_is_derived_for_storage_and_it_is_sha256() {
        let t = GrantToken::from_random([1; 32]);
        let h = t.hash();
        assert_eq!(h.to_hex().len(), 64);
        assert!(!h.to_hex().contains(t.expose()));
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Ok(h));
        // Known-answer check: SHA-256 of the text form.
        let expected: [u8; 32] = Sha256::digest(t.expose().as_bytes()).into();
        assert_eq!(h.as_bytes(), &expected);
    }

    #[test]
    fn different_randomness_gives_different_tokens_and_hashes() {
        let a = GrantToken::from_random([1; 32]);
        let b = GrantToken::from_random([2; 32]);
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn parse_rejects_anything_not_shaped_like_an_issued_token() {
        let good = GrantToken::from_random([9; 32]);
        assert!(GrantToken::parse(good.expose()).is_ok());
        let too_long = format!("{}A", good.expose());
        let with_pad = format!("{}=", &good.expose()[..42]);
        let with_nul = format!("{}\0", &good.expose()[..42]);
        for bad in ["", "abc", too_long.as_str(), with_pad.as_str(), with_nul.as_str(), &"é".repeat(21)] {
            assert_eq!(GrantToken::parse(bad), Err(MalformedToken), "{bad:?}");
        }
        assert!(TokenHash::from_hex("zz").is_err());
        assert!(TokenHash::from_hex(&"g".repeat(64)).is_err());
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let t = GrantToken::from_random([3; 32]);
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    }
}
