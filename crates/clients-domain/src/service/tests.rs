//! Use-case tests over mockall mocks of every port. The atomic store mock runs the
//! real decision on a scope the test builds, so these tests exercise the rules, not
//! the mocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::*;
use crate::ports::{
    AtomicError, MockAccessRequestRepository, MockAccountRepository, MockAccountResources, MockAtomicStore,
    MockAuditRepository, MockClock, MockEntropy, MockPasswordHasher, MockSessionRepository, MockTeamRepository,
    MockWebsiteRepository, PendingRequest,
};
use crate::{Delivery, InvalidGrant, NoFreeTeamSlots, PasswordHash, RowAction, SharedAccountStatus, TeamSlots};

const NOW: i64 = 1_800_000_000;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap()
}

struct Mocks {
    accounts: MockAccountRepository,
    sessions: MockSessionRepository,
    requests: MockAccessRequestRepository,
    teams: MockTeamRepository,
    websites: MockWebsiteRepository,
    audit: MockAuditRepository,
    store: MockAtomicStore,
    clock: MockClock,
    entropy: MockEntropy,
    hasher: MockPasswordHasher,
    resources: MockAccountResources,
}

impl Ports for Mocks {
    type Accounts = MockAccountRepository;
    type Sessions = MockSessionRepository;
    type Requests = MockAccessRequestRepository;
    type Teams = MockTeamRepository;
    type Websites = MockWebsiteRepository;
    type Audit = MockAuditRepository;
    type Store = MockAtomicStore;
    type Clock = MockClock;
    type Entropy = MockEntropy;
    type Hasher = MockPasswordHasher;
    type Resources = MockAccountResources;
    fn accounts(&self) -> &Self::Accounts {
        &self.accounts
    }
    fn sessions(&self) -> &Self::Sessions {
        &self.sessions
    }
    fn requests(&self) -> &Self::Requests {
        &self.requests
    }
    fn teams(&self) -> &Self::Teams {
        &self.teams
    }
    fn websites(&self) -> &Self::Websites {
        &self.websites
    }
    fn audit(&self) -> &Self::Audit {
        &self.audit
    }
    fn store(&self) -> &Self::Store {
        &self.store
    }
    fn clock(&self) -> &Self::Clock {
        &self.clock
    }
    fn entropy(&self) -> &Self::Entropy {
        &self.entropy
    }
    fn hasher(&self) -> &Self::Hasher {
        &self.hasher
    }
    fn resources(&self) -> &Self::Resources {
        &self.resources
    }
}

impl Mocks {
    /// Mocks with a fixed clock and deterministic, never-repeating randomness; every
    /// other port refuses calls unless a test expects them.
    fn new() -> Self {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let mut entropy = MockEntropy::new();
        let counter = Arc::new(AtomicU64::new(1_000));
        let c = counter.clone();
        entropy.expect_uuid().returning(move || Uuid::from_u128(u128::from(c.fetch_add(1, Ordering::Relaxed))));
        entropy.expect_token_bytes().returning(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&n.to_le_bytes());
            bytes
        });
        Self {
            accounts: MockAccountRepository::new(),
            sessions: MockSessionRepository::new(),
            requests: MockAccessRequestRepository::new(),
            teams: MockTeamRepository::new(),
            websites: MockWebsiteRepository::new(),
            audit: MockAuditRepository::new(),
            store: MockAtomicStore::new(),
            clock,
            entropy,
            hasher: MockPasswordHasher::new(),
            resources: MockAccountResources::new(),
        }
    }

    /// The store runs the decision on `scope` and records what it would commit.
    fn atomically<T: Send + 'static, E: Send + 'static>(&mut self, scope: Scope) -> Committed {
        let log: Committed = Arc::default();
        let l = log.clone();
        self.store.expect_atomically::<T, E>().returning(move |key, decide| match decide.decide(&scope) {
            Ok(d) => {
                l.lock().unwrap().push((key, d.changes));
                Ok(d.outcome)
            }
            Err(e) => Err(AtomicError::Refused(e)),
        });
        log
    }

    fn service(self) -> Service<Self> {
        Service::new(self, Policy::default())
    }
}

type Committed = Arc<Mutex<Vec<(ScopeKey, Changes)>>>;

fn committed(log: &Committed) -> Vec<(ScopeKey, Changes)> {
    log.lock().unwrap().clone()
}

fn aid(n: u128) -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(n))
}
const AGENCY: u128 = 1;
const CLIENT: u128 = 2;

fn account(n: u128, email: &str, verified: bool, plan: Plan) -> Account {
    Account {
        id: aid(n),
        email: Email::parse(email).unwrap(),
        email_verified: verified,
        name: None,
        plan,
        created_at: now() - TimeDelta::days(30),
    }
}
fn agency() -> Account {
    let mut a = account(AGENCY, "agency@example.com", true, Plan::Pro);
    a.name = Some(DisplayName::parse("Acme <Agency>").unwrap());
    a
}
fn client(verified: bool, plan: Plan) -> Account {
    account(CLIENT, "client@example.com", verified, plan)
}
fn signed_in(a: Account) -> Principal {
    Principal::Account { account: a, session: SessionId::from_uuid(Uuid::from_u128(90)) }
}
fn impersonating(role: Role) -> Principal {
    Principal::Impersonation(Impersonation {
        session: SessionId::from_uuid(Uuid::from_u128(91)),
        agency: aid(AGENCY),
        client: aid(CLIENT),
        started_as: role,
        permissions: role.permissions(),
        expires_at: now() + TimeDelta::minutes(30),
    })
}
fn grant(n: u8) -> GrantToken {
    GrantToken::from_random([n; 32])
}
fn pending_request(token: &GrantToken, sent: DateTime<Utc>) -> AccessRequest {
    AccessRequest::new(
        AccessRequestId::from_uuid(Uuid::from_u128(500)),
        aid(AGENCY),
        &agency().email,
        Email::parse("client@example.com").unwrap(),
        Role::Developer,
        token,
        sent,
        &Policy::default(),
    )
    .unwrap()
}
fn member_of_agency(role: Role, origin: AccessRequestId) -> Member {
    Member {
        id: MembershipId::from_uuid(Uuid::from_u128(700)),
        account_id: aid(AGENCY),
        email: agency().email,
        role,
        origin,
        since: now() - TimeDelta::days(1),
    }
}
fn other_member(n: u128, role: Role) -> Member {
    Member {
        id: MembershipId::from_uuid(Uuid::from_u128(700 + n)),
        account_id: aid(n),
        email: Email::parse(&format!("other{n}@example.com")).unwrap(),
        role,
        origin: AccessRequestId::from_uuid(Uuid::from_u128(600 + n)),
        since: now() - TimeDelta::days(2),
    }
}
fn approved_request(role: Role) -> AccessRequest {
    let mut r = pending_request(&grant(1), now() - TimeDelta::days(3));
    r.approve(aid(CLIENT), now() - TimeDelta::days(1)).unwrap();
    r.change_role(role, now() - TimeDelta::days(1)).unwrap();
    r
}

