//! The audit log: one entry per state change (rule 10).

use chrono::{DateTime, Utc};

use crate::{AccessRequestId, AccountId, AuditEventId, Email, MembershipId, Plan, Role, SessionId};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditKind {
    /// An agency requested access.
    AccessRequested {
        /// Role asked for.
        role: Role,
    },
    /// The agency resent the request (new link).
    RequestResent,
    /// The agency withdrew the request.
    RequestRemoved,
    /// The client approved.
    RequestApproved {
        /// Role granted.
        role: Role,
        /// Membership created.
        member: MembershipId,
    },
    /// The client declined.
    RequestDeclined,
    /// A member's role changed.
    RoleChanged {
        /// Membership.
        member: MembershipId,
        /// Before.
        from: Role,
        /// After.
        to: Role,
    },
    /// A member was removed by the client (access revoked).
    MemberRemoved {
        /// Membership.
        member: MembershipId,
        /// Role it had.
        role: Role,
    },
    /// The agency left.
    AgencyLeft {
        /// Membership.
        member: MembershipId,
    },
    /// "Log in as" started.
    ImpersonationStarted {
        /// The session.
        session: SessionId,
        /// Its role.
        role: Role,
        /// Its end.
        expires_at: DateTime<Utc>,
    },
    /// The plan changed.
    PlanChanged {
        /// Before.
        from: Plan,
        /// After.
        to: Plan,
    },
    /// A grant link proved control of the mailbox.
    EmailVerified,
}

impl AuditKind {
    /// Stable event name (`access_requested`, …) for storage and the API.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            AuditKind::AccessRequested { .. } => "access_requested",
            AuditKind::RequestResent => "request_resent",
            AuditKind::RequestRemoved => "request_removed",
            AuditKind::RequestApproved { .. } => "request_approved",
            AuditKind::RequestDeclined => "request_declined",
            AuditKind::RoleChanged { .. } => "role_changed",
            AuditKind::MemberRemoved { .. } => "member_removed",
            AuditKind::AgencyLeft { .. } => "agency_left",
            AuditKind::ImpersonationStarted { .. } => "impersonation_started",
            AuditKind::PlanChanged { .. } => "plan_changed",
            AuditKind::EmailVerified => "email_verified",
        }
    }
}

/// One audit entry. Visible to the client account (`client`, or `client_email` before
/// the client has an account) and to the agency for its own requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Identity.
    pub id: AuditEventId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who did it (`None`: the service).
    pub actor: Option<AccountId>,
    /// Set when the actor acted through "Log in as".
    pub via_session: Option<SessionId>,
    /// The client account concerned, when it exists.
    pub client: Option<AccountId>,
    /// The client's address, for requests made before the client had an account.
    pub client_email: Option<Email>,
    /// The agency concerned.
    pub agency: Option<AccountId>,
    /// The request concerned.
    pub request: Option<AccessRequestId>,
    /// What happened.
    pub kind: AuditKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule10_every_state_change_has_a_distinct_stable_name() {
        let m = MembershipId::from_uuid(uuid::Uuid::nil());
        let s = SessionId::from_uuid(uuid::Uuid::nil());
        let kinds = [
            AuditKind::AccessRequested { role: Role::Admin },
            AuditKind::RequestResent,
            AuditKind::RequestRemoved,
            AuditKind::RequestApproved { role: Role::Admin, member: m },
            AuditKind::RequestDeclined,
            AuditKind::RoleChanged { member: m, from: Role::Admin, to: Role::Biller },
            AuditKind::MemberRemoved { member: m, role: Role::Admin },
            AuditKind::AgencyLeft { member: m },
            AuditKind::ImpersonationStarted { session: s, role: Role::Admin, expires_at: DateTime::UNIX_EPOCH },
            AuditKind::PlanChanged { from: Plan::Free, to: Plan::Pro },
            AuditKind::EmailVerified,
        ];
        let mut names: Vec<_> = kinds.iter().map(AuditKind::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), kinds.len());
    }
}
