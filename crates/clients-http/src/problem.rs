//! RFC 9457 problem details: every error the API returns, with a stable `code`.

use clients_domain::ports::StoreError;
use clients_domain::service::{
    AccountError, ApproveError, AuthError, BulkRequestError, GrantLinkError, RequestAccessError, RowActionError,
    SharedAccountError, SignInError, SignUpError,
};
use clients_domain::{Denied, PlanTooSmall, RetryAfter, TeamError};
use poem::http::StatusCode;
use poem_openapi::Object;

/// Seconds a client should wait before retrying while storage is unavailable.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// An error response (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Problem {
    /// A URI naming the problem type (`urn:clients:problem:<code>`).
    #[oai(rename = "type")]
    pub type_: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// Stable machine-readable code (`validation_failed`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `no_free_team_slots`, `rate_limited`, …).
    pub code: String,
    /// Seconds to wait before retrying (429 and 503; also in `Retry-After`).
    #[oai(skip_serializing_if_is_none)]
    pub retry_after: Option<u64>,
    /// Team slots in use (`no_free_team_slots`).
    #[oai(skip_serializing_if_is_none)]
    pub used: Option<u32>,
    /// Team slots of the plan (`no_free_team_slots`, `plan_too_small`).
    #[oai(skip_serializing_if_is_none)]
    pub limit: Option<u32>,
    /// The field at fault (`validation_failed`).
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
}

impl Problem {
    /// A problem with `status`, `code` and a detail.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_: format!("urn:clients:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            code: code.to_owned(),
            retry_after: None,
            used: None,
            limit: None,
            field: None,
        }
    }

    /// 422 `validation_failed` about `field`.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail)
        }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in and send `Authorization: Bearer <token>`")
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// 409 with `code`.
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 429 `rate_limited`.
    pub fn rate_limited(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
        }
    }

    fn retry(r: RetryAfter, detail: &str) -> Self {
        Self::rate_limited(u64::try_from(r.retry_after.num_seconds()).unwrap_or(1), detail)
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<Denied> for Problem {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotFound => Self::not_found(),
            Denied::Forbidden => Self::new(StatusCode::FORBIDDEN, "forbidden", "not allowed for this session"),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => Self::conflict("conflict", "a concurrent change got there first; retry"),
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "storage unavailable");
                Self {
                    retry_after: Some(UNAVAILABLE_RETRY_AFTER),
                    ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the service is busy; retry shortly")
                }
            }
            StoreError::Internal(why) => {
                tracing::error!(error = %why, "storage failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "unexpected error; it has been logged")
            }
        }
    }
}

impl From<SignUpError> for Problem {
    fn from(e: SignUpError) -> Self {
        match e {
            SignUpError::EmailTaken => Self::conflict("email_taken", "an account with this email exists; sign in"),
            SignUpError::Store(s) => s.into(),
        }
    }
}

impl From<SignInError> for Problem {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "invalid email or password")
            }
            SignInError::Store(s) => s.into(),
        }
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => Self::unauthorized(),
            AuthError::SessionEnded(why) => Self::new(StatusCode::UNAUTHORIZED, "session_ended", why.to_string()),
            AuthError::Store(s) => s.into(),
        }
    }
}

impl From<RequestAccessError> for Problem {
    fn from(e: RequestAccessError) -> Self {
        match e {
            RequestAccessError::OwnAccount => Self::invalid("email", "an agency cannot request access to itself"),
            RequestAccessError::AlreadyRequested => {
                Self::conflict("conflict", "a request to this email is already pending or approved")
            }
            RequestAccessError::RecipientRateLimited(r) => {
                Self::retry(r, "this address received too many requests lately")
            }
            RequestAccessError::Denied(d) => d.into(),
            RequestAccessError::Store(s) => s.into(),
        }
    }
}

