//! `Email`: an address valid by construction, compared case-insensitively.

use std::fmt;

use email_address::{EmailAddress, Options};

/// Longest address a mailbox path can carry (RFC 5321 §4.5.3.1.3: 256 octets
/// including the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART_LEN: usize = 64;

/// An email address, trimmed and lower-cased.
///
/// The product treats addresses as case-insensitive identities (an invitation to
/// `Ana@Example.com ` reaches the account `ana@example.com`), so the normalised form
/// is the only form kept. Domain literals (`a@[10.0.0.1]`), display names and
/// domains without a dot are refused: no customer signs up with them, and they are
/// classic ways to smuggle a surprising recipient past a check.
///
/// ```
/// use clients_domain::Email;
/// let a = Email::parse("  Ana.Lopez@Example.COM ").unwrap();
/// assert_eq!(a.as_str(), "ana.lopez@example.com");
/// assert_eq!(a, Email::parse("ana.lopez@example.com").unwrap());
/// assert!(Email::parse("not an email").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing left after trimming.
    #[error("email is empty")]
    Empty,
    /// More than [`MAX_EMAIL_LEN`] characters, or a local part over [`MAX_LOCAL_PART_LEN`].
    #[error("email is too long")]
    TooLong,
    /// Not an addr-spec we accept.
    #[error("email is not a valid address")]
    Invalid,
}

impl Email {
    /// Parses and normalises an address.
    ///
    /// # Errors
    /// [`EmailError`] when the trimmed input is empty, too long or not an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EmailError::Invalid);
        }
        if trimmed.rsplit_once('@').is_some_and(|(local, _)| local.len() > MAX_LOCAL_PART_LEN) {
            return Err(EmailError::TooLong);
        }
        let options = Options::default().with_required_tld().without_domain_literal().without_display_text();
        let parsed = EmailAddress::parse_with_options(trimmed, options).map_err(|_| EmailError::Invalid)?;
        if parsed.local_part().starts_with('"') {
            // Quoted local parts are legal but no mail provider a customer uses needs them.
            return Err(EmailError::Invalid);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases_so_case_and_whitespace_variants_are_one_identity() {
        let variants = ["ana@example.com", " ana@example.com", "ANA@EXAMPLE.COM\t", "Ana@Example.Com"];
        for v in variants {
            assert_eq!(Email::parse(v).unwrap().as_str(), "ana@example.com", "{v:?}");
        }
    }

    #[test]
    fn plus_tags_are_distinct_addresses() {
        assert_ne!(Email::parse("ana+work@example.com").unwrap(), Email::parse("ana@example.com").unwrap());
    }

    #[test]
    fn rejects_malformed_addresses() {
        let bad = [
            "",
            "   ",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "ana @example.com",
            "ana@exa mple.com",
            "ana@[127.0.0.1]",
            "Ana <ana@example.com>",
            "ana\0@example.com",
            "ana@example.com\r\nBcc: x@evil.com",
            "\"a b\"@example.com",
        ];
        for b in bad {
            assert!(Email::parse(b).is_err(), "{b:?} should be rejected");
        }
    }

    #[test]
    fn enforces_rfc_length_limits() {
        let local64 = "a".repeat(64);
        assert!(Email::parse(&format!("{local64}@example.com")).is_ok());
        let local65 = "a".repeat(65);
        assert_eq!(Email::parse(&format!("{local65}@example.com")), Err(EmailError::TooLong));
        let label = "b".repeat(60);
        let long = format!("a@{label}.{label}.{label}.{label}.{label}.com");
        assert!(long.len() > MAX_EMAIL_LEN);
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn four_byte_utf8_never_panics_and_the_limit_counts_bytes() {
        // RFC 5321 limits are in octets: 16 four-byte characters fill the 64-octet local part.
        assert!(Email::parse(&format!("{}@example.com", "😀".repeat(17))).is_err());
        for s in ["😀@example.com", "ana@😀.com", "😀", "ana@example.😀"] {
            let _ = Email::parse(s);
        }
    }

    #[test]
    fn domain_is_the_part_after_the_at_sign() {
        assert_eq!(Email::parse("a@b.example.org").unwrap().domain(), "b.example.org");
    }
}
