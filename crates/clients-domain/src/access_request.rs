//! `AccessRequest`: an agency's request for a role in whatever account owns an email,
//! and its lifecycle (rules 2, 3 and 8).
//!
//! ```text
//!              approve            revoke (client removes the member)
//!  requested ───────────► approved ─────────► revoked
//!    │  ▲  │                  │
//!    │  │  │ decline          └──────────────► left    (agency leaves)
//!    │  │  ▼
//!    │  └─ declined  (resend asks again)
//!    │        │
//!    └────────┴─────► removed   (agency removes; only before approval)
//! ```

use std::fmt;

use chrono::{DateTime, Utc};

use crate::policy::{Policy, ResendWindow, RetryAfter};
use crate::{AccessRequestId, AccountId, Email, GrantToken, Role, TokenHash};

/// Where a request is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
pub enum RequestState {
    /// Sent, waiting for the client.
    Requested,
    /// The client approved: the agency is a team member.
    Approved,
    /// The client declined; the row stays in the agency's list, tagged, until removed.
    Declined,
    /// The agency withdrew it before approval.
    Removed,
    /// The client removed the agency from the team.
    Revoked,
    /// The agency gave up its access.
    Left,
}

impl RequestState {
    /// Every state.
    pub const ALL: [RequestState; 6] = [
        RequestState::Requested,
        RequestState::Approved,
        RequestState::Declined,
        RequestState::Removed,
        RequestState::Revoked,
        RequestState::Left,
    ];

    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestState::Requested => "requested",
            RequestState::Approved => "approved",
            RequestState::Declined => "declined",
            RequestState::Removed => "removed",
            RequestState::Revoked => "revoked",
            RequestState::Left => "left",
        }
    }

    /// Parses [`RequestState::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the row is in the agency's "Shared accounts" list (rule 2): removed,
    /// revoked and left rows are not.
    #[must_use]
    pub const fn is_listed(self) -> bool {
        matches!(self, RequestState::Requested | RequestState::Approved | RequestState::Declined)
    }

    /// Whether a new request from the same agency to the same email conflicts (rule 2).
    #[must_use]
    pub const fn blocks_new_request(self) -> bool {
        matches!(self, RequestState::Requested | RequestState::Approved)
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Delivery state of the newest email for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
pub enum Delivery {
    /// In the outbox.
    Queued,
    /// Accepted by the mail provider.
    Sent,
    /// Permanently refused, or retries exhausted; the agency can Resend.
    Failed,
}

impl Delivery {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
        }
    }

    /// Parses [`Delivery::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Delivery::Queued, Delivery::Sent, Delivery::Failed].into_iter().find(|d| d.as_str() == s)
    }
}

/// Something one can try to do to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    /// Client approves.
    Approve,
    /// Client declines.
    Decline,
    /// Agency removes.
    Remove,
    /// Agency resends.
    Resend,
    /// Client removes the member.
    Revoke,
    /// Agency leaves.
    Leave,
    /// Client changes the member's role.
    ChangeRole,
}

/// A transition the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action:?} a request that is {from}")]
pub struct TransitionError {
    /// State the request was in.
    pub from: RequestState,
    /// What was attempted.
    pub action: RequestAction,
}

/// A grant link issued for a request: its hash and validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedGrant {
    /// SHA-256 of the raw token in the email.
    pub hash: TokenHash,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// First instant it no longer works.
    pub expires_at: DateTime<Utc>,
}

/// A grant link that does not open anything. One variant per cause for logs and
/// metrics; the HTTP layer answers all of them identically (no oracle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidGrant {
    /// No request has this token now (never issued, or rotated by a resend).
    #[error("unknown token")]
    Unknown,
    /// The link is older than the grant TTL.
    #[error("token expired")]
    Expired,
    /// The request is no longer waiting (approved, declined, removed, …).
    #[error("token already used or request closed")]
    Closed,
}

/// Why an agency cannot open a request to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NewRequestError {
    /// The address is the agency's own.
    #[error("an agency cannot request access to itself")]
    OwnAccount,
}