impl From<BulkRequestError> for Problem {
    fn from(e: BulkRequestError) -> Self {
        match e {
            BulkRequestError::BadSize => Self::invalid("requests", "send 1 to 100 requests"),
            BulkRequestError::Denied(d) => d.into(),
        }
    }
}

impl From<SharedAccountError> for Problem {
    fn from(e: SharedAccountError) -> Self {
        match e {
            SharedAccountError::NotFound => Self::not_found(),
            SharedAccountError::InvalidCursor => Self::invalid("cursor", "invalid cursor"),
            SharedAccountError::Denied(d) => d.into(),
            SharedAccountError::Store(s) => s.into(),
        }
    }
}

impl From<RowActionError> for Problem {
    fn from(e: RowActionError) -> Self {
        match e {
            RowActionError::NotFound => Self::not_found(),
            RowActionError::WrongState(state) => {
                Self::conflict("invalid_state", format!("not possible while the request is {state}"))
            }
            RowActionError::RateLimited(r) => Self::retry(r, "resent too recently or too often"),
            RowActionError::InvalidCursor => Self::invalid("cursor", "invalid cursor"),
            RowActionError::Denied(d) => d.into(),
            RowActionError::Store(s) => s.into(),
        }
    }
}

impl From<ApproveError> for Problem {
    fn from(e: ApproveError) -> Self {
        match e {
            ApproveError::NotFound => Self::not_found(),
            ApproveError::InvalidGrant(why) => {
                tracing::info!(reason = %why, "grant link refused");
                invalid_link()
            }
            ApproveError::EmailMismatch => Self::new(
                StatusCode::FORBIDDEN,
                "email_mismatch",
                "this request was sent to another email address; sign in with that address",
            ),
            ApproveError::EmailNotVerified => Self::new(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "verify your email by following the link in the request email",
            ),
            ApproveError::WrongState(state) => Self::conflict("invalid_state", format!("the request is {state}")),
            ApproveError::NoFreeTeamSlots(full) => Self {
                used: Some(full.used),
                limit: Some(full.limit),
                ..Self::conflict(
                    "no_free_team_slots",
                    format!(
                        "all {} team slots are in use: upgrade your plan or remove a member, then approve again",
                        full.limit
                    ),
                )
            },
            ApproveError::AlreadyMember => Self::conflict("conflict", "the agency is already a member"),
            ApproveError::Denied(d) => d.into(),
            ApproveError::Store(s) => s.into(),
        }
    }
}

/// The one answer for every grant link that opens nothing (unknown, rotated, expired,
/// used, removed): no oracle for guessing or replaying links.
pub fn invalid_link() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "invalid_link", "this link is invalid or has expired; ask for a new one")
}

impl From<GrantLinkError> for Problem {
    fn from(e: GrantLinkError) -> Self {
        match e {
            GrantLinkError::Invalid(why) => {
                tracing::info!(reason = %why, "grant link refused");
                invalid_link()
            }
            GrantLinkError::Store(s) => s.into(),
        }
    }
}

impl From<AccountError> for Problem {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound => Self::not_found(),
            AccountError::Team(TeamError::NoSuchMember) => Self::not_found(),
            AccountError::Team(TeamError::OwnRole) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", "nobody can change their own role")
            }
            AccountError::Team(TeamError::OwnMembership) => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only the client removes a member; leave the account from your Shared accounts list instead",
            ),
            AccountError::Team(TeamError::Owner) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", "the owner cannot be removed")
            }
            AccountError::Team(TeamError::AlreadyMember) => Self::conflict("conflict", "already a member"),
            AccountError::Team(TeamError::NoFreeTeamSlots(full)) => ApproveError::NoFreeTeamSlots(full).into(),
            AccountError::PlanTooSmall(PlanTooSmall { plan, members, limit }) => Self {
                used: Some(members),
                limit: Some(limit),
                ..Self::conflict(
                    "plan_too_small",
                    format!(
                        "plan {plan} has {limit} team slots but the team has {members} members; remove members first"
                    ),
                )
            },
            AccountError::DuplicateWebsite => Self::conflict("conflict", "the account has this website already"),
            AccountError::DuplicateInvoice => Self::conflict("conflict", "the account has an invoice with this number"),
            AccountError::Invalid(why) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", why),
            AccountError::InvalidCursor => Self::invalid("cursor", "invalid cursor"),
            AccountError::Denied(d) => d.into(),
            AccountError::Store(s) => s.into(),
        }
    }
}

