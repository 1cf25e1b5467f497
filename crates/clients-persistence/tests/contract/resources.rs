//! Settings documents, invoices and the website summary.

use chrono::TimeDelta;
use clients_domain::ports::{AccountResources as _, Limit, ListError, PageRequest, StoreError, WebsiteRepository as _};
use clients_domain::{
    DomainName, Health, Invoice, InvoiceId, InvoiceStatus, Plan, Policy, SettingsDocument, Website, WebsiteId,
    WebsiteSummary,
};
use uuid::Uuid;

use crate::support::{TestDb, World};

contract!(settings_start_empty_and_are_replaced_whole, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let a = w.account("owner@example.com", Plan::Pro, true).await;
    assert_eq!(w.store.settings(a.id).await.unwrap(), None);
    let doc = SettingsDocument::new(r#"{"cache":{"ttl":3600},"minify":true}"#.to_owned()).unwrap();
    w.store.put_settings(a.id, &doc, w.now()).await.unwrap();
    assert_eq!(w.store.settings(a.id).await.unwrap(), Some(doc));
    let next = SettingsDocument::new(r#"{"minify":false}"#.to_owned()).unwrap();
    w.store.put_settings(a.id, &next, w.now()).await.unwrap();
    assert_eq!(w.store.settings(a.id).await.unwrap(), Some(next));
});

contract!(invoices_page_newest_first_and_numbers_are_unique_per_account, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let a = w.account("owner@example.com", Plan::Pro, true).await;
    let b = w.account("other@example.com", Plan::Pro, true).await;
    let invoice = |account, n: i64| Invoice {
        id: InvoiceId::from_uuid(Uuid::from_u128(rand::random())),
        account_id: account,
        number: format!("INV-{n}"),
        period_start: w.now() - TimeDelta::days(30 * (n + 1)),
        period_end: w.now() - TimeDelta::days(30 * n),
        amount_cents: 2100 * n,
        currency: "EUR".into(),
        status: InvoiceStatus::Paid,
        issued_at: w.now() - TimeDelta::days(30 * n),
    };
    for n in 0..5 {
        w.store.add_invoice(&invoice(a.id, n)).await.unwrap();
    }
    w.store.add_invoice(&invoice(b.id, 0)).await.unwrap();
    assert!(matches!(w.store.add_invoice(&invoice(a.id, 3)).await, Err(StoreError::Conflict(_))));
    let mut numbers = vec![];
    let mut cursor = None;
    loop {
        let page = PageRequest { limit: Limit::new(2).unwrap(), cursor };
        let page = w.store.invoices(a.id, &page).await.unwrap();
        numbers.extend(page.items.iter().map(|i| i.number.clone()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(numbers, ["INV-0", "INV-1", "INV-2", "INV-3", "INV-4"]);
    let first = w.store.invoices(a.id, &PageRequest::default()).await.unwrap().items.remove(0);
    assert_eq!(first, invoice(a.id, 0).clone_with_id(first.id));
    let bad = PageRequest { limit: Limit::default(), cursor: Some("bm90LWEtY3Vyc29y".into()) };
    assert!(matches!(w.store.invoices(a.id, &bad).await, Err(ListError::InvalidCursor)));
});

contract!(the_website_summary_is_the_accounts_counters, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let a = w.account("owner@example.com", Plan::Pro, true).await;
    assert_eq!(w.store.website_summary(a.id).await.unwrap(), WebsiteSummary::default());
    for (i, (connected, health)) in
        [(true, Health::Ok), (false, Health::Ok), (true, Health::MajorIssue)].into_iter().enumerate()
    {
        let site = Website {
            id: WebsiteId::from_uuid(Uuid::from_u128(rand::random())),
            account_id: a.id,
            domain: DomainName::parse(&format!("s{i}.example.com")).unwrap(),
            connected: false,
            health: Health::Ok,
            created_at: w.now(),
        };
        w.store.add(&site).await.unwrap();
        w.store.update_status(site.id, connected, health, w.now()).await.unwrap();
    }
    assert_eq!(
        w.store.website_summary(a.id).await.unwrap(),
        WebsiteSummary { total: 3, major_issue: 1, not_connected: 1 }
    );
});

trait WithId {
    fn clone_with_id(&self, id: InvoiceId) -> Self;
}

impl WithId for Invoice {
    fn clone_with_id(&self, id: InvoiceId) -> Self {
        Self { id, ..self.clone() }
    }
}