/// Why a resend is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResendError {
    /// Not requested or declined.
    #[error(transparent)]
    State(#[from] TransitionError),
    /// Cooldown or daily cap (rule 8).
    #[error(transparent)]
    RateLimited(#[from] RetryAfter),
}

/// The storage form of an [`AccessRequest`]: plain fields, checked on the way back in
/// by [`AccessRequest::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct AccessRequestRecord {
    pub id: AccessRequestId,
    pub agency_id: AccountId,
    pub email: Email,
    pub role: Role,
    pub state: RequestState,
    pub grant: Option<IssuedGrant>,
    pub client_id: Option<AccountId>,
    pub sends: u32,
    pub last_sent_at: DateTime<Utc>,
    pub resend_window: ResendWindow,
    pub delivery: Delivery,
    /// Set when the client tried to approve with no free slot; shown to the agency as
    /// "blocked on slots" while the client's team stays full.
    pub slot_blocked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A stored record that breaks an invariant of the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access request {id} is corrupt: {why}")]
pub struct CorruptRecord {
    /// Which request.
    pub id: AccessRequestId,
    /// Which invariant.
    pub why: &'static str,
}

/// An access request. Fields are private: it changes only through its transitions.
///
/// ```
/// use chrono::{DateTime, TimeDelta};
/// use clients_domain::*;
/// let t0 = DateTime::UNIX_EPOCH;
/// let token = GrantToken::from_random([1; 32]);
/// let mut req = AccessRequest::new(
///     AccessRequestId::from_uuid(uuid::Uuid::from_u128(1)),
///     AccountId::from_uuid(uuid::Uuid::from_u128(2)),
///     &Email::parse("agency@example.com").unwrap(),
///     Email::parse("Client@Example.com").unwrap(),
///     Role::Developer,
///     &token,
///     t0,
///     &Policy::default(),
/// ).unwrap();
/// assert_eq!(req.state(), RequestState::Requested);
/// assert!(req.check_grant(&token.hash(), t0 + TimeDelta::days(1)).is_ok());
/// req.approve(AccountId::from_uuid(uuid::Uuid::from_u128(3)), t0).unwrap();
/// assert!(req.remove(t0).is_err(), "Remove is not offered once approved");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    r: AccessRequestRecord,
}

impl AccessRequest {
    /// Opens a request and issues its first grant link.
    ///
    /// # Errors
    /// [`NewRequestError::OwnAccount`] when `email` is the agency's own address.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: AccessRequestId,
        agency_id: AccountId,
        agency_email: &Email,
        email: Email,
        role: Role,
        token: &GrantToken,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Self, NewRequestError> {
        if &email == agency_email {
            return Err(NewRequestError::OwnAccount);
        }
        Ok(Self {
            r: AccessRequestRecord {
                id,
                agency_id,
                email,
                role,
                state: RequestState::Requested,
                grant: Some(IssuedGrant { hash: token.hash(), issued_at: now, expires_at: now + policy.grant_ttl }),
                client_id: None,
                sends: 1,
                last_sent_at: now,
                resend_window: ResendWindow::default(),
                delivery: Delivery::Queued,
                slot_blocked_at: None,
                created_at: now,
                updated_at: now,
            },
        })
    }

    /// Rebuilds a request from storage, checking the lifecycle's invariants.
    ///
    /// # Errors
    /// [`CorruptRecord`] when the record could not have been produced by the lifecycle.
    pub fn restore(r: AccessRequestRecord) -> Result<Self, CorruptRecord> {
        let bad = |why| Err(CorruptRecord { id: r.id, why });
        let needs_client = matches!(r.state, RequestState::Approved | RequestState::Revoked | RequestState::Left);
        if needs_client != r.client_id.is_some() {
            return bad("client_id must be set exactly for approved, revoked and left requests");
        }
        if (r.state == RequestState::Requested) != r.grant.is_some() {
            return bad("a grant link exists exactly while requested");
        }
        if r.sends == 0 {
            return bad("a request is sent at least once");
        }
        Ok(Self { r })
    }

