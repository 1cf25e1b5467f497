//! The audit log: by account and by address, newest first, paged, every kind
//! round-tripping.

use chrono::TimeDelta;
use clients_domain::ports::{
    AtomicStore as _, AuditRepository as _, Changes, Decision, Limit, ListError, PageRequest, Scope, ScopeKey,
};
use clients_domain::{
    AccessRequestId, AuditEvent, AuditEventId, AuditKind, MembershipId, Plan, Policy, Role, SessionId,
};
use uuid::Uuid;

use crate::support::{TestDb, World, email};

contract!(the_audit_log_pages_newest_first_by_account_and_by_address, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let client = w.account("client@example.com", Plan::Plus, true).await;
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let m = MembershipId::from_uuid(Uuid::from_u128(5));
    let kinds = [
        AuditKind::AccessRequested { role: Role::Biller },
        AuditKind::RequestResent,
        AuditKind::RequestRemoved,
        AuditKind::RequestApproved { role: Role::Developer, member: m },
        AuditKind::RequestDeclined,
        AuditKind::RoleChanged { member: m, from: Role::Developer, to: Role::Admin },
        AuditKind::MemberRemoved { member: m, role: Role::Admin },
        AuditKind::AgencyLeft { member: m },
        AuditKind::ImpersonationStarted {
            session: SessionId::from_uuid(Uuid::from_u128(6)),
            role: Role::Admin,
            expires_at: w.now() + TimeDelta::minutes(60),
        },
        AuditKind::PlanChanged { from: Plan::Free, to: Plan::Scale },
        AuditKind::EmailVerified,
    ];
    let mut events = vec![];
    for (n, kind) in kinds.into_iter().enumerate() {
        w.clock.advance(TimeDelta::microseconds(1));
        // The first two happened before the client had an account: only the address.
        let by_address = n < 2;
        events.push(AuditEvent {
            id: AuditEventId::from_uuid(Uuid::from_u128(100 + n as u128)),
            at: w.now(),
            actor: Some(agency.id),
            via_session: (n == 5).then(|| SessionId::from_uuid(Uuid::from_u128(7))),
            client: (!by_address).then_some(client.id),
            client_email: Some(client.email.clone()),
            agency: Some(agency.id),
            request: Some(AccessRequestId::from_uuid(Uuid::from_u128(8))),
            kind,
        });
    }
    // Someone else's entries, by id and by address, never show.
    let mut foreign = events[0].clone();
    foreign.id = AuditEventId::from_uuid(Uuid::from_u128(999));
    foreign.client_email = Some(email("other@example.com"));
    events.push(foreign);
    let changes = Changes { audit: events.clone(), ..Changes::default() };
    let write = move |_: &Scope| Ok::<_, ()>(Decision { changes: changes.clone(), outcome: () });
    db.store.atomically(ScopeKey::Team { client: client.id }, Box::new(write)).await.unwrap();

    let mut seen = vec![];
    let mut cursor = None;
    loop {
        let page = PageRequest { limit: Limit::new(4).unwrap(), cursor };
        let page = db.store.for_client(client.id, &client.email, &page).await.unwrap();
        seen.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let mut expected = events[..11].to_vec();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, every field and kind round-trips");

    let bad = PageRequest { limit: Limit::default(), cursor: Some("x".to_owned()) };
    assert_eq!(db.store.for_client(client.id, &client.email, &bad).await.unwrap_err(), ListError::InvalidCursor);
});
