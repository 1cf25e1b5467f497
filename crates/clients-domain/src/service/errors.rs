//! One error enum per operation, each listing only what that operation can answer.

use crate::ports::{AtomicError, ListError, StoreError};
use crate::{Denied, InvalidGrant, NoFreeTeamSlots, PlanTooSmall, RequestState, RetryAfter, SessionEnded, TeamError};

macro_rules! op_error_common {
    ($name:ident) => {
        impl From<StoreError> for $name {
            fn from(e: StoreError) -> Self {
                Self::Store(e)
            }
        }
        impl From<AtomicError<$name>> for $name {
            fn from(e: AtomicError<$name>) -> Self {
                match e {
                    AtomicError::Refused(e) => e,
                    AtomicError::Store(s) => Self::Store(s),
                }
            }
        }
    };
}

macro_rules! with_denied {
    ($name:ident) => {
        impl From<Denied> for $name {
            fn from(e: Denied) -> Self {
                Self::Denied(e)
            }
        }
    };
}

/// Sign-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUpError {
    /// An account has this email.
    #[error("an account with this email exists")]
    EmailTaken,
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(SignUpError);

/// Sign-in: one answer for unknown email and wrong password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// Unknown email or wrong password.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(SignInError);

/// Resolving a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No such session, malformed token, or expired (401).
    #[error("not signed in")]
    Unauthenticated,
    /// A "Log in as" session the client has since ended or narrowed to nothing (401).
    #[error("session ended: {0}")]
    SessionEnded(SessionEnded),
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(AuthError);

/// Requesting access (one email).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestAccessError {
    /// The agency's own address (422).
    #[error("an agency cannot request access to itself")]
    OwnAccount,
    /// A requested or approved request to this email exists (409).
    #[error("a request to this email is pending or approved")]
    AlreadyRequested,
    /// The recipient got too many requests lately (429).
    #[error(transparent)]
    RecipientRateLimited(RetryAfter),
    /// Not allowed here (e.g. inside "Log in as").
    #[error(transparent)]
    Denied(Denied),
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(RequestAccessError);
with_denied!(RequestAccessError);

/// A bulk request as a whole (each email also has its own outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BulkRequestError {
    /// Fewer than 1 or more than 100 emails (422).
    #[error("a bulk request carries 1 to 100 emails")]
    BadSize,
    /// Not allowed here.
    #[error(transparent)]
    Denied(Denied),
}
with_denied!(BulkRequestError);

/// Reading the agency's list or one row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedAccountError {
    /// No such row for this agency (404).
    #[error("not found")]
    NotFound,
    /// A cursor the list cannot read (422).
    #[error("invalid cursor")]
    InvalidCursor,
    /// Not allowed here.
    #[error(transparent)]
    Denied(Denied),
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(SharedAccountError);
with_denied!(SharedAccountError);

impl From<ListError> for SharedAccountError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::InvalidCursor => Self::InvalidCursor,
            ListError::Store(s) => Self::Store(s),
        }
    }
}

/// An agency's action on one of its rows: resend, remove, websites, log in as, leave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowActionError {
    /// No such row for this agency (404).
    #[error("not found")]
    NotFound,
    /// The row's state does not offer this action (409).
    #[error("not possible while the request is {0}")]
    WrongState(RequestState),
    /// Resend cooldown or daily cap (429).
    #[error(transparent)]
    RateLimited(RetryAfter),
    /// A cursor the list cannot read (422).
    #[error("invalid cursor")]
    InvalidCursor,
    /// Not allowed here.
    #[error(transparent)]
    Denied(Denied),
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(RowActionError);
with_denied!(RowActionError);

impl From<ListError> for RowActionError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::InvalidCursor => Self::InvalidCursor,
            ListError::Store(s) => Self::Store(s),
        }
    }
}

/// A client's answer to a request: approve or decline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApproveError {
    /// No such request addressed to this account's email (404).
    #[error("not found")]
    NotFound,
    /// The grant link does not open anything: unknown, rotated, expired or used. One
    /// answer for all (the cause is for logs).
    #[error("invalid or expired link")]
    InvalidGrant(InvalidGrant),
    /// The signed-in account's email is not the requested one (403, rule 4).
    #[error("this request was sent to another email address")]
    EmailMismatch,
    /// The account has not proven it controls the email (403, rule 4).
    #[error("verify your email by following the link in the request email")]
    EmailNotVerified,
    /// The request is no longer waiting (409).
    #[error("the request is {0}")]
    WrongState(RequestState),
    /// Rule 5 (409 `no_free_team_slots`).
    #[error(transparent)]
    NoFreeTeamSlots(NoFreeTeamSlots),
    /// The agency is already a member through another request (409).
    #[error("the agency is already a member")]
    AlreadyMember,
    /// Not allowed here.
    #[error(transparent)]
    Denied(Denied),
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(ApproveError);
with_denied!(ApproveError);

/// Reading a grant link without signing in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantLinkError {
    /// Unknown, rotated, expired or used: one answer (404).
    #[error("invalid or expired link")]
    Invalid(InvalidGrant),
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(GrantLinkError);

/// Team management, plan changes and other account-scoped actions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// No such account, member or website for this caller (404).
    #[error("not found")]
    NotFound,
    /// Rules of the team (own role, owner, …) (409 or 403).
    #[error(transparent)]
    Team(TeamError),
    /// A plan with fewer slots than members (409).
    #[error(transparent)]
    PlanTooSmall(PlanTooSmall),
    /// The account has this website already (409).
    #[error("the account has this website already")]
    DuplicateWebsite,
    /// The account has an invoice with this number already (409).
    #[error("the account has an invoice with this number already")]
    DuplicateInvoice,
    /// A value the rules refuse (422).
    #[error("{0}")]
    Invalid(String),
    /// A cursor the list cannot read (422).
    #[error("invalid cursor")]
    InvalidCursor,
    /// Not allowed here.
    #[error(transparent)]
    Denied(Denied),
    /// Storage.
    #[error(transparent)]
    Store(StoreError),
}
op_error_common!(AccountError);
with_denied!(AccountError);

impl From<ListError> for AccountError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::InvalidCursor => Self::InvalidCursor,
            ListError::Store(s) => Self::Store(s),
        }
    }
}
