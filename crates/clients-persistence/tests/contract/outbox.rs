//! The outbox: sealing, claiming with a lease, outcomes, and the request's delivery
//! state.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use clients_domain::ports::{
    AccessRequestRepository as _, AtomicStore as _, Changes, Decision, Outbox as _, Scope, ScopeKey,
};
use clients_domain::{
    AccessRequestId, Delivery, GrantToken, Notification, OutboxMessageId, OutgoingEmail, Plan, Policy, Role,
};
use clients_persistence::{OutboxKey, Store};
use uuid::Uuid;

use crate::scopes::grant_token;
use crate::support::{Backend, TestDb, World, email, options};

/// Puts `emails` in the outbox, as an atomic operation would.
pub async fn enqueue(store: &Store, client: clients_domain::AccountId, emails: Vec<OutgoingEmail>) {
    let changes = Changes { emails, ..Changes::default() };
    let write = move |_: &Scope| Ok::<_, ()>(Decision { changes: changes.clone(), outcome: () });
    store.atomically(ScopeKey::Team { client }, Box::new(write)).await.unwrap();
}

/// Everything the database holds, as bytes a dump would show.
async fn everything_stored(db: &TestDb) -> Vec<u8> {
    match db.backend {
        Backend::Sqlite => {
            let path = db.sqlite_file.clone().unwrap();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.extend(std::fs::read(format!("{}-wal", path.display())).unwrap_or_default());
            bytes
        }
        Backend::Postgres => {
            let mut text = String::new();
            for table in migration::TABLES {
                let sql = format!("SELECT row_to_json(t)::text FROM {table} t");
                text.extend(db.texts(&sql).await);
            }
            text.into_bytes()
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

contract!(the_database_never_holds_a_raw_grant_token, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let row = w.service.request_access(&w.signed_in(&agency), email("c@example.com"), Role::Admin).await.unwrap();
    let token = grant_token(&w, row.request.id()).await;
    let raw_bytes = URL_SAFE_NO_PAD.decode(token.expose()).unwrap();
    assert!(
        db.texts("SELECT CAST(payload AS TEXT) FROM email_outbox").await.iter().any(|p| p.contains("sealed_token"))
    );
    let dump = everything_stored(&db).await;
    assert!(!contains(&dump, token.expose().as_bytes()), "token text at rest");
    assert!(!contains(&dump, &raw_bytes), "token bytes at rest");

    // Once sent, not even the sealed copy remains.
    let id = claimed_id(&w, row.request.id()).await;
    w.store.mark_sent(&[id], w.now()).await.unwrap();
    let payloads = db.texts("SELECT CAST(payload AS TEXT) FROM email_outbox").await;
    assert!(payloads.iter().all(|p| !p.contains("sealed_token")), "{payloads:?}");
    assert!(payloads.iter().all(|p| p.contains("agency@example.com")), "the rest of the payload stays");
});

/// The id of the newest access-requested email for `request`.
async fn claimed_id(w: &World, request: AccessRequestId) -> OutboxMessageId {
    let claimed = w.store.claim_due(w.now() + TimeDelta::days(2), 100, TimeDelta::seconds(1)).await.unwrap();
    claimed
        .into_iter()
        .filter(|c| c.email.request == Some(request))
        .max_by_key(|c| c.email.created_at)
        .unwrap()
        .email
        .id
}

// In a process that delivers its own emails, a new email is written as the claim would
// leave it and handed to the worker in memory: claimed once, held by its lease from
// everyone else, and taken from the table by the ordinary claim if the process never
// sends it (here: it waited past half its lease in the queue).
contract!(new_emails_are_written_claimed_and_handed_to_this_process_worker, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let lease = TimeDelta::seconds(60);
    w.store.deliver_new_emails_here(lease);
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let svc = &w.service;
    let t0 = w.now();
    let first = svc.request_access(&w.signed_in(&agency), email("one@example.com"), Role::Admin).await.unwrap();
    let rows = db
        .texts("SELECT CAST(attempts AS TEXT) || ' ' || CAST(claimed_until IS NOT NULL AS TEXT) FROM email_outbox")
        .await;
    assert!(rows == ["1 1"] || rows == ["1 true"], "written claimed: {rows:?}");

    let claimed = w.store.claim_due(t0, 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].attempts, claimed[0].email.request), (0, Some(first.request.id())));
    assert!(w.store.claim_due(t0, 10, lease).await.unwrap().is_empty(), "handed out once");
    assert!(w.store.claim_due(t0 + TimeDelta::seconds(59), 10, lease).await.unwrap().is_empty(), "held by its lease");

    let second = svc.request_access(&w.signed_in(&agency), email("two@example.com"), Role::Admin).await.unwrap();
    let late = t0 + TimeDelta::seconds(31);
    assert!(w.store.claim_due(late, 10, lease).await.unwrap().is_empty(), "past half its lease: left to its lease");
    let again = w.store.claim_due(t0 + TimeDelta::seconds(61), 10, lease).await.unwrap();
    let mut got: Vec<_> = again.iter().map(|c| (c.email.request, c.attempts)).collect();
    got.sort();
    let mut want = vec![(Some(first.request.id()), 1), (Some(second.request.id()), 1)];
    want.sort();
    assert_eq!(got, want, "lapsed leases: the table's claim takes both, as second attempts");
});

