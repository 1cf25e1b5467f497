//! What a client account holds besides its team and websites: its settings document
//! and invoices (from the billing system), and the analytics summary derived from its
//! websites. These are what the roles' permissions guard inside the account.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::{AccountId, InvoiceId, SharedAccountStatus, WebsiteSummary};

/// An account's settings: a JSON object, at most [`SettingsDocument::MAX_BYTES`]. The
/// HTTP adapter checks it is an object; this type bounds its size.
#[derive(Clone, PartialEq, Eq)]
pub struct SettingsDocument(String);

/// A settings document over the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("settings must be at most 16 KiB")]
pub struct SettingsTooLarge;

impl SettingsDocument {
    /// Largest document, in bytes.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Wraps JSON text.
    ///
    /// # Errors
    /// [`SettingsTooLarge`].
    pub fn new(json: String) -> Result<Self, SettingsTooLarge> {
        if json.len() > Self::MAX_BYTES { Err(SettingsTooLarge) } else { Ok(Self(json)) }
    }

    /// The empty document `{}` every account starts with.
    #[must_use]
    pub fn empty() -> Self {
        Self("{}".to_owned())
    }

    /// The JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SettingsDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SettingsDocument({} bytes)", self.0.len())
    }
}

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
pub enum InvoiceStatus {
    /// Issued, not paid yet.
    Open,
    /// Paid.
    Paid,
    /// Cancelled.
    Void,
}

impl InvoiceStatus {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }

    /// Parses [`InvoiceStatus::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [InvoiceStatus::Open, InvoiceStatus::Paid, InvoiceStatus::Void].into_iter().find(|v| v.as_str() == s)
    }
}

/// An invoice, recorded by the billing system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// Identity.
    pub id: InvoiceId,
    /// The billed account.
    pub account_id: AccountId,
    /// Human-facing number, unique per account.
    pub number: String,
    /// Start of the billed period.
    pub period_start: DateTime<Utc>,
    /// End of the billed period.
    pub period_end: DateTime<Utc>,
    /// Amount in the currency's minor unit.
    pub amount_cents: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// Status.
    pub status: InvoiceStatus,
    /// Issue time.
    pub issued_at: DateTime<Utc>,
}

/// Why an invoice is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInvoice {
    /// Number empty, over 64 characters or with control characters.
    #[error("invoice number must be 1 to 64 printable characters")]
    Number,
    /// Not three upper-case letters.
    #[error("currency must be an ISO 4217 code such as EUR")]
    Currency,
    /// Negative amount.
    #[error("amount must not be negative")]
    Amount,
    /// Period ends before it starts.
    #[error("period must end after it starts")]
    Period,
}

impl Invoice {
    /// Checks the fields no type enforces.
    ///
    /// # Errors
    /// [`InvalidInvoice`].
    pub fn validate(&self) -> Result<(), InvalidInvoice> {
        let n = self.number.chars().count();
        if n == 0 || n > 64 || self.number.chars().any(char::is_control) {
            return Err(InvalidInvoice::Number);
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(InvalidInvoice::Currency);
        }
        if self.amount_cents < 0 {
            return Err(InvalidInvoice::Amount);
        }
        if self.period_end < self.period_start {
            return Err(InvalidInvoice::Period);
        }
        Ok(())
    }
}

/// The analytics summary of an account: its websites by connection and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyticsSummary {
    /// Websites.
    pub websites: u32,
    /// Connected websites.
    pub connected: u32,
    /// Websites not connected.
    pub not_connected: u32,
    /// Websites reporting a major issue.
    pub major_issue: u32,
    /// The account's overall status, derived as for an approved shared account.
    pub status: SharedAccountStatus,
}

impl AnalyticsSummary {
    /// Derives the summary from the website counters.
    ///
    /// ```
    /// use clients_domain::{AnalyticsSummary, SharedAccountStatus, WebsiteSummary};
    /// let s = AnalyticsSummary::of(WebsiteSummary { total: 4, major_issue: 0, not_connected: 1 });
    /// assert_eq!((s.connected, s.status), (3, SharedAccountStatus::NotConnected));
    /// ```
    #[must_use]
    pub fn of(w: WebsiteSummary) -> Self {
        Self {
            websites: w.total,
            connected: w.total.saturating_sub(w.not_connected),
            not_connected: w.not_connected,
            major_issue: w.major_issue,
            status: SharedAccountStatus::derive(crate::RequestState::Approved, w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice() -> Invoice {
        Invoice {
            id: InvoiceId::from_uuid(uuid::Uuid::nil()),
            account_id: AccountId::from_uuid(uuid::Uuid::nil()),
            number: "INV-2026-0001".into(),
            period_start: DateTime::UNIX_EPOCH,
            period_end: DateTime::UNIX_EPOCH + chrono::TimeDelta::days(30),
            amount_cents: 2100,
            currency: "EUR".into(),
            status: InvoiceStatus::Paid,
            issued_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn invoices_are_validated() {
        assert_eq!(invoice().validate(), Ok(()));
        type Breaker = fn(&mut Invoice);
        let cases: [(Breaker, InvalidInvoice); 5] = [
            (|i| i.number = String::new(), InvalidInvoice::Number),
            (|i| i.number = "A\\nB".replace("\\n", "\n"), InvalidInvoice::Number),
            (|i| i.currency = "eur".into(), InvalidInvoice::Currency),
            (|i| i.amount_cents = -1, InvalidInvoice::Amount),
            (|i| i.period_end = DateTime::UNIX_EPOCH - chrono::TimeDelta::days(1), InvalidInvoice::Period),
        ];
        for (break_it, want) in cases {
            let mut i = invoice();
            break_it(&mut i);
            assert_eq!(i.validate(), Err(want));
        }
    }

    #[test]
    fn settings_are_bounded() {
        assert!(SettingsDocument::new("x".repeat(SettingsDocument::MAX_BYTES)).is_ok());
        assert_eq!(SettingsDocument::new("x".repeat(SettingsDocument::MAX_BYTES + 1)), Err(SettingsTooLarge));
        assert_eq!(SettingsDocument::empty().as_str(), "{}");
    }

    #[test]
    fn analytics_follow_the_status_rule() {
        let s = AnalyticsSummary::of(WebsiteSummary { total: 0, major_issue: 0, not_connected: 0 });
        assert_eq!(s.status, SharedAccountStatus::NoData);
        let s = AnalyticsSummary::of(WebsiteSummary { total: 3, major_issue: 1, not_connected: 1 });
        assert_eq!((s.connected, s.status), (2, SharedAccountStatus::MajorIssue));
    }
}
