//! Accounts, sessions and credentials.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::{AccountId, Email, Plan, Role, SessionId, TokenHash};

/// An account. Any account can be an agency (it requests access to others) and a
/// client (others request access to it) at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Identity.
    pub id: AccountId,
    /// Sign-in address; unique, case-insensitive.
    pub email: Email,
    /// Whether control of the mailbox was proven (a grant link was followed, rule 4).
    pub email_verified: bool,
    /// Shown to clients in emails and pop-ups ("Acme Agency wants access").
    pub name: Option<DisplayName>,
    /// Subscription plan; decides the team's slots.
    pub plan: Plan,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// The name to show others: the display name, or the email when there is none.
    #[must_use]
    pub fn display_name(&self) -> &str {
        self.name.as_ref().map_or(self.email.as_str(), DisplayName::as_str)
    }
}

/// A person's or company's name as shown to others: 1 to 100 characters, no control
/// characters (so it can never break an email header or a log line).
///
/// ```
/// use clients_domain::DisplayName;
/// assert_eq!(DisplayName::parse("  Acme Agency ").unwrap().as_str(), "Acme Agency");
/// assert!(DisplayName::parse("Evil\r\nBcc: x@y.z").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DisplayName(String);

/// Why a display name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    /// Empty after trimming.
    #[error("name is empty")]
    Empty,
    /// Over 100 characters.
    #[error("name is longer than 100 characters")]
    TooLong,
    /// Contains a control character (CR, LF, NUL, …).
    #[error("name contains control characters")]
    ControlCharacter,
}

impl DisplayName {
    /// Longest accepted name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Trims and checks a name.
    ///
    /// # Errors
    /// [`DisplayNameError`] for empty, over-long or control-character names.
    pub fn parse(raw: &str) -> Result<Self, DisplayNameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(DisplayNameError::Empty);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(DisplayNameError::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(DisplayNameError::ControlCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DisplayName({:?})", self.0)
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed: 8 to 128 characters, no NUL (NIST SP 800-63B §5.1.1).
/// Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// Why a password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than 8 characters.
    #[error("password must have at least 8 characters")]
    TooShort,
    /// More than 128 characters.
    #[error("password must have at most 128 characters")]
    TooLong,
    /// Contains NUL.
    #[error("password contains a NUL character")]
    Nul,
}

impl Password {
    /// Fewest characters.
    pub const MIN_CHARS: usize = 8;
    /// Most characters (bounds the hashing cost an attacker can ask for).
    pub const MAX_CHARS: usize = 128;

    /// Checks a password. Not trimmed: spaces are part of it.
    ///
    /// # Errors
    /// [`PasswordError`] when it is too short, too long or holds NUL.
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if n > Self::MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if raw.contains('\0') {
            return Err(PasswordError::Nul);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for the hasher only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string format (e.g. `$argon2id$v=19$…`), from the
/// [`crate::ports::PasswordHasher`] port.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string.
    #[must_use]
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// What a bearer session lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A normal sign-in: the account acts as itself.
    Personal,
    /// "Log in as" (rule 9): the agency account acts inside `client` with `role`.
    Impersonation {
        /// The client account entered.
        client: AccountId,
        /// The role the agency held when the session started.
        role: Role,
    },
}

/// A bearer session. Only the token's hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identity (appears in the audit log for impersonation).
    pub id: SessionId,
    /// SHA-256 of the bearer token.
    pub token_hash: TokenHash,
    /// Who holds it: the signed-in account, or the agency for "Log in as".
    pub account_id: AccountId,
    /// Personal or impersonation.
    pub kind: SessionKind,
    /// Start.
    pub created_at: DateTime<Utc>,
    /// End; the session is refused from this instant on.
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// Whether the session is still usable at `now`.
    #[must_use]
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }

    /// Time left at `now` (zero once expired).
    #[must_use]
    pub fn remaining(&self, now: DateTime<Utc>) -> TimeDelta {
        (self.expires_at - now).max(TimeDelta::zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_refuses_header_injection_and_bounds_length() {
        assert_eq!(DisplayName::parse("a\nb"), Err(DisplayNameError::ControlCharacter));
        assert_eq!(DisplayName::parse("a\rb"), Err(DisplayNameError::ControlCharacter));
        assert_eq!(DisplayName::parse("a\0b"), Err(DisplayNameError::ControlCharacter));
        assert_eq!(DisplayName::parse("   "), Err(DisplayNameError::Empty));
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(DisplayName::parse(&"é".repeat(101)), Err(DisplayNameError::TooLong));
        assert!(DisplayName::parse("<b>Acme</b> & Co 😀").is_ok(), "escaping is the renderer's job");
    }

    #[test]
    fn password_bounds_follow_nist_and_are_not_trimmed() {
        assert_eq!(Password::parse("1234567"), Err(PasswordError::TooShort));
        assert!(Password::parse("12345678").is_ok());
        assert_eq!(Password::parse("  spaced  ").unwrap().expose(), "  spaced  ");
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert_eq!(Password::parse(&"x".repeat(129)), Err(PasswordError::TooLong));
        assert_eq!(Password::parse("abcdefgh\0"), Err(PasswordError::Nul));
        assert_eq!(format!("{:?}", Password::parse("secret-secret").unwrap()), "Password(<redacted>)");
    }

    #[test]
    fn display_name_falls_back_to_the_email() {
        let mut a = Account {
            id: AccountId::from_uuid(uuid::Uuid::nil()),
            email: Email::parse("agency@example.com").unwrap(),
            email_verified: false,
            name: None,
            plan: Plan::Free,
            created_at: DateTime::UNIX_EPOCH,
        };
        assert_eq!(a.display_name(), "agency@example.com");
        a.name = Some(DisplayName::parse("Acme").unwrap());
        assert_eq!(a.display_name(), "Acme");
    }

    #[test]
    fn sessions_expire_at_their_instant() {
        let t0 = DateTime::UNIX_EPOCH;
        let s = Session {
            id: SessionId::from_uuid(uuid::Uuid::nil()),
            token_hash: TokenHash::from_bytes([0; 32]),
            account_id: AccountId::from_uuid(uuid::Uuid::nil()),
            kind: SessionKind::Personal,
            created_at: t0,
            expires_at: t0 + TimeDelta::minutes(60),
        };
        assert!(s.is_live(t0 + TimeDelta::minutes(59)));
        assert!(!s.is_live(t0 + TimeDelta::minutes(60)));
        assert_eq!(s.remaining(t0 + TimeDelta::minutes(90)), TimeDelta::zero());
    }
}
