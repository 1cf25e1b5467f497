//! Races: the guarantees that hold only if storage serialises writers. Run these ten
//! times in a row with
//! `for i in $(seq 10); do cargo test -p clients-persistence --test contract concurrency || break; done`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::TimeDelta;
use clients_domain::ports::{
    AccessRequestRepository as _, Outbox as _, PageRequest, TeamRepository as _, WebsiteRepository as _,
};
use clients_domain::service::{ApproveError, RequestAccessError};
use clients_domain::{
    AccessRequestId, Account, DomainName, Health, NoFreeTeamSlots, Notification, OutboxMessageId, OutgoingEmail, Plan,
    Policy, RequestState, Role, SharedAccountStatus, WebsiteSummary,
};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::outbox::enqueue;
use crate::requests::with_status;
use crate::support::{TestDb, World, email};
use crate::websites::counters;

contract!(approvals_racing_for_three_slots_admit_exactly_three, |db: TestDb| async move {
    let policy = Policy { recipient_daily_cap: 100, ..Policy::default() };
    let w = World::new(&db, policy);
    let client = w.account("client@example.com", Plan::Plus, true).await;
    let mut requests: Vec<AccessRequestId> = vec![];
    for n in 0..25 {
        let agency = w.account(&format!("agency{n}@example.com"), Plan::Free, true).await;
        let principal = w.signed_in(&agency);
        let row = w.service.request_access(&principal, client.email.clone(), Role::Developer).await;
        requests.push(row.unwrap().request.id());
    }
    // Every approval starts at once, to make the race as tight as the runtime allows.
    let start = Arc::new(Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .iter()
        .map(|id| {
            let (service, principal, id, start) = (w.service.clone(), w.signed_in(&client), *id, start.clone());
            tokio::spawn(async move {
                start.wait().await;
                service.approve(&principal, id).await
            })
        })
        .collect();
    let (mut approved, mut full) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => approved += 1,
            Err(ApproveError::NoFreeTeamSlots(NoFreeTeamSlots { used: 3, limit: 3 })) => full += 1,
            Err(other) => panic!("unexpected outcome: {other:?}"),
        }
    }
    assert_eq!((approved, full), (3, 22));
    assert_eq!(w.store.members(client.id).await.unwrap().len(), 3);
});

contract!(concurrent_requests_to_one_recipient_respect_its_daily_cap, |db: TestDb| async move {
    let policy = Policy { recipient_daily_cap: 5, ..Policy::default() };
    let w = World::new(&db, policy);
    let mut agencies = vec![];
    for n in 0..12 {
        agencies.push(w.account(&format!("agency{n}@example.com"), Plan::Free, true).await);
    }
    let start = Arc::new(Barrier::new(agencies.len()));
    let tasks: Vec<_> = agencies
        .iter()
        .map(|agency| {
            let (service, principal, start) = (w.service.clone(), w.signed_in(agency), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                service.request_access(&principal, email("busy@example.com"), Role::Biller).await
            })
        })
        .collect();
    let (mut sent, mut limited) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => sent += 1,
            Err(RequestAccessError::RecipientRateLimited(_)) => limited += 1,
            Err(other) => panic!("unexpected outcome: {other:?}"),
        }
    }
    assert_eq!((sent, limited), (5, 7));
});

contract!(two_workers_claiming_at_once_never_get_the_same_message, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let client = w.account("client@example.com", Plan::Free, true).await;
    let emails: Vec<_> = (0..60u128)
        .map(|n| OutgoingEmail {
            id: OutboxMessageId::from_uuid(Uuid::from_u128(10_000 + n)),
            to: email(&format!("agency{n}@example.com")),
            notification: Notification::RequestDeclined { client_email: client.email.clone() },
            request: None,
            created_at: w.now(),
        })
        .collect();
    enqueue(&w.store, client.id, emails).await;
    let now = w.now() + TimeDelta::seconds(1);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let store = w.store.clone();
            tokio::spawn(async move {
                let mut mine = vec![];
                loop {
                    let batch = store.claim_due(now, 7, TimeDelta::hours(1)).await.unwrap();
                    if batch.is_empty() {
                        break mine;
                    }
                    for claimed in batch {
                        store.mark_sent(&[claimed.email.id], now).await.unwrap();
                        mine.push(claimed.email.id);
                    }
                }
            })
        })
        .collect();
    let mut all = vec![];
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a message was claimed twice");
    assert_eq!(all.len(), 60, "every message was claimed");
});