    /// The storage form.
    #[must_use]
    pub fn record(&self) -> &AccessRequestRecord {
        &self.r
    }

    /// Identity.
    #[must_use]
    pub fn id(&self) -> AccessRequestId {
        self.r.id
    }
    /// The requesting agency.
    #[must_use]
    pub fn agency_id(&self) -> AccountId {
        self.r.agency_id
    }
    /// The client's address the request is sent to.
    #[must_use]
    pub fn email(&self) -> &Email {
        &self.r.email
    }
    /// The role asked for (and, once approved, held: role changes happen on the membership).
    #[must_use]
    pub fn role(&self) -> Role {
        self.r.role
    }
    /// Lifecycle state.
    #[must_use]
    pub fn state(&self) -> RequestState {
        self.r.state
    }
    /// The account that approved it.
    #[must_use]
    pub fn client_id(&self) -> Option<AccountId> {
        self.r.client_id
    }
    /// The newest grant link, while requested.
    #[must_use]
    pub fn grant(&self) -> Option<&IssuedGrant> {
        self.r.grant.as_ref()
    }
    /// Delivery state of the newest email.
    #[must_use]
    pub fn delivery(&self) -> Delivery {
        self.r.delivery
    }
    /// When the newest email was queued.
    #[must_use]
    pub fn last_sent_at(&self) -> DateTime<Utc> {
        self.r.last_sent_at
    }
    /// Creation time.
    #[must_use]
    pub fn created_at(&self) -> DateTime<Utc> {
        self.r.created_at
    }

    /// Whether `presented` opens this request at `now` (rule 3: newest link only,
    /// unexpired, single use). Compares hashes in constant time.
    ///
    /// # Errors
    /// [`InvalidGrant`] naming the cause (for logs; callers answer uniformly).
    pub fn check_grant(&self, presented: &TokenHash, now: DateTime<Utc>) -> Result<(), InvalidGrant> {
        let Some(grant) = &self.r.grant else {
            return Err(InvalidGrant::Closed);
        };
        if grant.hash != *presented {
            return Err(InvalidGrant::Unknown);
        }
        if now >= grant.expires_at {
            return Err(InvalidGrant::Expired);
        }
        Ok(())
    }

    fn transition(
        &mut self,
        action: RequestAction,
        allowed_from: &[RequestState],
        to: RequestState,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        if !allowed_from.contains(&self.r.state) {
            return Err(TransitionError { from: self.r.state, action });
        }
        self.r.state = to;
        self.r.updated_at = now;
        if to != RequestState::Requested {
            // Single use: once the request leaves `requested`, no link opens it.
            self.r.grant = None;
        }
        Ok(())
    }

    /// The client approves; `client` becomes the account it belongs to.
    ///
    /// # Errors
    /// [`TransitionError`] unless requested.
    pub fn approve(&mut self, client: AccountId, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.transition(RequestAction::Approve, &[RequestState::Requested], RequestState::Approved, now)?;
        self.r.client_id = Some(client);
        Ok(())
    }

    /// The client declines.
    ///
    /// # Errors
    /// [`TransitionError`] unless requested.
    pub fn decline(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.transition(RequestAction::Decline, &[RequestState::Requested], RequestState::Declined, now)
    }

    /// The agency removes the request (rule 2: only before approval).
    ///
    /// # Errors
    /// [`TransitionError`] unless requested or declined.
    pub fn remove(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.transition(
            RequestAction::Remove,
            &[RequestState::Requested, RequestState::Declined],
            RequestState::Removed,
            now,
        )
    }

    /// The client removed the agency from its team.
    ///
    /// # Errors
    /// [`TransitionError`] unless approved.
    pub fn revoke(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.transition(RequestAction::Revoke, &[RequestState::Approved], RequestState::Revoked, now)
    }

    /// The agency gives up its access.
    ///
    /// # Errors
    /// [`TransitionError`] unless approved.
    pub fn leave(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.transition(RequestAction::Leave, &[RequestState::Approved], RequestState::Left, now)
    }