// A graceful stop gives the queue's claims back: the next process sends those emails at
// once, as first attempts, instead of after their lease.
contract!(a_graceful_stop_gives_handed_off_claims_back, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let lease = TimeDelta::seconds(60);
    w.store.deliver_new_emails_here(lease);
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let row = w.service.request_access(&w.signed_in(&agency), email("one@example.com"), Role::Admin).await.unwrap();
    assert_eq!(w.store.release_handed_off().await.unwrap(), 1);
    let rows =
        db.texts("SELECT CAST(attempts AS TEXT) || ' ' || CAST(claimed_until IS NULL AS TEXT) FROM email_outbox").await;
    assert!(rows == ["0 1"] || rows == ["0 true"], "unclaimed: {rows:?}");
    let next = w.store.claim_due(w.now(), 10, lease).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].attempts, next[0].email.request), (0, Some(row.request.id())));
    w.service.request_access(&w.signed_in(&agency), email("two@example.com"), Role::Admin).await.unwrap();
    let rows = db.texts("SELECT CAST(attempts AS TEXT) FROM email_outbox WHERE recipient = 'two@example.com'").await;
    assert_eq!(rows, ["0"], "after the stop, emails are written unclaimed");
});

contract!(claims_lease_count_attempts_and_outcomes_move_the_delivery_state, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let svc = &w.service;
    let first = svc.request_access(&w.signed_in(&agency), email("one@example.com"), Role::Admin).await.unwrap();
    let t0 = w.now();
    let lease = TimeDelta::seconds(60);

    let claimed = w.store.claim_due(t0, 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].attempts, claimed[0].email.request), (0, Some(first.request.id())));
    let m1 = claimed[0].email.id;
    assert!(w.store.claim_due(t0, 10, lease).await.unwrap().is_empty(), "held by its lease");
    let again = w.store.claim_due(t0 + TimeDelta::seconds(61), 10, lease).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1), "a lapsed lease frees the message");

    w.store.mark_retry(m1, t0 + TimeDelta::minutes(10), "smtp timeout").await.unwrap();
    assert!(w.store.claim_due(t0 + TimeDelta::minutes(5), 10, lease).await.unwrap().is_empty(), "not yet due");
    let third = w.store.claim_due(t0 + TimeDelta::minutes(11), 10, lease).await.unwrap();
    assert_eq!((third.len(), third[0].attempts), (1, 2));
    let delivery = |id| db_delivery(&w.store, agency.id, id);
    assert_eq!(delivery(first.request.id()).await, Delivery::Queued);
    w.store.mark_sent(&[m1], t0 + TimeDelta::minutes(11)).await.unwrap();
    assert_eq!(delivery(first.request.id()).await, Delivery::Sent);
    w.store.mark_failed(m1, t0 + TimeDelta::minutes(12), "late").await.unwrap();
    assert_eq!(delivery(first.request.id()).await, Delivery::Sent, "a finished message stays finished");
    assert!(w.store.claim_due(t0 + TimeDelta::days(9), 10, lease).await.unwrap().is_empty());

    // A failure shows on the row; a resend queues a new email, and the old email's
    // late outcome no longer moves the row.
    let second = svc.request_access(&w.signed_in(&agency), email("two@example.com"), Role::Admin).await.unwrap();
    let old = claimed_id(&w, second.request.id()).await;
    w.clock.advance(TimeDelta::seconds(61));
    svc.resend(&w.signed_in(&agency), second.request.id()).await.unwrap();
    assert_eq!(delivery(second.request.id()).await, Delivery::Queued);
    w.store.mark_failed(old, w.now(), "mailbox full").await.unwrap();
    assert_eq!(delivery(second.request.id()).await, Delivery::Queued, "not the newest email");
    let newest = claimed_id(&w, second.request.id()).await;
    assert_ne!(newest, old);
    w.store.mark_failed(newest, w.now(), "mailbox full").await.unwrap();
    assert_eq!(delivery(second.request.id()).await, Delivery::Failed);
    let errors = db.texts("SELECT last_error FROM email_outbox WHERE state = 'failed' ORDER BY last_error").await;
    assert_eq!(errors, ["mailbox full", "mailbox full"]);

    // A claim takes at most `limit` messages, oldest due first.
    for n in 0..3 {
        svc.request_access(&w.signed_in(&agency), email(&format!("more{n}@example.com")), Role::Biller).await.unwrap();
    }
    let later = w.now() + TimeDelta::days(3);
    let batch = w.store.claim_due(later, 2, lease).await.unwrap();
    assert_eq!(batch.len(), 2);
    assert!(batch[0].email.created_at <= batch[1].email.created_at);
    assert_eq!(w.store.claim_due(later, 0, lease).await.unwrap(), vec![]);
});

