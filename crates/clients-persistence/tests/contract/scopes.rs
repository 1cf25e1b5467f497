//! What `AtomicStore::atomically` loads for every `ScopeKey`, and how it applies and
//! refuses decisions.

use chrono::TimeDelta;
use clients_domain::ports::{
    AccessRequestRepository as _, AtomicError, AtomicStore as _, AuditRepository as _, Changes, Decision, Entropy as _,
    Outbox as _, PageRequest, Scope, ScopeKey, SessionRepository as _, StoreError,
};
use clients_domain::{
    AccessRequestId, AccountId, AuditEvent, AuditEventId, AuditKind, GrantToken, MembershipId, Notification, Plan,
    Policy, Role, Session, SessionId, SessionKind, SessionToken, TokenHash,
};
use clients_persistence::Store;
use uuid::Uuid;

use crate::support::{TestDb, World, email};

/// Runs a decision that writes nothing and returns what it was shown.
pub async fn scope(store: &Store, key: ScopeKey) -> Scope {
    let look = |s: &Scope| Ok::<_, ()>(Decision::nothing(s.clone()));
    store.atomically(key, Box::new(look)).await.unwrap()
}

/// A live personal session of `account`, stored, for the bearer of `token`.
async fn stored_session(w: &World, token: &SessionToken, account: AccountId) -> Session {
    let session = Session {
        id: SessionId::from_uuid(w.entropy.uuid()),
        token_hash: token.hash(),
        account_id: account,
        kind: SessionKind::Personal,
        created_at: w.now(),
        expires_at: w.now() + TimeDelta::hours(1),
    };
    w.store.insert(&session).await.unwrap();
    session
}

/// The raw grant token queued for `request` (from the outbox, as a worker sees it).
pub async fn grant_token(w: &World, request: AccessRequestId) -> GrantToken {
    let claimed = w.store.claim_due(w.now() + TimeDelta::days(1), 100, TimeDelta::seconds(1)).await.unwrap();
    let mut tokens =
        claimed.into_iter().filter(|c| c.email.request == Some(request)).filter_map(|c| match c.email.notification {
            Notification::AccessRequested { token, .. } => Some((c.email.created_at, token)),
            _ => None,
        });
    let newest = tokens.by_ref().max_by_key(|(at, _)| *at).map(|(_, t)| t);
    newest.expect("an access-requested email for the request")
}

