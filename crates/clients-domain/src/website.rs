//! Websites of a client account and the health internal services report for them.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::{AccountId, WebsiteId};

/// Health an internal service reports for a website.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
pub enum Health {
    /// Working.
    Ok,
    /// Something to look at, not urgent.
    Warning,
    /// Needs immediate attention.
    MajorIssue,
}

impl Health {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::MajorIssue => "major_issue",
        }
    }

    /// Parses [`Health::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Health::Ok, Health::Warning, Health::MajorIssue].into_iter().find(|h| h.as_str() == s)
    }
}

/// A website's host name: lower-case ASCII (IDNs in their `xn--` form), labels of 1 to
/// 63 letters, digits and inner hyphens, at least two labels, at most 253 characters.
///
/// ```
/// use clients_domain::DomainName;
/// assert_eq!(DomainName::parse(" Shop.Example.COM. ").unwrap().as_str(), "shop.example.com");
/// assert!(DomainName::parse("https://example.com").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

/// Text that is not a host name we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid domain name")]
pub struct InvalidDomainName;

impl DomainName {
    /// Normalises (trim, lower-case, drop one trailing dot) and checks a host name.
    ///
    /// # Errors
    /// [`InvalidDomainName`].
    pub fn parse(raw: &str) -> Result<Self, InvalidDomainName> {
        let d = raw.trim().to_ascii_lowercase();
        let d = d.strip_suffix('.').unwrap_or(&d);
        if d.is_empty() || d.len() > 253 || !d.contains('.') {
            return Err(InvalidDomainName);
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !d.split('.').all(label_ok) {
            return Err(InvalidDomainName);
        }
        Ok(Self(d.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainName({})", self.0)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A website of a client account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Website {
    /// Identity.
    pub id: WebsiteId,
    /// Owner account.
    pub account_id: AccountId,
    /// Host name.
    pub domain: DomainName,
    /// Whether the optimisation service is connected to it.
    pub connected: bool,
    /// Latest reported health.
    pub health: Health,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// What the status derivation needs to know about an account's websites: counts,
/// which storage can keep up to date without reading every website (rule 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebsiteSummary {
    /// Websites of the account.
    pub total: u32,
    /// Of which reporting `major_issue`.
    pub major_issue: u32,
    /// Of which not connected.
    pub not_connected: u32,
}

impl WebsiteSummary {
    /// Summarises a list of websites (for tests and small lists; storage keeps counters).
    #[must_use]
    pub fn of<'a>(websites: impl IntoIterator<Item = &'a Website>) -> Self {
        websites.into_iter().fold(Self::default(), |mut s, w| {
            s.total += 1;
            s.major_issue += u32::from(w.health == Health::MajorIssue);
            s.not_connected += u32::from(!w.connected);
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_normalised_and_validated() {
        for good in ["example.com", "a.b.c.example.org", "xn--bcher-kva.example", "my-shop.co.uk", "1.example.com"] {
            assert!(DomainName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "localhost",
            "example..com",
            "-a.example.com",
            "a-.example.com",
            "exa mple.com",
            "https://example.com",
            "example.com/path",
            "bücher.example",
            "a@b.com",
            "ex\0ample.com",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_err());
        let long = std::iter::repeat_n("abcdefghi", 26).collect::<Vec<_>>().join(".");
        assert!(long.len() > 253);
        assert!(DomainName::parse(&long).is_err());
    }

    #[test]
    fn health_wire_names_round_trip() {
        for h in [Health::Ok, Health::Warning, Health::MajorIssue] {
            assert_eq!(Health::parse(h.as_str()), Some(h));
        }
        assert_eq!(Health::parse("major-issue"), None);
    }
}