    /// Sends the request again with a fresh link (rules 3 and 8): the previous link
    /// stops working, the email is queued, and a declined request is asked again.
    ///
    /// # Errors
    /// [`ResendError::State`] unless requested or declined; [`ResendError::RateLimited`]
    /// inside the cooldown or past the daily cap.
    pub fn resend(&mut self, token: &GrantToken, now: DateTime<Utc>, policy: &Policy) -> Result<(), ResendError> {
        if !matches!(self.r.state, RequestState::Requested | RequestState::Declined) {
            return Err(TransitionError { from: self.r.state, action: RequestAction::Resend }.into());
        }
        let window = policy.resend.check(self.r.last_sent_at, self.r.resend_window, now)?;
        self.r.state = RequestState::Requested;
        self.r.grant = Some(IssuedGrant { hash: token.hash(), issued_at: now, expires_at: now + policy.grant_ttl });
        self.r.resend_window = window;
        self.r.sends = self.r.sends.saturating_add(1);
        self.r.last_sent_at = now;
        self.r.delivery = Delivery::Queued;
        self.r.slot_blocked_at = None;
        self.r.updated_at = now;
        Ok(())
    }

    /// When the client last failed to approve for lack of a free slot.
    #[must_use]
    pub fn slot_blocked_at(&self) -> Option<DateTime<Utc>> {
        self.r.slot_blocked_at
    }

    /// The client tried to approve but had no free slot (rule 5): the request stays
    /// requested, and the agency's row can say why.
    pub fn record_slot_block(&mut self, now: DateTime<Utc>) {
        self.r.slot_blocked_at = Some(now);
        self.r.updated_at = now;
    }

    /// The client changed the agency's role in Team Management; the row's access level
    /// follows.
    ///
    /// # Errors
    /// [`TransitionError`] unless approved.
    pub fn change_role(&mut self, role: Role, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.r.state != RequestState::Approved {
            return Err(TransitionError { from: self.r.state, action: RequestAction::ChangeRole });
        }
        self.r.role = role;
        self.r.updated_at = now;
        Ok(())
    }

    /// Records what happened to the newest email.
    pub fn record_delivery(&mut self, delivery: Delivery, now: DateTime<Utc>) {
        self.r.delivery = delivery;
        self.r.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use uuid::Uuid;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::seconds(secs)
    }
    fn token(n: u8) -> GrantToken {
        GrantToken::from_random([n; 32])
    }
    fn agency_email() -> Email {
        Email::parse("agency@example.com").unwrap()
    }
    fn request() -> AccessRequest {
        AccessRequest::new(
            AccessRequestId::from_uuid(Uuid::from_u128(1)),
            AccountId::from_uuid(Uuid::from_u128(2)),
            &agency_email(),
            Email::parse("client@example.com").unwrap(),
            Role::Biller,
            &token(1),
            t(0),
            &Policy::default(),
        )
        .unwrap()
    }
    fn in_state(state: RequestState) -> AccessRequest {
        let mut r = request();
        let client = AccountId::from_uuid(Uuid::from_u128(9));
        match state {
            RequestState::Requested => {}
            RequestState::Approved => r.approve(client, t(1)).unwrap(),
            RequestState::Declined => r.decline(t(1)).unwrap(),
            RequestState::Removed => r.remove(t(1)).unwrap(),
            RequestState::Revoked => {
                r.approve(client, t(1)).unwrap();
                r.revoke(t(2)).unwrap();
            }
            RequestState::Left => {
                r.approve(client, t(1)).unwrap();
                r.leave(t(2)).unwrap();
            }
        }
        assert_eq!(r.state(), state);
        r
    }