contract!(concurrent_health_reports_keep_the_website_counters_exact, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let owner = w.account("owner@example.com", Plan::Pro, true).await;
    // An agency's approved row shows the owner's websites; its stored status follows them.
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let row =
        w.service.request_access(&w.signed_in(&agency), email("owner@example.com"), Role::Developer).await.unwrap();
    w.service.approve(&w.signed_in(&owner), row.request.id()).await.unwrap();
    let mut sites = vec![];
    for n in 0..12 {
        let domain = DomainName::parse(&format!("site{n}.example.com")).unwrap();
        sites.push(w.service.add_website(&w.signed_in(&owner), owner.id, domain).await.unwrap());
    }
    let healths = [Health::Ok, Health::Warning, Health::MajorIssue];
    let tasks: Vec<_> = (0..48usize)
        .map(|n| {
            let (store, id, now) = (w.store.clone(), sites[n % sites.len()].id, w.now());
            tokio::spawn(async move { store.update_status(id, n % 3 != 0, healths[n % 3], now).await.unwrap() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_some());
    }
    let list = w.store.list(owner.id, None, &PageRequest::default()).await.unwrap().items;
    assert_eq!(list.len(), 12);
    let summary = WebsiteSummary::of(&list);
    assert_eq!(counters(&db, owner.id).await, summary);
    let record = w.store.shared_account(agency.id, row.request.id()).await.unwrap().unwrap();
    assert_eq!(record.websites, summary, "the approved row shows the counters");
    let status = SharedAccountStatus::derive(RequestState::Approved, summary);
    assert_eq!(with_status(&db, &agency, status).await, ["owner@example.com"], "the stored status, as derived");
});

contract!(concurrent_new_requests_are_batched_and_decided_as_if_one_by_one, |db: TestDb| async move {
    let policy = Policy { recipient_daily_cap: 100, ..Policy::default() };
    let w = World::new(&db, policy);
    let a = w.account("agency-a@example.com", Plan::Free, true).await;
    let b = w.account("agency-b@example.com", Plan::Free, true).await;
    for n in 0..5 {
        w.account(&format!("client{n}@example.com"), Plan::Free, true).await;
    }
    // Agency A asks each of 40 addresses twice, agency B 10 of them once, all at once.
    let mut asks: Vec<(Account, usize)> = vec![];
    for n in 0..40 {
        asks.extend([(a.clone(), n), (a.clone(), n)]);
    }
    asks.extend((0..10).map(|n| (b.clone(), n)));
    let before = w.store.statements_executed();
    let start = Arc::new(Barrier::new(asks.len()));
    let tasks: Vec<_> = asks
        .iter()
        .map(|(agency, n)| {
            let (service, principal, start, n) = (w.service.clone(), w.signed_in(agency), start.clone(), *n);
            tokio::spawn(async move {
                start.wait().await;
                service.request_access(&principal, email(&format!("client{n}@example.com")), Role::Developer).await
            })
        })
        .collect();
    let mut outcomes: HashMap<(String, usize), (u32, u32)> = HashMap::new();
    for ((agency, n), task) in asks.iter().zip(tasks) {
        let tally = outcomes.entry((agency.email.as_str().to_owned(), *n)).or_default();
        match task.await.unwrap() {
            Ok(row) => {
                assert_eq!(row.request.email().as_str(), format!("client{n}@example.com"));
                tally.0 += 1;
            }
            Err(RequestAccessError::AlreadyRequested) => tally.1 += 1,
            Err(other) => panic!("unexpected outcome: {other:?}"),
        }
    }
    for ((agency, n), tally) in &outcomes {
        let expected = if agency == "agency-a@example.com" { (1, 1) } else { (1, 0) };
        assert_eq!(*tally, expected, "{agency} -> client{n}");
    }
    let sent = w.store.statements_executed() - before;
    // One by one, each request would send 7 or 8 statements.
    assert!(sent < 2 * asks.len() as u64, "{sent} statements for {} requests: not batched", asks.len());
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.texts(sql).await }
    };
    assert_eq!(count("SELECT CAST(count(*) AS TEXT) FROM access_requests").await, ["50"]);
    assert_eq!(count("SELECT CAST(count(DISTINCT email) AS TEXT) FROM access_requests").await, ["40"]);
    assert_eq!(count("SELECT CAST(count(*) AS TEXT) FROM audit_events").await, ["50"]);
    assert_eq!(count("SELECT CAST(count(*) AS TEXT) FROM email_outbox").await, ["50"]);
});
