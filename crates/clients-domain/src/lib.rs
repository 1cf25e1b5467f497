//! `clients-domain`: the rules of delegated agency access, with no I/O.
//!
//! An agency asks, by email, for a [`Role`] in a client's account; the client (signed
//! up or not yet) approves, which uses one of its plan's [`TeamSlots`]; the agency then
//! sees the client in its "Shared accounts" list with a derived
//! [`SharedAccountStatus`], and can resend, remove or "Log in as".
//!
//! Map of the crate:
//! - values valid by construction: [`Email`], [`DisplayName`], [`Password`],
//!   [`DomainName`], ids, [`GrantToken`]/[`SessionToken`] and their [`TokenHash`];
//! - rules: [`Role`]/[`Permission`] (rule 1), [`AccessRequest`] (rules 2, 3, 8),
//!   [`Team`] (rules 1, 5), [`SharedAccountStatus`]/[`RowAction`] (rules 6, 7),
//!   [`Principal`]/[`Impersonation`] (rules 1, 9), [`AuditEvent`] (rule 10);
//! - [`ports`]: the traits adapters implement;
//! - [`service`]: the use cases, one method per user action of the HTTP contract.
//!
//! Architecture invariant: this crate depends on no runtime, database, HTTP or AWS
//! crate (a tidy test in `xtask` enforces it).

mod access;
mod access_request;
mod account;
mod audit;
mod delivery;
mod email;
mod ids;
mod notification;
mod plan;
mod policy;
pub mod ports;
mod resources;
mod role;
pub mod service;
mod shared_account;
mod team;
mod token;
mod website;

pub use access::{Area, Denied, Impersonation, Principal, SessionEnded};
pub use access_request::{
    AccessRequest, AccessRequestRecord, CorruptRecord, Delivery, InvalidGrant, IssuedGrant, NewRequestError,
    RequestAction, RequestState, ResendError, TransitionError,
};
pub use account::{
    Account, DisplayName, DisplayNameError, Password, PasswordError, PasswordHash, Session, SessionKind,
};
pub use audit::{AuditEvent, AuditKind};
#[cfg(any(test, feature = "mocks"))]
pub use delivery::MockMailer;
pub use delivery::{DeliveryError, DeliveryPolicy, DeliveryReport, Mailer, deliver_due};
pub use email::{Email, EmailError, MAX_EMAIL_LEN, MAX_LOCAL_PART_LEN};
pub use ids::{
    AccessRequestId, AccountId, AuditEventId, InvoiceId, MembershipId, OutboxMessageId, SessionId, WebsiteId,
};
pub use notification::{Notification, OutgoingEmail};
pub use plan::{InvalidTeamSlots, Plan, PlanCatalogue, SlotUsage, TeamSlots, UnknownPlan};
pub use policy::{Policy, ResendPolicy, ResendWindow, RetryAfter};
pub use resources::{AnalyticsSummary, InvalidInvoice, Invoice, InvoiceStatus, SettingsDocument, SettingsTooLarge};
pub use role::{Permission, Permissions, Role, UnknownRole};
pub use shared_account::{RowAction, SharedAccountRow, SharedAccountStatus};
pub use team::{Member, NoFreeTeamSlots, PlanTooSmall, Team, TeamError};
pub use token::{GrantToken, MalformedToken, SessionToken, TOKEN_BYTES, TOKEN_TEXT_LEN, Token, TokenHash};
pub use website::{DomainName, Health, InvalidDomainName, Website, WebsiteSummary};
