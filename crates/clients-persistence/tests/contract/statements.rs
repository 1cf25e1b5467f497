//! Cost that must not grow with the data: a request for the agency's list (resolving
//! the bearer token, then one page: the first, a later one, a search, a status filter)
//! sends the same number of SQL statements whether the agency has 10 or 1,000 clients
//! with 10 websites each; and the synthetic seed keeps the website counters true.

use clients_domain::ports::{Limit, PageRequest, SharedAccountQuery};
use clients_domain::{Email, Password, Policy, SharedAccountStatus};
use clients_persistence::{SyntheticSpec, SyntheticSummary};

use crate::support::{TestDb, World};

fn spec(agency: &str, clients: u32) -> SyntheticSpec {
    SyntheticSpec {
        agency_email: agency.to_owned(),
        // The contract suite's `PlainHasher` format.
        password_hash: "plain$bench-password-1".to_owned(),
        clients,
        websites: clients * 10,
        now: chrono::DateTime::from_timestamp_micros(1_800_000_000_000_000).unwrap(),
    }
}

fn query(q: Option<&str>, status: Option<SharedAccountStatus>, cursor: Option<String>) -> SharedAccountQuery {
    SharedAccountQuery { q: q.map(str::to_owned), status, page: PageRequest { limit: Limit::default(), cursor } }
}

/// Statements sent for one list request of `agency` per query shape, as the HTTP
/// handler makes it: authenticate the bearer token, then read the page.
async fn statements_per_request(db: &TestDb, w: &World, agency: &str, seeded: &SyntheticSummary) -> Vec<u64> {
    let signed_in =
        w.service.sign_in(&Email::parse(agency).unwrap(), &Password::parse("bench-password-1").unwrap()).await.unwrap();
    let bearer = signed_in.token.expose().to_owned();
    let p = w.service.authenticate(&bearer).await.unwrap();
    let first = w.service.shared_accounts(&p, &query(None, None, None)).await.unwrap();
    assert_eq!(first.items.len(), 50.min(seeded.listed as usize));
    let queries = [
        query(None, None, None),
        query(None, None, first.next_cursor.clone()),
        query(Some(&seeded.search), None, None),
        query(None, Some(SharedAccountStatus::MajorIssue), None),
        query(None, Some(SharedAccountStatus::AllGood), None),
    ];
    let mut counts = vec![];
    for q in &queries {
        let before = db.store.statements_executed();
        let p = w.service.authenticate(&bearer).await.unwrap();
        let page = w.service.shared_accounts(&p, q).await.unwrap();
        counts.push(db.store.statements_executed() - before);
        assert!(page.items.iter().all(|r| q.status.is_none_or(|s| r.status == s)), "{q:?}");
    }
    counts
}

contract!(a_list_request_sends_as_many_statements_at_10_as_at_1000_clients, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let small = db.store.seed_synthetic(&spec("small@agency.example", 10)).await.unwrap();
    let large = db.store.seed_synthetic(&spec("large@agency.example", 1_000)).await.unwrap();
    assert_eq!((small.listed, large.listed), (10, 1_000));
    assert_eq!(large.websites, 10_000);

    let at_10 = statements_per_request(&db, &w, "small@agency.example", &small).await;
    let at_1000 = statements_per_request(&db, &w, "large@agency.example", &large).await;
    assert_eq!(at_10, at_1000, "statements per request must not depend on the number of rows");
    // Token lookup, account, page: whatever the query.
    assert!(at_10.iter().all(|n| *n == at_10[0] && *n <= 3), "{at_10:?}");
});

contract!(the_synthetic_seed_keeps_website_counters_true_and_shows_every_status, |db: TestDb| async move {
    let seeded = db.store.seed_synthetic(&spec("agency@seed.example", 400)).await.unwrap();
    assert!(seeded.by_status.iter().all(|n| *n > 0), "every status appears: {:?}", seeded.by_status);
    assert_eq!(seeded.by_status.iter().sum::<u32>(), seeded.listed);
    let mismatched = db
        .texts(
            "SELECT a.email FROM accounts a WHERE a.websites_total <> (SELECT count(*) FROM websites w WHERE \
             w.account_id = a.id) OR a.websites_major_issue <> (SELECT count(*) FROM websites w WHERE w.account_id \
             = a.id AND w.health = 'major_issue') OR a.websites_not_connected <> (SELECT count(*) FROM websites w \
             WHERE w.account_id = a.id AND NOT w.connected)",
        )
        .await;
    assert!(mismatched.is_empty(), "counters differ from websites: {mismatched:?}");
    let states = db.texts("SELECT DISTINCT state FROM access_requests ORDER BY state").await;
    assert_eq!(states, ["approved", "declined", "left", "removed", "requested", "revoked"]);
    let healths = db.texts("SELECT DISTINCT health FROM websites ORDER BY health").await;
    assert_eq!(healths, ["major_issue", "ok", "warning"]);
    // Seeding the same agency twice is refused.
    assert!(db.store.seed_synthetic(&spec("agency@seed.example", 10)).await.is_err());
});