contract!(every_scope_key_loads_what_the_domain_needs, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let client = w.account("client@example.com", Plan::Plus, true).await;
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let member_agency = w.account("member@example.com", Plan::Free, true).await;
    let svc = &w.service;

    let row = svc.request_access(&w.signed_in(&agency), email("Client@Example.com"), Role::Developer).await.unwrap();
    let request = row.request.clone();
    w.clock.advance(TimeDelta::seconds(1));
    let other = svc.request_access(&w.signed_in(&member_agency), client.email.clone(), Role::Admin).await.unwrap();
    let member = svc.approve(&w.signed_in(&client), other.request.id()).await.unwrap();
    let approved = db.store.shared_account(member_agency.id, other.request.id()).await.unwrap().unwrap().request;

    // NewRequest: the agency and the recipient's account are loaded, with its team,
    // the agency's open request to that address, and the address's recent history.
    let s = scope(&db.store, ScopeKey::NewRequest { agency: agency.id, email: client.email.clone() }).await;
    assert_eq!(s.agency.as_ref(), Some(&agency));
    assert_eq!(s.client.as_ref(), Some(&client));
    assert_eq!(s.members, vec![member.clone()]);
    assert_eq!(s.request.as_ref(), Some(&request), "the stored request is the one the domain created");
    let mut recent = s.recipient_recent.clone();
    recent.sort();
    assert_eq!(recent, vec![request.created_at(), approved.created_at()]);

    let s = scope(&db.store, ScopeKey::NewRequest { agency: agency.id, email: email("nobody@example.com") }).await;
    assert_eq!(s, Scope { agency: Some(agency.clone()), ..Scope::default() });

    // NewRequestAs: the same, for the agency that holds the presented session, and
    // the session itself; an unknown token finds neither session nor agency.
    let bearer = SessionToken::from_random([3; 32]);
    let session = stored_session(&w, &bearer, agency.id).await;
    let s = scope(&db.store, ScopeKey::NewRequestAs { session: bearer.hash(), email: client.email.clone() }).await;
    let by_agency = scope(&db.store, ScopeKey::NewRequest { agency: agency.id, email: client.email.clone() }).await;
    assert_eq!(s, Scope { session: Some(session.clone()), ..by_agency });
    let unknown = ScopeKey::NewRequestAs { session: TokenHash::from_bytes([8; 32]), email: client.email.clone() };
    let s = scope(&db.store, unknown).await;
    assert_eq!((s.session, s.agency, s.request, s.client.as_ref()), (None, None, None, Some(&client)));

    // AgencyRequest: only the agency's own request, with the client and its team.
    let s = scope(&db.store, ScopeKey::AgencyRequest { agency: agency.id, request: request.id() }).await;
    assert_eq!(
        s,
        Scope {
            agency: Some(agency.clone()),
            client: Some(client.clone()),
            members: vec![member.clone()],
            request: Some(request.clone()),
            recipient_recent: vec![],
            session: None,
        }
    );
    let s = scope(&db.store, ScopeKey::AgencyRequest { agency: member_agency.id, request: request.id() }).await;
    assert_eq!(s, Scope { agency: Some(member_agency.clone()), ..Scope::default() }, "another agency's id");
    let unknown = AccessRequestId::from_uuid(Uuid::from_u128(404));
    let s = scope(&db.store, ScopeKey::AgencyRequest { agency: agency.id, request: unknown }).await;
    assert_eq!(s.request, None);

    // ClientRequest and ClientRequestByToken: the client, its team, the request and
    // the request's agency.
    let expected = Scope {
        agency: Some(agency.clone()),
        client: Some(client.clone()),
        members: vec![member.clone()],
        request: Some(request.clone()),
        recipient_recent: vec![],
        session: None,
    };
    let s = scope(&db.store, ScopeKey::ClientRequest { client: client.id, request: request.id() }).await;
    assert_eq!(s, expected);
    let token = grant_token(&w, request.id()).await;
    let by_token = ScopeKey::ClientRequestByToken { client: client.id, token: token.hash() };
    assert_eq!(scope(&db.store, by_token.clone()).await, expected);
    let wrong = ScopeKey::ClientRequestByToken { client: client.id, token: TokenHash::from_bytes([9; 32]) };
    let s = scope(&db.store, wrong).await;
    assert_eq!((s.request, s.agency, s.client.as_ref()), (None, None, Some(&client)));

    // A resend rotates the link: the old token finds nothing, the new one the request.
    w.clock.advance(TimeDelta::seconds(61));
    let resent = svc.resend(&w.signed_in(&agency), request.id()).await.unwrap().request;
    assert_eq!(scope(&db.store, by_token).await.request, None);
    let fresh = grant_token(&w, request.id()).await;
    let s = scope(&db.store, ScopeKey::ClientRequestByToken { client: client.id, token: fresh.hash() }).await;
    assert_eq!(s.request.as_ref(), Some(&resent), "every field of the resent request round-trips");

    // Member: the membership's origin request and its agency.
    let s = scope(&db.store, ScopeKey::Member { client: client.id, member: member.id }).await;
    assert_eq!(
        s,
        Scope {
            agency: Some(member_agency.clone()),
            client: Some(client.clone()),
            members: vec![member.clone()],
            request: Some(approved.clone()),
            recipient_recent: vec![],
            session: None,
        }
    );
    let nobody = MembershipId::from_uuid(Uuid::from_u128(405));
    let s = scope(&db.store, ScopeKey::Member { client: client.id, member: nobody }).await;
    assert_eq!((s.request, s.agency), (None, None));

    // Team: the client and its members.
    let s = scope(&db.store, ScopeKey::Team { client: client.id }).await;
    assert_eq!(s, Scope { client: Some(client.clone()), members: vec![member], ..Scope::default() });
});

