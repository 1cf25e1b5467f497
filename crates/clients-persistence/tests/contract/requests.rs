//! Reads of requests: the agency's list (paging, search, status filter), one row,
//! grant-link lookups and the client's pending requests; and a whole lifecycle written
//! through the domain's service and read back.

use chrono::TimeDelta;
use clients_domain::ports::{
    AccessRequestRepository, AccountRepository as _, AuditRepository as _, Limit, ListError, PageRequest,
    SessionRepository, SharedAccountQuery, TeamRepository as _, WebsiteRepository as _,
};
use clients_domain::service::ApproveError;
use clients_domain::{
    AccessRequestId, Account, AuditKind, Delivery, DomainName, Health, NoFreeTeamSlots, Plan, Policy, RequestState,
    Role, SharedAccountStatus, SlotUsage, TeamSlots, WebsiteSummary,
};

use crate::scopes::grant_token;
use crate::support::{TestDb, World, email};

fn query(
    q: Option<&str>,
    status: Option<SharedAccountStatus>,
    limit: u32,
    cursor: Option<String>,
) -> SharedAccountQuery {
    SharedAccountQuery {
        q: q.map(str::to_owned),
        status,
        page: PageRequest { limit: Limit::new(limit).unwrap(), cursor },
    }
}

contract!(the_agency_list_pages_newest_first_and_searches_case_insensitively, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let rival = w.account("rival@example.com", Plan::Free, true).await;
    let svc = &w.service;
    let mut ids = vec![];
    for n in 0..7 {
        let principal = w.signed_in(&agency);
        let row = svc.request_access(&principal, email(&format!("client{n}@shop.example")), Role::Biller).await;
        ids.push(row.unwrap().request.id());
        // Two rows share each instant, so the id breaks ties in the keyset.
        if n % 2 == 1 {
            w.clock.advance(TimeDelta::milliseconds(1));
        }
    }
    svc.request_access(&w.signed_in(&rival), email("client0@shop.example"), Role::Admin).await.unwrap();
    // A removed row leaves the list.
    svc.remove(&w.signed_in(&agency), ids[6]).await.unwrap();
    let mut expected: Vec<AccessRequestId> = ids[..6].to_vec();
    expected.reverse();

    let mut seen = vec![];
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = db.store.shared_accounts(agency.id, &query(None, None, 4, cursor.clone())).await.unwrap();
        seen.extend(page.items.iter().map(|r| r.request.id()));
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, expected, "newest first, every row once");

    let found = db.store.shared_accounts(agency.id, &query(Some(" CLIENT3@ "), None, 50, None)).await.unwrap();
    assert_eq!(found.items.iter().map(|r| r.request.id()).collect::<Vec<_>>(), vec![ids[3]]);
    let all = db.store.shared_accounts(agency.id, &query(Some("SHOP.EX"), None, 50, None)).await.unwrap();
    assert_eq!(all.items.len(), 6);
    // Wildcards and the search index's own syntax (quotes, operators) are text.
    for wildcard in ["%", "_", "client_@", "\"client0", "client0\"\"", "shop AND client", "NEAR(client0"] {
        let none = db.store.shared_accounts(agency.id, &query(Some(wildcard), None, 50, None)).await.unwrap();
        assert!(none.items.is_empty(), "{wildcard:?} is matched literally");
    }

    for bad in ["garbage", "c2ExfDF8Mg"] {
        let err = db.store.shared_accounts(agency.id, &query(None, None, 4, Some(bad.to_owned()))).await;
        assert_eq!(err.unwrap_err(), ListError::InvalidCursor, "{bad}");
    }
    assert!(db.store.shared_account(agency.id, ids[0]).await.unwrap().is_some());
    assert!(db.store.shared_account(rival.id, ids[0]).await.unwrap().is_none(), "another agency's row");
    assert!(db.store.shared_account(agency.id, ids[6]).await.unwrap().is_none(), "a removed row");
});