/// Turns any framework error (bad JSON, wrong content type, missing auth, unknown
/// route, body too large, …) into problem details, so no response is ever plain text.
pub fn from_poem_error(err: &poem::Error) -> Problem {
    let status = err.status();
    if status == StatusCode::BAD_REQUEST {
        // A well-formed value that fails a documented constraint (length, pattern,
        // range) is 422 naming the field, like the handlers' own checks.
        let message = err.to_string();
        if message.contains("verification failed") {
            let field = ["field `", "parameter `"]
                .iter()
                .find_map(|m| message.split_once(m).and_then(|(_, rest)| rest.split_once('`')).map(|(f, _)| f));
            return Problem { field: field.map(str::to_owned), ..Problem::invalid("", message.clone()) };
        }
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "validation_failed",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal",
        _ => "error",
    };
    let detail = if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        "unexpected error; it has been logged".to_owned()
    } else {
        err.to_string()
    };
    Problem::new(status, code, detail)
}

#[cfg(test)]
mod tests {
    use clients_domain::NoFreeTeamSlots;

    use super::*;

    #[test]
    fn slot_refusal_carries_used_and_limit_and_a_stable_code() {
        let p: Problem = ApproveError::NoFreeTeamSlots(NoFreeTeamSlots { used: 3, limit: 3 }).into();
        assert_eq!((p.status, p.code.as_str(), p.used, p.limit), (409, "no_free_team_slots", Some(3), Some(3)));
        assert_eq!(p.type_, "urn:clients:problem:no_free_team_slots");
    }

    #[test]
    fn storage_outages_are_503_with_retry_after_and_never_leak_internals() {
        let p: Problem = StoreError::Unavailable("connection refused to 10.0.0.1".into()).into();
        assert_eq!((p.status, p.retry_after), (503, Some(UNAVAILABLE_RETRY_AFTER)));
        assert!(!p.detail.unwrap().contains("10.0.0.1"));
        let p: Problem = StoreError::Internal("syntax error at SELECT".into()).into();
        assert_eq!(p.status, 500);
        assert!(!p.detail.unwrap().contains("SELECT"));
    }

    #[test]
    fn a_value_failing_a_documented_constraint_is_422_naming_the_field() {
        let body = poem::Error::from_string(
            "parse request payload error: failed to parse \"SignUpBody\": field `email` verification failed. maxLength(254)",
            StatusCode::BAD_REQUEST,
        );
        let p = from_poem_error(&body);
        assert_eq!((p.status, p.code.as_str(), p.field.as_deref()), (422, "validation_failed", Some("email")));
        let query = poem::Error::from_string(
            "failed to parse parameter `limit`: verification failed. maximum(100)",
            StatusCode::BAD_REQUEST,
        );
        assert_eq!(from_poem_error(&query).field.as_deref(), Some("limit"));
        let unknown = poem::Error::from_string("unknown field `state`.", StatusCode::BAD_REQUEST);
        assert_eq!(from_poem_error(&unknown).status, 400, "malformed bodies stay 400");
    }

    #[test]
    fn every_invalid_link_answers_identically() {
        use clients_domain::InvalidGrant;
        let answers: Vec<Problem> = [InvalidGrant::Unknown, InvalidGrant::Expired, InvalidGrant::Closed]
            .into_iter()
            .flat_map(|w| [Problem::from(GrantLinkError::Invalid(w)), Problem::from(ApproveError::InvalidGrant(w))])
            .collect();
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    }
}