contract!(a_refused_decision_writes_nothing_and_a_conflict_is_reported, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let client = w.account("client@example.com", Plan::Free, true).await;
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let event = AuditEvent {
        id: AuditEventId::from_uuid(Uuid::from_u128(1)),
        at: w.now(),
        actor: Some(client.id),
        via_session: None,
        client: Some(client.id),
        client_email: Some(client.email.clone()),
        agency: None,
        request: None,
        kind: AuditKind::EmailVerified,
    };
    let changes = Changes { audit: vec![event.clone()], verify_email: Some(client.id), ..Changes::default() };
    let refuse = move |_: &Scope| -> Result<Decision<()>, &'static str> {
        let _would_write = changes.clone();
        Err("no")
    };
    let refused = db.store.atomically(ScopeKey::Team { client: client.id }, Box::new(refuse)).await;
    assert_eq!(refused, Err(AtomicError::Refused("no")));
    let log = db.store.for_client(client.id, &client.email, &PageRequest::default()).await.unwrap();
    assert!(log.items.is_empty(), "nothing written");

    // A second open request from the same agency to the same address breaks the
    // partial unique index, whatever the decision believed.
    let row = w.service.request_access(&w.signed_in(&agency), client.email.clone(), Role::Biller).await.unwrap();
    let mut record = row.request.record().clone();
    record.id = AccessRequestId::from_uuid(Uuid::from_u128(99));
    record.grant = Some(clients_domain::IssuedGrant { hash: TokenHash::from_bytes([5; 32]), ..record.grant.unwrap() });
    let duplicate = clients_domain::AccessRequest::restore(record).unwrap();
    let insert = move |_: &Scope| {
        Ok::<_, ()>(Decision {
            changes: Changes { insert_request: Some(duplicate.clone()), ..Changes::default() },
            outcome: (),
        })
    };
    let key = ScopeKey::NewRequest { agency: agency.id, email: client.email.clone() };
    let outcome = db.store.atomically(key, Box::new(insert)).await;
    assert!(matches!(outcome, Err(AtomicError::Store(StoreError::Conflict(_)))), "{outcome:?}");
    // Through the service the same situation is the domain's "already requested".
    let again = w.service.request_access(&w.signed_in(&agency), email("CLIENT@example.com"), Role::Admin).await;
    assert_eq!(again.unwrap_err(), clients_domain::service::RequestAccessError::AlreadyRequested);
});

// New requests from several bearers, written together: each sees its own session
// (or none) and its own agency, whichever batch it lands in.
contract!(new_requests_by_session_and_by_agency_batch_together, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let other = w.account("other@example.com", Plan::Free, true).await;
    let bearer = SessionToken::from_random([4; 32]);
    let session = stored_session(&w, &bearer, agency.id).await;
    let unknown = TokenHash::from_bytes([6; 32]);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..12 {
        let to = email(&format!("c{n}@example.com"));
        let key = match n % 3 {
            0 => ScopeKey::NewRequestAs { session: bearer.hash(), email: to },
            1 => ScopeKey::NewRequestAs { session: unknown, email: to },
            _ => ScopeKey::NewRequest { agency: other.id, email: to },
        };
        let store = db.store.clone();
        tasks.spawn(async move { (n, scope(&store, key).await) });
    }
    let mut seen = 0;
    while let Some(done) = tasks.join_next().await {
        let (n, s) = done.unwrap();
        let expected = match n % 3 {
            0 => (Some(session.clone()), Some(agency.clone())),
            1 => (None, None),
            _ => (None, Some(other.clone())),
        };
        assert_eq!((s.session, s.agency), expected, "request {n}");
        seen += 1;
    }
    assert_eq!(seen, 12);
});