/// Gives `client` websites with the given (connected, health) and returns their summary.
async fn websites(w: &World, client: &Account, sites: &[(bool, Health)]) -> WebsiteSummary {
    for (n, (connected, health)) in sites.iter().enumerate() {
        let domain = DomainName::parse(&format!("site{n}.{}", client.email.domain())).unwrap();
        let site = w.service.add_website(&w.signed_in(client), client.id, domain).await.unwrap();
        w.store.update_status(site.id, *connected, *health, w.now()).await.unwrap().unwrap();
    }
    let list = w.store.list(client.id, None, &PageRequest::default()).await.unwrap();
    WebsiteSummary::of(&list.items)
}

/// A client: its address's name, the request's state, its websites' (connected, health).
type Case = (&'static str, RequestState, &'static [(bool, Health)]);

const OK: (bool, Health) = (true, Health::Ok);

contract!(the_status_filter_in_sql_matches_the_domain_derivation, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let svc = &w.service;
    let cases: [Case; 9] = [
        ("none", RequestState::Approved, &[]),
        ("major", RequestState::Approved, &[OK, (false, Health::MajorIssue)]),
        ("majorconnected", RequestState::Approved, &[(true, Health::MajorIssue)]),
        ("off", RequestState::Approved, &[OK, (false, Health::Warning)]),
        ("good", RequestState::Approved, &[OK, (true, Health::Warning)]),
        ("pending", RequestState::Requested, &[(false, Health::MajorIssue)]),
        ("declined", RequestState::Declined, &[OK]),
        ("nobody", RequestState::Requested, &[]),
        ("good2", RequestState::Approved, &[OK]),
    ];
    for (name, state, sites) in cases {
        let address = format!("{name}@clients.example");
        let row = svc.request_access(&w.signed_in(&agency), email(&address), Role::Developer).await.unwrap();
        if name == "nobody" {
            continue; // no account has this address
        }
        let client = w.account(&address, Plan::Plus, true).await;
        let summary = websites(&w, &client, sites).await;
        match state {
            RequestState::Approved => drop(svc.approve(&w.signed_in(&client), row.request.id()).await.unwrap()),
            RequestState::Declined => svc.decline(&w.signed_in(&client), row.request.id()).await.unwrap(),
            _ => {}
        }
        let record = db.store.shared_account(agency.id, row.request.id()).await.unwrap().unwrap();
        let shown = if state == RequestState::Approved { summary } else { WebsiteSummary::default() };
        assert_eq!(record.websites, shown, "{name}: the client's counters, only once approved");
        let used = u32::from(state == RequestState::Approved);
        assert_eq!(record.client_slots, Some(SlotUsage { used, limit: TeamSlots::Limited(3) }), "{name}");
    }

    let everything = db.store.shared_accounts(agency.id, &query(None, None, 100, None)).await.unwrap().items;
    assert_eq!(everything.len(), cases.len());
    assert!(everything.iter().any(|r| r.client_slots.is_none()), "no account has the address");
    for status in SharedAccountStatus::ALL {
        let mut by_domain: Vec<_> = everything
            .iter()
            .filter(|r| SharedAccountStatus::derive(r.request.state(), r.websites) == status)
            .map(|r| r.request.id())
            .collect();
        let filtered = db.store.shared_accounts(agency.id, &query(None, Some(status), 100, None)).await.unwrap();
        let mut by_sql: Vec<_> = filtered.items.iter().map(|r| r.request.id()).collect();
        by_domain.sort();
        by_sql.sort();
        assert!(!by_domain.is_empty(), "the data covers {status:?}");
        assert_eq!(by_sql, by_domain, "{status:?}: SQL filter == SharedAccountStatus::derive");
    }
    // The filter pages like the unfiltered list.
    let no_data = query(None, Some(SharedAccountStatus::NoData), 2, None);
    let first = db.store.shared_accounts(agency.id, &no_data).await.unwrap();
    let rest = query(None, Some(SharedAccountStatus::NoData), 100, first.next_cursor.clone());
    let rest = db.store.shared_accounts(agency.id, &rest).await.unwrap();
    assert_eq!(first.items.len() + rest.items.len(), 4);

    // The stored status follows later changes of the client's websites.
    let good2 = db.store.find_by_email(&email("good2@clients.example")).await.unwrap().unwrap();
    let site = w.store.list(good2.id, None, &PageRequest::default()).await.unwrap().items[0].id;
    assert!(with_status(&db, &agency, SharedAccountStatus::AllGood).await.contains(&"good2@clients.example".into()));
    w.store.update_status(site, true, Health::MajorIssue, w.now()).await.unwrap().unwrap();
    assert!(!with_status(&db, &agency, SharedAccountStatus::AllGood).await.contains(&"good2@clients.example".into()));
    let major = with_status(&db, &agency, SharedAccountStatus::MajorIssue).await;
    assert_eq!(major, ["good2@clients.example", "majorconnected@clients.example", "major@clients.example"]);
    w.store.update_status(site, false, Health::Ok, w.now()).await.unwrap().unwrap();
    let off = with_status(&db, &agency, SharedAccountStatus::NotConnected).await;
    assert_eq!(off, ["good2@clients.example", "off@clients.example"]);
});