// ----- Requesting access (rules 2, 3, 6, 7, 11) --------------------------------------

#[tokio::test]
async fn rule2_request_access_creates_a_requested_row_and_queues_the_grant_email() {
    let mut m = Mocks::new();
    let log =
        m.atomically::<SharedAccountRow, RequestAccessError>(Scope { agency: Some(agency()), ..Scope::default() });
    let email = Email::parse(" Client@Example.com ").unwrap();
    let row = m.service().request_access(&signed_in(agency()), email.clone(), Role::Developer).await.unwrap();

    assert!(row.requested());
    assert_eq!(row.status, SharedAccountStatus::NoData);
    assert_eq!(row.actions, [RowAction::Resend, RowAction::Remove]);
    assert_eq!(row.request.delivery(), Delivery::Queued);
    let [(key, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(key, ScopeKey::NewRequest { agency: aid(AGENCY), email: email.clone() });
    let inserted = changes.insert_request.unwrap();
    assert_eq!(inserted.state(), RequestState::Requested);
    let [mail] = changes.emails.try_into().unwrap();
    assert_eq!(mail.to, email);
    let Notification::AccessRequested { token, agency_name, role, resent: false, expires_at, .. } = mail.notification
    else {
        panic!("wrong notification")
    };
    // Rule 3: the email carries the raw token, storage only its hash.
    assert_eq!(inserted.grant().unwrap().hash, token.hash());
    assert_eq!(expires_at, now() + TimeDelta::days(7));
    assert_eq!((agency_name.as_str(), role), ("Acme <Agency>", Role::Developer));
    assert_eq!(changes.audit.len(), 1);
    assert_eq!(changes.audit[0].kind, AuditKind::AccessRequested { role: Role::Developer });
}

#[tokio::test]
async fn rule11_request_access_answers_the_same_whether_or_not_the_email_has_an_account() {
    let mut answers = vec![];
    for existing in [None, Some(client(true, Plan::Free))] {
        let mut m = Mocks::new();
        let full_team = vec![other_member(9, Role::Admin)];
        let scope = Scope { agency: Some(agency()), client: existing, members: full_team, ..Scope::default() };
        m.atomically::<SharedAccountRow, RequestAccessError>(scope);
        let row = m
            .service()
            .request_access(&signed_in(agency()), Email::parse("client@example.com").unwrap(), Role::Admin)
            .await
            .unwrap();
        answers.push((row.status, row.actions, row.blocked_on_slots, row.requested(), row.websites));
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn rule2_second_request_while_pending_or_approved_is_a_conflict() {
    for existing in [pending_request(&grant(1), now()), approved_request(Role::Admin)] {
        let mut m = Mocks::new();
        let log = m.atomically::<SharedAccountRow, RequestAccessError>(Scope {
            agency: Some(agency()),
            request: Some(existing),
            ..Scope::default()
        });
        let err = m
            .service()
            .request_access(&signed_in(agency()), Email::parse("client@example.com").unwrap(), Role::Admin)
            .await
            .unwrap_err();
        assert_eq!(err, RequestAccessError::AlreadyRequested);
        assert!(committed(&log).is_empty());
    }
}

#[tokio::test]
async fn rule2_a_declined_request_does_not_block_a_new_one() {
    let mut declined = pending_request(&grant(1), now() - TimeDelta::days(2));
    declined.decline(now() - TimeDelta::days(1)).unwrap();
    let mut m = Mocks::new();
    m.atomically::<SharedAccountRow, RequestAccessError>(Scope {
        agency: Some(agency()),
        request: Some(declined),
        ..Scope::default()
    });
    let result = m
        .service()
        .request_access(&signed_in(agency()), Email::parse("client@example.com").unwrap(), Role::Admin)
        .await;
    assert!(result.is_ok());
}

#[tokio::test]
async fn rule2_a_concurrent_duplicate_caught_by_the_database_is_a_conflict() {
    let mut m = Mocks::new();
    m.store
        .expect_atomically::<SharedAccountRow, RequestAccessError>()
        .returning(|_, _| Err(AtomicError::Store(StoreError::Conflict("access_requests_open_uniq".into()))));
    let err = m
        .service()
        .request_access(&signed_in(agency()), Email::parse("client@example.com").unwrap(), Role::Admin)
        .await
        .unwrap_err();
    assert_eq!(err, RequestAccessError::AlreadyRequested);
}

fn session_of(bearer: &SessionToken, kind: SessionKind, expires_at: DateTime<Utc>) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::from_u128(90)),
        token_hash: bearer.hash(),
        account_id: aid(AGENCY),
        kind,
        created_at: now() - TimeDelta::hours(1),
        expires_at,
    }
}

/// A new request by the bearer of a session token: the store resolves the session
/// inside the write, and the decision writes only for a live personal session.
#[tokio::test]
async fn request_access_as_writes_for_a_live_personal_session_only() {
    let bearer = SessionToken::from_random([5; 32]);
    let email = Email::parse("client@example.com").unwrap();
    let live = session_of(&bearer, SessionKind::Personal, now() + TimeDelta::hours(1));
    let mut m = Mocks::new();
    let log = m.atomically::<SharedAccountRow, Option<RequestAccessError>>(Scope {
        agency: Some(agency()),
        session: Some(live.clone()),
        ..Scope::default()
    });
    let row = m.service().request_access_as(bearer.expose(), email.clone(), Role::Biller).await.unwrap().unwrap();
    assert!(row.requested());
    let [(key, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(key, ScopeKey::NewRequestAs { session: bearer.hash(), email: email.clone() });
    assert_eq!(changes.insert_request.unwrap().agency_id(), aid(AGENCY));

    // The agency's own refusals still answer.
    let mut m = Mocks::new();
    m.atomically::<SharedAccountRow, Option<RequestAccessError>>(Scope {
        agency: Some(agency()),
        session: Some(live.clone()),
        ..Scope::default()
    });
    let own = Email::parse("agency@example.com").unwrap();
    assert_eq!(
        m.service().request_access_as(bearer.expose(), own, Role::Admin).await,
        Err(RequestAccessError::OwnAccount)
    );

    // Anything else writes nothing and hands the bearer back to `authenticate`.
    let expired = session_of(&bearer, SessionKind::Personal, now());
    let log_in_as = session_of(
        &bearer,
        SessionKind::Impersonation { client: aid(CLIENT), role: Role::Admin },
        now() + TimeDelta::minutes(30),
    );
    let someone_else = Session { account_id: aid(CLIENT), ..live.clone() };
    for (agency_row, session) in [
        (Some(agency()), None),
        (Some(agency()), Some(expired)),
        (Some(agency()), Some(log_in_as)),
        (Some(agency()), Some(someone_else)),
        (None, Some(live.clone())),
    ] {
        let mut m = Mocks::new();
        let log = m.atomically::<SharedAccountRow, Option<RequestAccessError>>(Scope {
            agency: agency_row,
            session,
            ..Scope::default()
        });
        assert_eq!(m.service().request_access_as(bearer.expose(), email.clone(), Role::Biller).await, Ok(None));
        assert!(committed(&log).is_empty());
    }

    // A malformed bearer never reaches the store.
    let m = Mocks::new();
    assert_eq!(m.service().request_access_as("not a token", email, Role::Biller).await, Ok(None));
}

#[tokio::test]
async fn rule2_an_agency_cannot_request_access_to_itself() {
    let mut m = Mocks::new();
    m.atomically::<SharedAccountRow, RequestAccessError>(Scope { agency: Some(agency()), ..Scope::default() });
    let err = m
        .service()
        .request_access(&signed_in(agency()), Email::parse("AGENCY@example.com").unwrap(), Role::Admin)
        .await
        .unwrap_err();
    assert_eq!(err, RequestAccessError::OwnAccount);
}

#[tokio::test]
async fn rule8_one_recipient_cannot_be_flooded_with_requests() {
    let mut m = Mocks::new();
    let recent: Vec<_> = (0..20).map(|i| now() - TimeDelta::hours(23) + TimeDelta::minutes(i)).collect();
    m.atomically::<SharedAccountRow, RequestAccessError>(Scope {
        agency: Some(agency()),
        recipient_recent: recent,
        ..Scope::default()
    });
    let err = m
        .service()
        .request_access(&signed_in(agency()), Email::parse("client@example.com").unwrap(), Role::Admin)
        .await
        .unwrap_err();
    // The oldest of the 20 leaves the 24-hour window in one hour.
    assert_eq!(err, RequestAccessError::RecipientRateLimited(RetryAfter { retry_after: TimeDelta::hours(1) }));
}

#[tokio::test]
async fn rule9_log_in_as_sessions_cannot_reach_agency_endpoints() {
    let svc = Mocks::new().service();
    let p = impersonating(Role::Admin);
    let email = Email::parse("x@example.com").unwrap();
    assert_eq!(svc.request_access(&p, email, Role::Admin).await, Err(RequestAccessError::Denied(Denied::Forbidden)));
    let id = AccessRequestId::from_uuid(Uuid::from_u128(500));
    assert_eq!(svc.log_in_as(&p, id).await.unwrap_err(), RowActionError::Denied(Denied::Forbidden));
    assert_eq!(svc.approve(&p, id).await, Err(ApproveError::Denied(Denied::Forbidden)));
    assert_eq!(
        svc.shared_accounts(&p, &SharedAccountQuery::default()).await,
        Err(SharedAccountError::Denied(Denied::Forbidden))
    );
}

#[tokio::test]
async fn bulk_requests_take_1_to_100_emails_and_answer_each() {
    let svc = Mocks::new().service();
    let p = signed_in(agency());
    assert_eq!(svc.request_access_bulk(&p, vec![]).await, Err(BulkRequestError::BadSize));
    let many = (0..101).map(|i| (Email::parse(&format!("c{i}@example.com")).unwrap(), Role::Biller)).collect();
    assert_eq!(svc.request_access_bulk(&p, many).await, Err(BulkRequestError::BadSize));

    let mut m = Mocks::new();
    m.atomically::<SharedAccountRow, RequestAccessError>(Scope { agency: Some(agency()), ..Scope::default() });
    let items = vec![
        (Email::parse("one@example.com").unwrap(), Role::Biller),
        (Email::parse("agency@example.com").unwrap(), Role::Biller),
    ];
    let results = m.service().request_access_bulk(&p, items).await.unwrap();
    assert!(results[0].is_ok());
    assert_eq!(results[1], Err(RequestAccessError::OwnAccount));
}

// ----- Resend, remove, leave (rules 2, 3, 7, 8) --------------------------------------

#[tokio::test]
async fn rule3_resend_rotates_the_token_and_queues_a_new_email() {
    let old = grant(1);
    let mut m = Mocks::new();
    let log = m.atomically::<SharedAccountRow, RowActionError>(Scope {
        agency: Some(agency()),
        request: Some(pending_request(&old, now() - TimeDelta::hours(1))),
        ..Scope::default()
    });
    let id = AccessRequestId::from_uuid(Uuid::from_u128(500));
    let row = m.service().resend(&signed_in(agency()), id).await.unwrap();
    assert_eq!(row.request.delivery(), Delivery::Queued);
    let [(_, changes)] = committed(&log).try_into().unwrap();
    let updated = changes.update_request.unwrap();
    assert_eq!(updated.check_grant(&old.hash(), now()), Err(InvalidGrant::Unknown));
    let Notification::AccessRequested { token, resent: true, .. } = &changes.emails[0].notification else {
        panic!("expected a resent request email")
    };
    assert_eq!(updated.check_grant(&token.hash(), now()), Ok(()));
    assert_eq!(changes.audit[0].kind, AuditKind::RequestResent);
}

#[tokio::test]
async fn rule8_resend_inside_the_cooldown_is_rate_limited_with_retry_after() {
    let mut m = Mocks::new();
    let log = m.atomically::<SharedAccountRow, RowActionError>(Scope {
        agency: Some(agency()),
        request: Some(pending_request(&grant(1), now() - TimeDelta::seconds(45))),
        ..Scope::default()
    });
    let err = m.service().resend(&signed_in(agency()), AccessRequestId::from_uuid(Uuid::from_u128(500))).await;
    assert_eq!(err.unwrap_err(), RowActionError::RateLimited(RetryAfter { retry_after: TimeDelta::seconds(15) }));
    assert!(committed(&log).is_empty());
}

#[tokio::test]
async fn rule2_remove_is_refused_once_approved_and_unknown_ids_are_not_found() {
    let mut m = Mocks::new();
    m.atomically::<(), RowActionError>(Scope {
        agency: Some(agency()),
        request: Some(approved_request(Role::Admin)),
        ..Scope::default()
    });
    let id = AccessRequestId::from_uuid(Uuid::from_u128(500));
    assert_eq!(
        m.service().remove(&signed_in(agency()), id).await,
        Err(RowActionError::WrongState(RequestState::Approved))
    );
    // Another agency's id: the adapter loads no request for it.
    let mut m = Mocks::new();
    m.atomically::<(), RowActionError>(Scope { agency: Some(agency()), ..Scope::default() });
    assert_eq!(m.service().remove(&signed_in(agency()), id).await, Err(RowActionError::NotFound));
}

#[tokio::test]
async fn leaving_frees_the_slot_and_tells_the_client() {
    let request = approved_request(Role::Admin);
    let member = member_of_agency(Role::Admin, request.id());
    let mut m = Mocks::new();
    let log = m.atomically::<(), RowActionError>(Scope {
        agency: Some(agency()),
        client: Some(client(true, Plan::Plus)),
        members: vec![member.clone(), other_member(8, Role::Biller)],
        request: Some(request.clone()),
        ..Scope::default()
    });
    m.service().leave(&signed_in(agency()), request.id()).await.unwrap();
    let [(_, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(changes.delete_member, Some(member.id));
    assert_eq!(changes.update_request.unwrap().state(), RequestState::Left);
    assert_eq!(changes.emails[0].to, client(true, Plan::Plus).email);
    assert_eq!(changes.audit[0].kind, AuditKind::AgencyLeft { member: member.id });
}

#[tokio::test]
async fn rule7_view_websites_is_inactive_until_approved() {
    let mut m = Mocks::new();
    let request = pending_request(&grant(1), now());
    let rec = SharedAccountRecord { request: request.clone(), websites: WebsiteSummary::default(), client_slots: None };
    m.requests.expect_shared_account().returning(move |_, _| Ok(Some(rec.clone())));
    let err = m.service().shared_websites(&signed_in(agency()), request.id(), None, &PageRequest::default()).await;
    assert_eq!(err, Err(RowActionError::WrongState(RequestState::Requested)));
}

// ----- Approval (rules 4 and 5) --------------------------------------------------------

fn approval_scope(verified: bool, plan: Plan, members: Vec<Member>, request: AccessRequest) -> Scope {
    Scope {
        agency: Some(agency()),
        client: Some(client(verified, plan)),
        members,
        request: Some(request),
        ..Scope::default()
    }
}

#[tokio::test]
async fn rule5_approval_adds_a_member_using_a_slot_and_tells_the_agency() {
    let request = pending_request(&grant(1), now() - TimeDelta::hours(2));
    let mut m = Mocks::new();
    let log = m.atomically::<Result<Member, ApproveError>, ApproveError>(approval_scope(
        true,
        Plan::Plus,
        vec![other_member(8, Role::Biller)],
        request.clone(),
    ));
    let member = m.service().approve(&signed_in(client(true, Plan::Plus)), request.id()).await.unwrap();
    assert_eq!((member.account_id, member.role, member.origin), (aid(AGENCY), Role::Developer, request.id()));
    let [(key, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(key, ScopeKey::ClientRequest { client: aid(CLIENT), request: request.id() });
    assert_eq!(changes.insert_member, Some((aid(CLIENT), member.clone())));
    assert_eq!(changes.update_request.unwrap().state(), RequestState::Approved);
    assert_eq!(changes.emails[0].to, agency().email);
    assert_eq!(changes.audit[0].kind, AuditKind::RequestApproved { role: Role::Developer, member: member.id });
    assert_eq!(changes.verify_email, None);
}

#[tokio::test]
async fn rule5_approval_without_a_free_slot_fails_with_used_and_limit_and_stays_pending() {
    let request = pending_request(&grant(1), now() - TimeDelta::hours(2));
    let mut m = Mocks::new();
    let log = m.atomically::<Result<Member, ApproveError>, ApproveError>(approval_scope(
        true,
        Plan::Free,
        vec![other_member(8, Role::Biller)],
        request.clone(),
    ));
    let err = m.service().approve(&signed_in(client(true, Plan::Free)), request.id()).await.unwrap_err();
    assert_eq!(err, ApproveError::NoFreeTeamSlots(NoFreeTeamSlots { used: 1, limit: 1 }));
    let [(_, changes)] = committed(&log).try_into().unwrap();
    let still = changes.update_request.unwrap();
    assert_eq!(still.state(), RequestState::Requested);
    assert!(still.slot_blocked_at().is_some());
    assert!(changes.insert_member.is_none() && changes.emails.is_empty() && changes.audit.is_empty());
    // The agency's row now says the client is blocked on slots.
    let slots = SlotUsage { used: 1, limit: TeamSlots::Limited(1) };
    assert!(SharedAccountRow::derive(still, WebsiteSummary::default(), Some(slots)).blocked_on_slots);
}

#[tokio::test]
async fn rule4_approval_by_id_needs_a_verified_email() {
    let request = pending_request(&grant(1), now());
    let mut m = Mocks::new();
    let log = m.atomically::<Result<Member, ApproveError>, ApproveError>(approval_scope(
        false,
        Plan::Pro,
        vec![],
        request.clone(),
    ));
    let err = m.service().approve(&signed_in(client(false, Plan::Pro)), request.id()).await.unwrap_err();
    assert_eq!(err, ApproveError::EmailNotVerified);
    assert!(committed(&log).is_empty());
}

#[tokio::test]
async fn rule4_a_request_to_another_email_is_not_found_by_id_and_mismatched_by_link() {
    let token = grant(1);
    let mut request = pending_request(&token, now());
    let mut record = request.record().clone();
    record.email = Email::parse("someone-else@example.com").unwrap();
    request = AccessRequest::restore(record).unwrap();
    let mut m = Mocks::new();
    m.atomically::<Result<Member, ApproveError>, ApproveError>(approval_scope(
        true,
        Plan::Pro,
        vec![],
        request.clone(),
    ));
    let svc = m.service();
    let p = signed_in(client(true, Plan::Pro));
    assert_eq!(svc.approve(&p, request.id()).await, Err(ApproveError::NotFound));
    assert_eq!(svc.approve_by_token(&p, &token).await, Err(ApproveError::EmailMismatch));
}

#[tokio::test]
async fn rule4_a_dead_link_answers_invalid_whoever_follows_it() {
    // An expired link followed by someone signed in with another email: the answer
    // must not tell them the link was once real (catalogue 17).
    let token = grant(1);
    let expired = pending_request(&token, now() - TimeDelta::days(8));
    let mut m = Mocks::new();
    let mut scope = approval_scope(true, Plan::Pro, vec![], expired);
    scope.client = Some(account(CLIENT, "someone-else@example.com", true, Plan::Pro));
    let log = m.atomically::<Result<Member, ApproveError>, ApproveError>(scope.clone());
    let p = signed_in(scope.client.clone().unwrap());
    assert_eq!(m.service().approve_by_token(&p, &token).await, Err(ApproveError::InvalidGrant(InvalidGrant::Expired)));
    assert!(committed(&log).is_empty());
}

#[tokio::test]
async fn rule4_the_requesting_agency_cannot_approve_or_decline_its_own_request() {
    let token = grant(1);
    let request = pending_request(&token, now());
    let mut scope = approval_scope(true, Plan::Pro, vec![], request.clone());
    scope.client = Some(agency());
    let p = signed_in(agency());
    for action in ["approve", "approve by link", "decline"] {
        let mut m = Mocks::new();
        let log = m.atomically::<Result<Member, ApproveError>, ApproveError>(scope.clone());
        m.atomically::<(), ApproveError>(scope.clone());
        let svc = m.service();
        let err = match action {
            "approve" => svc.approve(&p, request.id()).await.map(|_| ()),
            "approve by link" => svc.approve_by_token(&p, &token).await.map(|_| ()),
            _ => svc.decline(&p, request.id()).await,
        };
        assert_eq!(err, Err(ApproveError::Denied(Denied::Forbidden)), "{action}");
        assert!(committed(&log).is_empty(), "{action}");
    }
}

#[tokio::test]
async fn rule4_approval_through_the_link_verifies_the_email() {
    let token = grant(1);
    let request = pending_request(&token, now() - TimeDelta::days(6));
    let mut m = Mocks::new();
    let log = m.atomically::<Result<Member, ApproveError>, ApproveError>(approval_scope(
        false,
        Plan::Pro,
        vec![],
        request.clone(),
    ));
    m.service().approve_by_token(&signed_in(client(false, Plan::Pro)), &token).await.unwrap();
    let [(key, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(key, ScopeKey::ClientRequestByToken { client: aid(CLIENT), token: token.hash() });
    assert_eq!(changes.verify_email, Some(aid(CLIENT)));
    let kinds: Vec<_> = changes.audit.iter().map(|a| a.kind.name()).collect();
    assert_eq!(kinds, ["email_verified", "request_approved"]);
}

#[tokio::test]
async fn rule3_expired_rotated_or_used_links_do_not_approve() {
    let token = grant(1);
    let expired = pending_request(&token, now() - TimeDelta::days(7));
    let mut rotated = pending_request(&token, now() - TimeDelta::hours(1));
    rotated.resend(&grant(2), now() - TimeDelta::minutes(5), &Policy::default()).unwrap();
    let mut used = pending_request(&token, now() - TimeDelta::hours(1));
    used.decline(now() - TimeDelta::minutes(1)).unwrap();
    for (request, why) in
        [(expired, InvalidGrant::Expired), (rotated, InvalidGrant::Unknown), (used, InvalidGrant::Closed)]
    {
        let mut m = Mocks::new();
        let log = m.atomically::<Result<Member, ApproveError>, ApproveError>(approval_scope(
            true,
            Plan::Pro,
            vec![],
            request,
        ));
        let err = m.service().approve_by_token(&signed_in(client(true, Plan::Pro)), &token).await;
        assert_eq!(err, Err(ApproveError::InvalidGrant(why)));
        assert!(committed(&log).is_empty());
    }
}

#[tokio::test]
async fn approving_twice_returns_the_same_member_and_writes_nothing() {
    let request = approved_request(Role::Developer);
    let member = member_of_agency(Role::Developer, request.id());
    let mut m = Mocks::new();
    let log = m.atomically::<Result<Member, ApproveError>, ApproveError>(approval_scope(
        true,
        Plan::Pro,
        vec![member.clone()],
        request.clone(),
    ));
    let again = m.service().approve(&signed_in(client(true, Plan::Pro)), request.id()).await.unwrap();
    assert_eq!(again, member);
    let [(_, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(changes, Changes::default());
}

#[tokio::test]
async fn rule2_decline_keeps_the_row_tagged_and_tells_the_agency() {
    let request = pending_request(&grant(1), now());
    let mut m = Mocks::new();
    let log = m.atomically::<(), ApproveError>(approval_scope(true, Plan::Pro, vec![], request.clone()));
    m.service().decline(&signed_in(client(true, Plan::Pro)), request.id()).await.unwrap();
    let [(_, changes)] = committed(&log).try_into().unwrap();
    let declined = changes.update_request.unwrap();
    assert_eq!(declined.state(), RequestState::Declined);
    assert!(declined.state().is_listed());
    assert_eq!(changes.emails[0].to, agency().email);
}

#[tokio::test]
async fn an_unverified_account_sees_no_pending_requests() {
    let mut m = Mocks::new();
    m.teams.expect_members().returning(|_| Ok(vec![]));
    let inbox = m.service().inbox(&signed_in(client(false, Plan::Plus))).await.unwrap();
    assert!(inbox.items.is_empty());
    assert_eq!(inbox.slots, SlotUsage { used: 0, limit: TeamSlots::Limited(3) });
}

#[tokio::test]
async fn rule11_grant_links_answer_alike_for_every_kind_of_invalid() {
    let token = grant(1);
    let expired = pending_request(&token, now() - TimeDelta::days(8));
    let mut m = Mocks::new();
    let agency_account = agency();
    m.requests
        .expect_find_by_token()
        .returning(move |_| Ok(Some(PendingRequest { request: expired.clone(), agency: agency_account.clone() })));
    let err = m.service().grant_link(&token).await.unwrap_err();
    assert_eq!(err.to_string(), GrantLinkError::Invalid(InvalidGrant::Unknown).to_string());

    let mut m = Mocks::new();
    m.requests.expect_find_by_token().returning(|_| Ok(None));
    assert_eq!(m.service().grant_link(&token).await.unwrap_err().to_string(), "invalid or expired link");
}

// ----- Log in as (rule 9) --------------------------------------------------------------

#[tokio::test]
async fn rule9_log_in_as_starts_a_60_minute_session_with_the_current_role_and_audits_it() {
    let request = approved_request(Role::Biller);
    let member = member_of_agency(Role::Biller, request.id());
    let mut m = Mocks::new();
    let log =
        m.atomically::<(Session, Role), RowActionError>(approval_scope(true, Plan::Pro, vec![member], request.clone()));
    let started = m.service().log_in_as(&signed_in(agency()), request.id()).await.unwrap();
    assert_eq!(started.role, Role::Biller);
    assert_eq!(started.session.kind, SessionKind::Impersonation { client: aid(CLIENT), role: Role::Biller });
    assert_eq!(started.session.expires_at, now() + TimeDelta::minutes(60));
    assert_eq!(started.session.token_hash, started.token.hash());
    let [(_, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(changes.insert_session, Some(started.session.clone()));
    let entry = &changes.audit[0];
    assert_eq!((entry.actor, entry.client), (Some(aid(AGENCY)), Some(aid(CLIENT))));
    assert!(matches!(entry.kind, AuditKind::ImpersonationStarted { role: Role::Biller, .. }));
    assert_eq!(changes.emails[0].to, client(true, Plan::Pro).email);
}

#[tokio::test]
async fn rule9_log_in_as_is_refused_unless_approved() {
    let request = pending_request(&grant(1), now());
    let mut m = Mocks::new();
    m.atomically::<(Session, Role), RowActionError>(approval_scope(true, Plan::Pro, vec![], request.clone()));
    let err = m.service().log_in_as(&signed_in(agency()), request.id()).await.unwrap_err();
    assert_eq!(err, RowActionError::WrongState(RequestState::Requested));
}

fn stored_impersonation(role: Role) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::from_u128(91)),
        token_hash: SessionToken::from_random([4; 32]).hash(),
        account_id: aid(AGENCY),
        kind: SessionKind::Impersonation { client: aid(CLIENT), role },
        created_at: now() - TimeDelta::minutes(10),
        expires_at: now() + TimeDelta::minutes(50),
    }
}

#[tokio::test]
async fn rule9_sessions_follow_the_live_grant_on_every_request() {
    let token = SessionToken::from_random([4; 32]);
    for (started, live, expected) in [
        (Role::Admin, Some(Role::Admin), Ok(Role::Admin.permissions())),
        (Role::Admin, Some(Role::Developer), Ok(Role::Developer.permissions())),
        (Role::Admin, Some(Role::Biller), Ok(Role::Biller.permissions())),
        (Role::Developer, Some(Role::Biller), Err(AuthError::SessionEnded(crate::SessionEnded::RoleChanged))),
        (Role::Admin, None, Err(AuthError::SessionEnded(crate::SessionEnded::Revoked))),
    ] {
        let mut m = Mocks::new();
        m.sessions.expect_find_with_account().returning(move |_| Ok(Some((stored_impersonation(started), agency()))));
        m.teams.expect_member_role().returning(move |_, _| Ok(live));
        let got = m.service().authenticate(token.expose()).await.map(|p| match p {
            Principal::Impersonation(i) => i.permissions,
            other => panic!("{other:?}"),
        });
        assert_eq!(got, expected, "live role {live:?}");
    }
}

#[tokio::test]
async fn a_personal_session_resolves_to_its_account_in_one_lookup() {
    let token = SessionToken::from_random([6; 32]);
    let session = Session { kind: SessionKind::Personal, ..stored_impersonation(Role::Admin) };
    let mut m = Mocks::new();
    // No `accounts.find` expectation: the account comes with the session.
    m.sessions.expect_find_with_account().times(1).returning(move |_| Ok(Some((session.clone(), agency()))));
    match m.service().authenticate(token.expose()).await.unwrap() {
        Principal::Account { account, session } => {
            assert_eq!((account.id, session), (aid(AGENCY), SessionId::from_uuid(Uuid::from_u128(91))));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_list_version_is_passed_on_only_for_an_account_acting_as_itself() {
    let token = SessionToken::from_random([7; 32]);
    let version = ListVersion::new(41, 2);
    let personal = Session { kind: SessionKind::Personal, ..stored_impersonation(Role::Admin) };
    let mut m = Mocks::new();
    m.sessions
        .expect_find_with_list_version()
        .returning(move |_| Ok(Some((personal.clone(), agency(), Some(version)))));
    let (p, got) = m.service().authenticate_listing(token.expose()).await.unwrap();
    assert!(matches!(p, Principal::Account { .. }));
    assert_eq!(got, Some(version));
    assert_eq!(Service::<Mocks>::list_owner(&p), Ok(aid(AGENCY)));

    // "Log in as" acts inside the client: the agency's list version is not its to use.
    let mut m = Mocks::new();
    m.sessions
        .expect_find_with_list_version()
        .returning(move |_| Ok(Some((stored_impersonation(Role::Admin), agency(), Some(version)))));
    m.teams.expect_member_role().returning(|_, _| Ok(Some(Role::Admin)));
    let (p, got) = m.service().authenticate_listing(token.expose()).await.unwrap();
    assert_eq!(got, None);
    assert!(Service::<Mocks>::list_owner(&p).is_err(), "no agency list inside a client account");

    let mut m = Mocks::new();
    m.sessions.expect_find_with_list_version().returning(|_| Ok(None));
    assert_eq!(m.service().authenticate_listing(token.expose()).await.unwrap_err(), AuthError::Unauthenticated);
}

#[tokio::test]
async fn authentication_refuses_malformed_unknown_and_expired_tokens() {
    let svc = Mocks::new().service();
    assert_eq!(svc.authenticate("nope").await, Err(AuthError::Unauthenticated));
    let mut m = Mocks::new();
    m.sessions.expect_find_with_account().returning(|_| Ok(None));
    let t = SessionToken::from_random([5; 32]);
    assert_eq!(m.service().authenticate(t.expose()).await, Err(AuthError::Unauthenticated));
    let mut m = Mocks::new();
    m.sessions.expect_find_with_account().returning(|_| {
        let mut s = stored_impersonation(Role::Admin);
        s.expires_at = now();
        Ok(Some((s, agency())))
    });
    assert_eq!(m.service().authenticate(t.expose()).await, Err(AuthError::Unauthenticated));
}

// ----- Sign-up and sign-in -------------------------------------------------------------

#[tokio::test]
async fn sign_in_does_the_same_work_for_unknown_emails_and_wrong_passwords() {
    for known in [false, true] {
        let mut m = Mocks::new();
        m.accounts.expect_credentials().returning(move |_| {
            Ok(known.then(|| (client(true, Plan::Free), PasswordHash::new("$argon2id$real".into()))))
        });
        m.hasher.expect_dummy_hash().returning(|| PasswordHash::new("$argon2id$dummy".into()));
        m.hasher.expect_verify().times(1).returning(|_, _| false);
        let err = m
            .service()
            .sign_in(&Email::parse("client@example.com").unwrap(), &Password::parse("wrong-password").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err, SignInError::InvalidCredentials);
    }
}

#[tokio::test]
async fn sign_up_with_the_grant_link_verifies_the_email_and_opens_a_session() {
    let token = grant(1);
    let mut m = Mocks::new();
    let request = pending_request(&token, now());
    m.requests
        .expect_find_by_token()
        .returning(move |_| Ok(Some(PendingRequest { request: request.clone(), agency: agency() })));
    m.hasher.expect_hash().returning(|_| Ok(PasswordHash::new("$argon2id$x".into())));
    m.accounts.expect_create().withf(|a, _| a.email_verified && a.plan == Plan::Free).times(1).returning(|_, _| Ok(()));
    m.sessions.expect_insert().times(1).returning(|_| Ok(()));
    let signed = m
        .service()
        .sign_up(SignUp {
            email: Email::parse("CLIENT@example.com").unwrap(),
            password: Password::parse("correct horse").unwrap(),
            name: None,
            grant_token: Some(token),
        })
        .await
        .unwrap();
    assert!(signed.account.email_verified);
    assert_eq!(signed.session.token_hash, signed.token.hash());
    assert_eq!(signed.session.expires_at, now() + TimeDelta::days(14));
}

#[tokio::test]
async fn sign_up_with_a_taken_email_is_refused() {
    let mut m = Mocks::new();
    m.hasher.expect_hash().returning(|_| Ok(PasswordHash::new("$argon2id$x".into())));
    m.accounts.expect_create().returning(|_, _| Err(StoreError::Conflict("accounts_email".into())));
    let err = m
        .service()
        .sign_up(SignUp {
            email: Email::parse("client@example.com").unwrap(),
            password: Password::parse("correct horse").unwrap(),
            name: None,
            grant_token: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err, SignUpError::EmailTaken);
}

// ----- Team management and plans (rules 1 and 5) --------------------------------------

#[tokio::test]
async fn rule1_nobody_changes_their_own_role_even_as_admin() {
    let request = approved_request(Role::Admin);
    let member = member_of_agency(Role::Admin, request.id());
    let mut m = Mocks::new();
    m.teams.expect_member_role().returning(|_, _| Ok(Some(Role::Admin)));
    m.atomically::<Member, AccountError>(approval_scope(true, Plan::Pro, vec![member.clone()], request));
    let err = m.service().change_role(&signed_in(agency()), aid(CLIENT), member.id, Role::Biller).await.unwrap_err();
    assert_eq!(err, AccountError::Team(TeamError::OwnRole));
}

#[tokio::test]
async fn rule10_a_role_change_through_log_in_as_is_audited_with_the_session() {
    let target_request = approved_request(Role::Biller);
    let target = Member { account_id: aid(8), ..member_of_agency(Role::Biller, target_request.id()) };
    let admin = other_member(AGENCY, Role::Admin);
    let mut m = Mocks::new();
    let log = m.atomically::<Member, AccountError>(approval_scope(
        true,
        Plan::Pro,
        vec![admin, target.clone()],
        target_request,
    ));
    let after =
        m.service().change_role(&impersonating(Role::Admin), aid(CLIENT), target.id, Role::Admin).await.unwrap();
    assert_eq!(after.role, Role::Admin);
    let [(_, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(changes.update_request.unwrap().role(), Role::Admin, "the agency's access level follows");
    let entry = &changes.audit[0];
    assert_eq!(entry.via_session, Some(SessionId::from_uuid(Uuid::from_u128(91))));
    assert_eq!(entry.kind, AuditKind::RoleChanged { member: target.id, from: Role::Biller, to: Role::Admin });
}

#[tokio::test]
async fn rule1_team_management_needs_owner_or_admin() {
    let svc = Mocks::new().service();
    for role in [Role::Biller, Role::Developer] {
        assert_eq!(
            svc.team(&impersonating(role), aid(CLIENT)).await,
            Err(AccountError::Denied(Denied::Forbidden)),
            "{role}"
        );
    }
    let mut m = Mocks::new();
    m.teams.expect_member_role().returning(|_, _| Ok(None));
    assert_eq!(
        m.service().team(&signed_in(account(77, "stranger@example.com", true, Plan::Free)), aid(CLIENT)).await,
        Err(AccountError::Denied(Denied::NotFound))
    );
}

#[tokio::test]
async fn rule1_removing_a_member_revokes_its_request_and_tells_the_agency() {
    let request = approved_request(Role::Developer);
    let member = member_of_agency(Role::Developer, request.id());
    let mut m = Mocks::new();
    let log = m.atomically::<(), AccountError>(approval_scope(true, Plan::Pro, vec![member.clone()], request));
    m.service().remove_member(&signed_in(client(true, Plan::Pro)), aid(CLIENT), member.id).await.unwrap();
    let [(key, changes)] = committed(&log).try_into().unwrap();
    assert_eq!(key, ScopeKey::Member { client: aid(CLIENT), member: member.id });
    assert_eq!(changes.delete_member, Some(member.id));
    assert_eq!(changes.update_request.unwrap().state(), RequestState::Revoked);
    assert_eq!(changes.emails[0].to, agency().email);
}

#[tokio::test]
async fn rule5_plan_change_below_the_member_count_is_refused() {
    let mut m = Mocks::new();
    let members: Vec<_> = (10..14).map(|n| other_member(n, Role::Developer)).collect();
    let log = m.atomically::<(Plan, SlotUsage), AccountError>(Scope {
        client: Some(client(true, Plan::Pro)),
        members,
        ..Scope::default()
    });
    let err = m.service().change_plan(&signed_in(client(true, Plan::Pro)), aid(CLIENT), Plan::Plus).await;
    assert_eq!(err, Err(AccountError::PlanTooSmall(crate::PlanTooSmall { plan: Plan::Plus, members: 4, limit: 3 })));
    assert!(committed(&log).is_empty());
}

#[tokio::test]
async fn only_the_service_token_reports_website_health() {
    let svc = Mocks::new().service();
    let id = WebsiteId::from_uuid(Uuid::from_u128(3));
    assert_eq!(
        svc.report_website_status(&signed_in(client(true, Plan::Pro)), id, true, Health::Ok).await,
        Err(AccountError::Denied(Denied::Forbidden))
    );
    let mut m = Mocks::new();
    m.websites.expect_update_status().returning(|_, _, _, _| Ok(None));
    assert_eq!(
        m.service().report_website_status(&Principal::Service, id, true, Health::Ok).await,
        Err(AccountError::NotFound)
    );
}

#[tokio::test]
async fn settings_invoices_and_analytics_follow_the_role_table() {
    // Biller: invoices yes; settings and analytics no. Developer: the reverse.
    let svc = Mocks::new().service();
    let page = PageRequest::default();
    assert_eq!(
        svc.settings(&impersonating(Role::Biller), aid(CLIENT)).await,
        Err(AccountError::Denied(Denied::Forbidden))
    );
    assert_eq!(
        svc.analytics(&impersonating(Role::Biller), aid(CLIENT)).await,
        Err(AccountError::Denied(Denied::Forbidden))
    );
    assert_eq!(
        svc.invoices(&impersonating(Role::Developer), aid(CLIENT), &page).await,
        Err(AccountError::Denied(Denied::Forbidden))
    );
    let mut m = Mocks::new();
    m.resources.expect_invoices().returning(|_, _| Ok(Page { items: vec![], next_cursor: None }));
    m.resources.expect_settings().returning(|_| Ok(None));
    m.resources
        .expect_website_summary()
        .returning(|_| Ok(WebsiteSummary { total: 2, major_issue: 0, not_connected: 1 }));
    let svc = m.service();
    assert!(svc.invoices(&impersonating(Role::Biller), aid(CLIENT), &page).await.is_ok());
    assert_eq!(svc.settings(&impersonating(Role::Developer), aid(CLIENT)).await.unwrap().as_str(), "{}");
    let a = svc.analytics(&impersonating(Role::Developer), aid(CLIENT)).await.unwrap();
    assert_eq!((a.websites, a.connected, a.status), (2, 1, SharedAccountStatus::NotConnected));
}

#[tokio::test]
async fn only_the_service_records_invoices_and_they_are_validated() {
    let invoice = Invoice {
        id: crate::InvoiceId::from_uuid(Uuid::from_u128(1)),
        account_id: aid(CLIENT),
        number: "INV-1".into(),
        period_start: now(),
        period_end: now() + TimeDelta::days(30),
        amount_cents: 100,
        currency: "usd".into(),
        status: crate::InvoiceStatus::Open,
        issued_at: now(),
    };
    let svc = Mocks::new().service();
    assert_eq!(
        svc.record_invoice(&signed_in(client(true, Plan::Pro)), invoice.clone()).await,
        Err(AccountError::Denied(Denied::Forbidden))
    );
    assert!(matches!(svc.record_invoice(&Principal::Service, invoice.clone()).await, Err(AccountError::Invalid(_))));
    let mut m = Mocks::new();
    m.accounts.expect_find().returning(|_| Ok(Some(client(true, Plan::Pro))));
    m.resources.expect_add_invoice().returning(|_| Err(StoreError::Conflict("invoices_number".into())));
    let good = Invoice { currency: "USD".into(), ..invoice };
    assert_eq!(m.service().record_invoice(&Principal::Service, good).await, Err(AccountError::DuplicateInvoice));
}