async fn db_delivery(store: &Store, agency: clients_domain::AccountId, id: AccessRequestId) -> Delivery {
    store.shared_account(agency, id).await.unwrap().unwrap().request.delivery()
}

contract!(every_notification_round_trips_through_the_outbox, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let client = w.account("client@example.com", Plan::Free, true).await;
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let row = w.service.request_access(&w.signed_in(&agency), client.email.clone(), Role::Admin).await.unwrap();
    let _ = w.store.claim_due(w.now(), 10, TimeDelta::days(30)).await.unwrap();
    let later = w.now() + TimeDelta::minutes(1);
    let token = GrantToken::from_random([7; 32]);
    let notifications = [
        Notification::AccessRequested {
            agency_name: "Acme <b>&</b> Co".to_owned(),
            agency_email: agency.email.clone(),
            role: Role::Developer,
            token: token.clone(),
            expires_at: later + TimeDelta::days(7),
            resent: false,
        },
        Notification::AccessRequested {
            agency_name: "Acme".to_owned(),
            agency_email: agency.email.clone(),
            role: Role::Biller,
            token,
            expires_at: later + TimeDelta::days(7),
            resent: true,
        },
        Notification::RequestApproved { client_email: client.email.clone(), role: Role::Admin },
        Notification::RequestDeclined { client_email: client.email.clone() },
        Notification::AccessRevoked { client_email: client.email.clone() },
        Notification::AgencyLeft { agency_name: "Acme".to_owned(), agency_email: agency.email.clone() },
        Notification::ImpersonationStarted {
            agency_name: "Acme".to_owned(),
            agency_email: agency.email.clone(),
            role: Role::Developer,
            expires_at: later + TimeDelta::minutes(60),
        },
    ];
    let emails: Vec<_> = notifications
        .into_iter()
        .enumerate()
        .map(|(n, notification)| OutgoingEmail {
            id: OutboxMessageId::from_uuid(Uuid::from_u128(1000 + n as u128)),
            to: client.email.clone(),
            notification,
            request: (n == 0).then(|| row.request.id()),
            created_at: later,
        })
        .collect();
    enqueue(&w.store, client.id, emails.clone()).await;
    let claimed = w.store.claim_due(later, 100, TimeDelta::seconds(30)).await.unwrap();
    let back: Vec<_> = claimed.into_iter().map(|c| c.email).collect();
    assert_eq!(back, emails);
});