/// The emails of the agency's rows with `status`, newest first.
pub(crate) async fn with_status(db: &TestDb, agency: &Account, status: SharedAccountStatus) -> Vec<String> {
    let page = db.store.shared_accounts(agency.id, &query(None, Some(status), 100, None)).await.unwrap();
    page.items.iter().map(|r| r.request.email().as_str().to_owned()).collect()
}

contract!(grant_links_find_only_the_current_open_request, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let second = w.account("second@example.com", Plan::Free, true).await;
    let svc = &w.service;
    let first = svc.request_access(&w.signed_in(&agency), email("client@example.com"), Role::Admin).await.unwrap();
    w.clock.advance(TimeDelta::seconds(5));
    let later = svc.request_access(&w.signed_in(&second), email("client@example.com"), Role::Biller).await.unwrap();
    svc.request_access(&w.signed_in(&agency), email("other@example.com"), Role::Biller).await.unwrap();

    let token = grant_token(&w, first.request.id()).await;
    let pending = AccessRequestRepository::find_by_token(&db.store, &token.hash()).await.unwrap().unwrap();
    assert_eq!((pending.request, pending.agency), (first.request.clone(), agency.clone()));

    let inbox = db.store.pending_for(&email("client@example.com")).await.unwrap();
    let ids: Vec<_> = inbox.iter().map(|p| (p.request.id(), p.agency.id)).collect();
    assert_eq!(ids, vec![(first.request.id(), agency.id), (later.request.id(), second.id)], "oldest first");

    // Rotated by a resend, then closed by approval.
    w.clock.advance(TimeDelta::seconds(60));
    svc.resend(&w.signed_in(&agency), first.request.id()).await.unwrap();
    assert!(AccessRequestRepository::find_by_token(&db.store, &token.hash()).await.unwrap().is_none(), "rotated");
    let fresh = grant_token(&w, first.request.id()).await;
    assert!(AccessRequestRepository::find_by_token(&db.store, &fresh.hash()).await.unwrap().is_some());
    let client = w.account("client@example.com", Plan::Plus, false).await;
    svc.approve_by_token(&w.signed_in(&client), &fresh).await.unwrap();
    assert!(AccessRequestRepository::find_by_token(&db.store, &fresh.hash()).await.unwrap().is_none(), "single use");
    let inbox = db.store.pending_for(&client.email).await.unwrap();
    assert_eq!(inbox.iter().map(|p| p.request.id()).collect::<Vec<_>>(), vec![later.request.id()]);
});