    /// Rule 2, as a table: (state, action) -> resulting state or refusal.
    #[test]
    fn rule2_lifecycle_transition_table() {
        use RequestAction as A;
        use RequestState as S;
        #[rustfmt::skip]
        let table: [(S, A, Option<S>); 36] = [
            (S::Requested, A::Approve, Some(S::Approved)), (S::Requested, A::Decline, Some(S::Declined)),
            (S::Requested, A::Remove, Some(S::Removed)),   (S::Requested, A::Resend, Some(S::Requested)),
            (S::Requested, A::Revoke, None),               (S::Requested, A::Leave, None),
            (S::Approved, A::Approve, None),               (S::Approved, A::Decline, None),
            (S::Approved, A::Remove, None),                (S::Approved, A::Resend, None),
            (S::Approved, A::Revoke, Some(S::Revoked)),    (S::Approved, A::Leave, Some(S::Left)),
            (S::Declined, A::Approve, None),               (S::Declined, A::Decline, None),
            (S::Declined, A::Remove, Some(S::Removed)),    (S::Declined, A::Resend, Some(S::Requested)),
            (S::Declined, A::Revoke, None),                (S::Declined, A::Leave, None),
            (S::Removed, A::Approve, None),                (S::Removed, A::Decline, None),
            (S::Removed, A::Remove, None),                 (S::Removed, A::Resend, None),
            (S::Removed, A::Revoke, None),                 (S::Removed, A::Leave, None),
            (S::Revoked, A::Approve, None),                (S::Revoked, A::Decline, None),
            (S::Revoked, A::Remove, None),                 (S::Revoked, A::Resend, None),
            (S::Revoked, A::Revoke, None),                 (S::Revoked, A::Leave, None),
            (S::Left, A::Approve, None),                   (S::Left, A::Decline, None),
            (S::Left, A::Remove, None),                    (S::Left, A::Resend, None),
            (S::Left, A::Revoke, None),                    (S::Left, A::Leave, None),
        ];
        let client = AccountId::from_uuid(Uuid::from_u128(9));
        for (from, action, expected) in table {
            let mut r = in_state(from);
            let now = t(10_000);
            let result = match action {
                A::Approve => r.approve(client, now),
                A::Decline => r.decline(now),
                A::Remove => r.remove(now),
                A::Revoke => r.revoke(now),
                A::Leave => r.leave(now),
                A::ChangeRole => unreachable!("not in this table"),
                A::Resend => r.resend(&token(7), now, &Policy::default()).map_err(|e| match e {
                    ResendError::State(t) => t,
                    ResendError::RateLimited(_) => panic!("not rate limited at t=10000"),
                }),
            };
            match expected {
                Some(to) => {
                    assert!(result.is_ok(), "{from:?} --{action:?}--> should be allowed");
                    assert_eq!(r.state(), to, "{from:?} --{action:?}");
                }
                None => {
                    assert_eq!(result, Err(TransitionError { from, action }), "{from:?} --{action:?}");
                    assert_eq!(r.state(), from, "refused transition leaves the state alone");
                }
            }
        }
    }

    #[test]
    fn rule2_only_requested_approved_and_declined_rows_are_listed() {
        let listed: Vec<_> = RequestState::ALL.into_iter().filter(|s| s.is_listed()).collect();
        assert_eq!(listed, [RequestState::Requested, RequestState::Approved, RequestState::Declined]);
        let blocking: Vec<_> = RequestState::ALL.into_iter().filter(|s| s.blocks_new_request()).collect();
        assert_eq!(blocking, [RequestState::Requested, RequestState::Approved]);
    }

    #[test]
    fn rule2_an_agency_cannot_request_access_to_itself_in_any_case_variant() {
        let result = AccessRequest::new(
            AccessRequestId::from_uuid(Uuid::from_u128(1)),
            AccountId::from_uuid(Uuid::from_u128(2)),
            &agency_email(),
            Email::parse(" AGENCY@example.com ").unwrap(),
            Role::Admin,
            &token(1),
            t(0),
            &Policy::default(),
        );
        assert_eq!(result, Err(NewRequestError::OwnAccount));
    }

    #[test]
    fn rule2_approval_records_the_client_account() {
        let r = in_state(RequestState::Approved);
        assert_eq!(r.client_id(), Some(AccountId::from_uuid(Uuid::from_u128(9))));
        assert!(request().client_id().is_none());
    }

    #[test]
    fn rule3_grant_expires_after_seven_days() {
        let r = request();
        let h = token(1).hash();
        assert_eq!(r.check_grant(&h, t(7 * 86_400 - 1)), Ok(()));
        assert_eq!(r.check_grant(&h, t(7 * 86_400)), Err(InvalidGrant::Expired));
    }