contract!(a_message_no_worker_can_open_is_failed_not_claimed_forever, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    // Queued by an instance with another outbox key (a misconfigured deployment).
    let other_key = OutboxKey::random();
    let other = Store::connect(&db.url, options(&other_key)).await.unwrap();
    let w2 = World::new(&TestDb { store: other.clone(), key: other_key, ..db.clone() }, Policy::default());
    let row = w2.service.request_access(&w2.signed_in(&agency), email("c@example.com"), Role::Admin).await.unwrap();
    other.close().await.unwrap();

    let claimed = w.store.claim_due(w2.now(), 10, TimeDelta::seconds(30)).await.unwrap();
    assert!(claimed.is_empty(), "{claimed:?}");
    assert_eq!(db_delivery(&w.store, agency.id, row.request.id()).await, Delivery::Failed);
    assert!(w.store.claim_due(w2.now() + TimeDelta::days(1), 10, TimeDelta::seconds(30)).await.unwrap().is_empty());
});

contract!(a_rounds_sent_messages_are_recorded_together_newest_email_deciding, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let svc = w.service.clone();
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let principal = w.signed_in(&agency);
    let one = svc.request_access(&principal, email("one@example.com"), Role::Admin).await.unwrap();
    let two = svc.request_access(&principal, email("two@example.com"), Role::Biller).await.unwrap();
    w.clock.advance(TimeDelta::seconds(61));
    svc.resend(&principal, two.request.id()).await.unwrap();
    let mut all = w.store.claim_due(w.now() + TimeDelta::days(2), 100, TimeDelta::seconds(1)).await.unwrap();
    all.sort_by_key(|c| c.email.created_at);
    let of = |request| all.iter().filter(move |c| c.email.request == Some(request)).map(|c| c.email.id);
    let of_one = of(one.request.id()).next().unwrap();
    let (first_of_two, newest_of_two) =
        (of(two.request.id()).next().unwrap(), of(two.request.id()).next_back().unwrap());
    assert_ne!(first_of_two, newest_of_two);
    let delivery = |id| db_delivery(&w.store, agency.id, id);

    // The resent request's older email is recorded with another request's: only the
    // newest email of a request moves its row.
    w.store.mark_sent(&[first_of_two, of_one], w.now()).await.unwrap();
    assert_eq!(delivery(one.request.id()).await, Delivery::Sent);
    assert_eq!(delivery(two.request.id()).await, Delivery::Queued, "not the newest email");
    w.store.mark_sent(&[newest_of_two], w.now()).await.unwrap();
    assert_eq!(delivery(two.request.id()).await, Delivery::Sent);
    let states = db.texts("SELECT state FROM email_outbox ORDER BY state").await;
    assert_eq!(states, ["sent", "sent", "sent"]);
    assert!(
        db.texts("SELECT CAST(payload AS TEXT) FROM email_outbox").await.iter().all(|p| !p.contains("sealed_token")),
        "every sent message's token erased"
    );
    w.store.mark_sent(&[], w.now()).await.unwrap();
});

// A backlog is claimed in rounds of at most the limit, each message once, also by two
// workers at a time: on PostgreSQL, an `IN (…)` subquery with `LIMIT … FOR UPDATE SKIP
// LOCKED` could be run again within one claim and take far more than its limit.
contract!(a_backlog_is_claimed_at_most_the_limit_at_a_time_each_message_once, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let client = w.account("client@example.com", Plan::Free, true).await;
    let t0 = w.now();
    let emails: Vec<OutgoingEmail> = (0..300_u128)
        .map(|n| OutgoingEmail {
            id: OutboxMessageId::from_uuid(Uuid::from_u128(5000 + n)),
            to: email(&format!("agency{n}@example.com")),
            notification: Notification::RequestDeclined { client_email: email("client@example.com") },
            request: None,
            created_at: t0,
        })
        .collect();
    enqueue(&w.store, client.id, emails).await;
    let lease = TimeDelta::seconds(60);
    let mut seen = std::collections::HashSet::new();
    loop {
        let (a, b) = tokio::join!(w.store.claim_due(t0, 7, lease), w.store.claim_due(t0, 7, lease));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.len() <= 7 && b.len() <= 7, "{} and {} claimed with a limit of 7", a.len(), b.len());
        if a.is_empty() && b.is_empty() {
            break;
        }
        for c in a.iter().chain(&b) {
            assert!(seen.insert(c.email.id), "claimed twice: {:?}", c.email.id);
        }
    }
    assert_eq!(seen.len(), 300);
});
