//! Websites: the per-account list, duplicates, health reports, and the counters the
//! agency's list reads.

use clients_domain::ports::{Limit, ListError, PageRequest, StoreError, WebsiteRepository as _};
use clients_domain::{AccountId, DomainName, Health, Plan, Policy, Website, WebsiteId, WebsiteSummary};
use uuid::Uuid;

use crate::support::{TestDb, World};

/// The counters stored on the account row.
pub async fn counters(db: &TestDb, account: AccountId) -> WebsiteSummary {
    let id = match db.backend {
        crate::support::Backend::Sqlite => format!("x'{}'", account.as_uuid().simple()),
        crate::support::Backend::Postgres => format!("'{account}'"),
    };
    let sql = format!(
        "SELECT websites_total || ',' || websites_major_issue || ',' || websites_not_connected FROM accounts \
         WHERE id = {id}"
    );
    let text = db.texts(&sql).await.pop().unwrap();
    let n: Vec<u32> = text.split(',').map(|x| x.parse().unwrap()).collect();
    WebsiteSummary { total: n[0], major_issue: n[1], not_connected: n[2] }
}

fn site(w: &World, account: AccountId, domain: &str) -> Website {
    Website {
        id: WebsiteId::from_uuid(Uuid::from_u128(rand::random())),
        account_id: account,
        domain: DomainName::parse(domain).unwrap(),
        connected: false,
        health: Health::Ok,
        created_at: w.now(),
    }
}

contract!(websites_list_by_domain_search_and_keep_counters_in_step, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let owner = w.account("owner@example.com", Plan::Pro, true).await;
    let stranger = w.account("stranger@example.com", Plan::Pro, true).await;
    let domains = ["e.example.com", "b.example.com", "shop.example.org", "a.example.com", "d.example.com"];
    let mut added = vec![];
    for d in domains {
        let s = site(&w, owner.id, d);
        w.store.add(&s).await.unwrap();
        added.push(s);
    }
    w.store.add(&site(&w, stranger.id, "a.example.com")).await.unwrap();
    let dup = site(&w, owner.id, "a.example.com");
    assert!(matches!(w.store.add(&dup).await, Err(StoreError::Conflict(_))), "same domain twice");
    assert_eq!(counters(&db, owner.id).await, WebsiteSummary { total: 5, major_issue: 0, not_connected: 5 });

    let mut seen = vec![];
    let mut cursor = None;
    loop {
        let page = PageRequest { limit: Limit::new(2).unwrap(), cursor };
        let page = w.store.list(owner.id, None, &page).await.unwrap();
        seen.extend(page.items.iter().map(|s| s.domain.as_str().to_owned()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["a.example.com", "b.example.com", "d.example.com", "e.example.com", "shop.example.org"]);
    let found = w.store.list(owner.id, Some("SHOP".to_owned()), &PageRequest::default()).await.unwrap();
    assert_eq!(found.items, vec![added[2].clone()], "every field round-trips");
    let bad = PageRequest { limit: Limit::default(), cursor: Some("nope".to_owned()) };
    assert_eq!(w.store.list(owner.id, None, &bad).await.unwrap_err(), ListError::InvalidCursor);

    // Health reports move the counters by what changed, and only by that.
    let reports = [
        (0, true, Health::Ok),
        (1, true, Health::MajorIssue),
        (2, false, Health::MajorIssue),
        (1, true, Health::MajorIssue),
        (3, true, Health::Warning),
        (2, true, Health::Ok),
    ];
    for (i, connected, health) in reports {
        let updated = w.store.update_status(added[i].id, connected, health, w.now()).await.unwrap().unwrap();
        assert_eq!((updated.connected, updated.health, updated.id), (connected, health, added[i].id));
        let list = w.store.list(owner.id, None, &PageRequest::default()).await.unwrap().items;
        assert_eq!(counters(&db, owner.id).await, WebsiteSummary::of(&list), "after {i} {connected} {health:?}");
    }
    assert_eq!(counters(&db, owner.id).await, WebsiteSummary { total: 5, major_issue: 1, not_connected: 1 });
    let unknown = WebsiteId::from_uuid(Uuid::from_u128(1));
    assert_eq!(w.store.update_status(unknown, true, Health::Ok, w.now()).await.unwrap(), None);
    assert_eq!(counters(&db, stranger.id).await, WebsiteSummary { total: 1, major_issue: 0, not_connected: 1 });
});
