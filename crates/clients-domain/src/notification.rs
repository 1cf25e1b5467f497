//! Emails the rules cause. They go to the outbox in the same transaction as the change
//! that causes them; rendering and sending are the mailer adapter's job.

use chrono::{DateTime, Utc};

use crate::{AccessRequestId, Email, GrantToken, OutboxMessageId, Role};

/// What an email says. User-supplied text (names) is carried raw: the renderer escapes
/// it for HTML and strips it for headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// To the client: an agency asks for access ("Grant access" button).
    AccessRequested {
        /// Agency's display name.
        agency_name: String,
        /// Agency's email.
        agency_email: Email,
        /// Role asked for.
        role: Role,
        /// The raw grant token for the link (the only place it travels).
        token: GrantToken,
        /// When the link stops working.
        expires_at: DateTime<Utc>,
        /// Whether this is a resend.
        resent: bool,
    },
    /// To the agency: the client approved.
    RequestApproved {
        /// Client's address.
        client_email: Email,
        /// Role granted.
        role: Role,
    },
    /// To the agency: the client declined.
    RequestDeclined {
        /// Client's address.
        client_email: Email,
    },
    /// To the agency: the client removed it from the team.
    AccessRevoked {
        /// Client's address.
        client_email: Email,
    },
    /// To the client: the agency gave up its access.
    AgencyLeft {
        /// Agency's display name.
        agency_name: String,
        /// Agency's email.
        agency_email: Email,
    },
    /// To the client: an agency started "Log in as".
    ImpersonationStarted {
        /// Agency's display name.
        agency_name: String,
        /// Agency's email.
        agency_email: Email,
        /// Role used.
        role: Role,
        /// Session end.
        expires_at: DateTime<Utc>,
    },
}

impl Notification {
    /// Stable template name.
    #[must_use]
    pub const fn template(&self) -> &'static str {
        match self {
            Notification::AccessRequested { resent: false, .. } => "access_requested",
            Notification::AccessRequested { resent: true, .. } => "access_request_resent",
            Notification::RequestApproved { .. } => "request_approved",
            Notification::RequestDeclined { .. } => "request_declined",
            Notification::AccessRevoked { .. } => "access_revoked",
            Notification::AgencyLeft { .. } => "agency_left",
            Notification::ImpersonationStarted { .. } => "impersonation_started",
        }
    }
}

/// An email waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// Identity (also the idempotency key towards the mail provider).
    pub id: OutboxMessageId,
    /// Recipient.
    pub to: Email,
    /// Content.
    pub notification: Notification,
    /// The request whose `delivery` this email reports on, if any.
    pub request: Option<AccessRequestId>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}