    #[test]
    fn rule3_grant_is_single_use() {
        let h = token(1).hash();
        for state in [RequestState::Approved, RequestState::Declined, RequestState::Removed] {
            let r = in_state(state);
            assert_eq!(r.check_grant(&h, t(5)), Err(InvalidGrant::Closed), "{state:?}");
            assert!(r.grant().is_none());
        }
    }

    #[test]
    fn rule3_resend_rotates_the_link_and_only_the_newest_works() {
        let mut r = request();
        r.record_delivery(Delivery::Failed, t(10));
        r.resend(&token(2), t(60), &Policy::default()).unwrap();
        assert_eq!(r.check_grant(&token(1).hash(), t(61)), Err(InvalidGrant::Unknown));
        assert_eq!(r.check_grant(&token(2).hash(), t(61)), Ok(()));
        assert_eq!(r.delivery(), Delivery::Queued);
        assert_eq!(r.record().sends, 2);
        // The new link has its own 7 days.
        assert_eq!(r.grant().unwrap().expires_at, t(60) + TimeDelta::days(7));
    }

    #[test]
    fn rule3_a_wrong_token_is_unknown() {
        assert_eq!(request().check_grant(&token(99).hash(), t(1)), Err(InvalidGrant::Unknown));
    }

    #[test]
    fn rule8_resend_respects_cooldown_and_reports_retry_after() {
        let mut r = request();
        let err = r.resend(&token(2), t(10), &Policy::default()).unwrap_err();
        assert_eq!(err, ResendError::RateLimited(RetryAfter { retry_after: TimeDelta::seconds(50) }));
        // Refused resend changes nothing: the old link still works.
        assert_eq!(r.check_grant(&token(1).hash(), t(11)), Ok(()));
    }

    #[test]
    fn resend_of_a_declined_request_asks_again() {
        let mut r = in_state(RequestState::Declined);
        r.resend(&token(3), t(120), &Policy::default()).unwrap();
        assert_eq!(r.state(), RequestState::Requested);
        assert!(r.check_grant(&token(3).hash(), t(121)).is_ok());
    }

    #[test]
    fn restore_accepts_what_the_lifecycle_produces_and_rejects_the_rest() {
        for s in RequestState::ALL {
            let r = in_state(s);
            assert_eq!(AccessRequest::restore(r.record().clone()).unwrap(), r);
        }
        let mut bad = in_state(RequestState::Approved).record().clone();
        bad.client_id = None;
        assert!(AccessRequest::restore(bad).is_err());
        let mut bad = request().record().clone();
        bad.grant = None;
        assert!(AccessRequest::restore(bad).is_err());
        let mut bad = request().record().clone();
        bad.sends = 0;
        assert!(AccessRequest::restore(bad).is_err());
    }

    #[test]
    fn role_follows_the_membership_only_once_approved() {
        let mut r = in_state(RequestState::Approved);
        r.change_role(Role::Admin, t(5)).unwrap();
        assert_eq!(r.role(), Role::Admin);
        let mut p = request();
        assert!(p.change_role(Role::Admin, t(5)).is_err());
        assert_eq!(p.role(), Role::Biller);
    }

    #[test]
    fn slot_block_is_recorded_and_cleared_by_a_resend() {
        let mut r = request();
        r.record_slot_block(t(5));
        assert_eq!(r.slot_blocked_at(), Some(t(5)));
        r.resend(&token(4), t(100), &Policy::default()).unwrap();
        assert_eq!(r.slot_blocked_at(), None);
    }

    #[test]
    fn wire_names_round_trip() {
        for s in RequestState::ALL {
            assert_eq!(RequestState::parse(s.as_str()), Some(s));
        }
        for d in [Delivery::Queued, Delivery::Sent, Delivery::Failed] {
            assert_eq!(Delivery::parse(d.as_str()), Some(d));
        }
        assert_eq!(RequestState::parse("pending"), None);
    }
}