contract!(a_whole_lifecycle_is_written_atomically_and_reads_back, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let admin_agency = w.account("admin@example.com", Plan::Free, true).await;
    let client = w.account("client@example.com", Plan::Free, false).await;
    let svc = &w.service;
    let (as_agency, as_client) = (w.signed_in(&agency), w.signed_in(&client));

    let row = svc.request_access(&as_agency, client.email.clone(), Role::Developer).await.unwrap();
    let id = row.request.id();
    // Approving through the link verifies the email (verify_email) and admits the
    // agency into the free plan's single slot.
    let token = grant_token(&w, id).await;
    let member = svc.approve_by_token(&as_client, &token).await.unwrap();
    let client = w.store.find(client.id).await.unwrap().unwrap();
    assert!(client.email_verified, "verified through the grant link");
    let as_client = w.signed_in(&client);
    assert_eq!(w.role_of(&client, &agency).await, Some(Role::Developer));

    // A second agency finds no free slot: refused, and the row says it was blocked.
    let other = svc.request_access(&w.signed_in(&admin_agency), client.email.clone(), Role::Admin).await.unwrap();
    let refused = svc.approve(&as_client, other.request.id()).await;
    assert_eq!(refused.unwrap_err(), ApproveError::NoFreeTeamSlots(NoFreeTeamSlots { used: 1, limit: 1 }));
    let blocked = db.store.shared_account(admin_agency.id, other.request.id()).await.unwrap().unwrap();
    assert!(blocked.request.slot_blocked_at().is_some());
    assert_eq!(blocked.request.state(), RequestState::Requested);

    // A plan change (set_plan) makes room; a downgrade below the members is refused.
    let (plan, slots) = svc.change_plan(&as_client, client.id, Plan::Plus).await.unwrap();
    assert_eq!((plan, slots.limit), (Plan::Plus, TeamSlots::Limited(3)));
    let admin_member = svc.approve(&as_client, other.request.id()).await.unwrap();
    assert!(svc.change_plan(&as_client, client.id, Plan::Free).await.is_err());
    assert_eq!(w.store.find(client.id).await.unwrap().unwrap().plan, Plan::Plus);

    // Role change (update_member + update_request), "Log in as" (insert_session).
    let changed = svc.change_role(&as_client, client.id, member.id, Role::Admin).await.unwrap();
    assert_eq!(changed.role, Role::Admin);
    assert_eq!(w.store.members(client.id).await.unwrap(), vec![changed.clone(), admin_member.clone()]);
    let row = db.store.shared_account(agency.id, id).await.unwrap().unwrap();
    assert_eq!((row.request.role(), row.request.state()), (Role::Admin, RequestState::Approved));
    let started = svc.log_in_as(&as_agency, id).await.unwrap();
    assert_eq!(
        SessionRepository::find_by_token(&w.store, &started.token.hash()).await.unwrap(),
        Some(started.session.clone())
    );

    // Member removal (delete_member + revoke) and leaving.
    svc.remove_member(&as_client, client.id, member.id).await.unwrap();
    assert_eq!(w.role_of(&client, &agency).await, None);
    assert!(db.store.shared_account(agency.id, id).await.unwrap().is_none(), "revoked rows leave the list");
    svc.leave(&w.signed_in(&admin_agency), other.request.id()).await.unwrap();
    assert!(w.store.members(client.id).await.unwrap().is_empty());

    // A declined request stays listed, tagged; removing it takes it off.
    let third = w.account("third@example.com", Plan::Free, true).await;
    let declined = svc.request_access(&w.signed_in(&third), client.email.clone(), Role::Biller).await.unwrap();
    svc.decline(&as_client, declined.request.id()).await.unwrap();
    let row = db.store.shared_account(third.id, declined.request.id()).await.unwrap().unwrap();
    assert_eq!(row.request.state(), RequestState::Declined);
    assert_eq!(row.request.delivery(), Delivery::Queued);

    // Every step is in the client's audit log, once, newest first.
    let log = db.store.for_client(client.id, &client.email, &PageRequest::default()).await.unwrap();
    let names: Vec<_> = log.items.iter().rev().map(|e| e.kind.name()).collect();
    assert_eq!(
        names,
        [
            "access_requested",
            "request_approved",
            "email_verified",
            "access_requested",
            "plan_changed",
            "request_approved",
            "role_changed",
            "impersonation_started",
            "member_removed",
            "agency_left",
            "access_requested",
            "request_declined",
        ]
    );
    assert!(log.items.iter().any(|e| matches!(e.kind, AuditKind::MemberRemoved { role: Role::Admin, .. })));
    assert_eq!(log.items.iter().filter(|e| e.request == Some(id)).count(), 6);
});
