//! The list version (migration 10), read with the session: it changes whenever the
//! agency's list would read differently, whatever wrote the change, and stays put for
//! writes that concern other agencies. On PostgreSQL a version that a running
//! transaction could still overtake is not vouched for.

use chrono::TimeDelta;
use clients_domain::ports::{
    AccessRequestRepository as _, Entropy as _, Limit, ListVersion, Outbox as _, PageRequest, SessionRepository as _,
    SharedAccountQuery, WebsiteRepository as _,
};
use clients_domain::service::ApproveError;
use clients_domain::{
    Account, DomainName, Health, NoFreeTeamSlots, Plan, Policy, Role, Session, SessionId, SessionKind,
    SharedAccountRow, TokenHash,
};
use sea_orm::{ConnectionTrait as _, Statement, TransactionTrait as _};

use crate::support::{Backend, TestDb, World, email};

/// An agency's session, and what its list reads and its version say at a moment.
struct Watch {
    agency: Account,
    token: TokenHash,
    version: Option<ListVersion>,
    rows: String,
}

impl Watch {
    async fn new(w: &World, agency: &Account, n: u8) -> Self {
        let token = TokenHash::from_bytes([n; 32]);
        let session = Session {
            id: SessionId::from_uuid(w.entropy.uuid()),
            token_hash: token,
            account_id: agency.id,
            kind: SessionKind::Personal,
            created_at: w.now(),
            expires_at: w.now() + TimeDelta::days(1),
        };
        w.store.insert(&session).await.unwrap();
        let mut watch = Self { agency: agency.clone(), token, version: None, rows: String::new() };
        let (version, rows) = watch.read_at_rest(w, "start").await;
        (watch.version, watch.rows) = (Some(version), rows);
        watch
    }

    async fn read(&self, w: &World) -> (Option<ListVersion>, String) {
        let (_, _, version) = w.store.find_with_list_version(&self.token).await.unwrap().unwrap();
        let all = SharedAccountQuery {
            q: None,
            status: None,
            page: PageRequest { limit: Limit::new(100).unwrap(), cursor: None },
        };
        let page = w.store.shared_accounts(self.agency.id, &all).await.unwrap();
        // What the page shows: the rows as the service derives them.
        let shown: Vec<_> =
            page.items.into_iter().map(|r| SharedAccountRow::derive(r.request, r.websites, r.client_slots)).collect();
        (version, format!("{shown:?}"))
    }

    /// After a write: whether the version moved. Fails if the list reads differently
    /// under an unchanged version, or if no version is vouched for at rest.
    /// As [`Watch::read`], once a version is vouched for: PostgreSQL's horizon is the
    /// whole server's, and tests running on other databases hold it back a moment.
    async fn read_at_rest(&self, w: &World, step: &str) -> (ListVersion, String) {
        for _ in 0..250 {
            if let (Some(version), rows) = self.read(w).await {
                return (version, rows);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{step}: once concurrent transactions end, a version is vouched for");
    }

    async fn moved(&mut self, w: &World, step: &str) -> bool {
        let (version, rows) = self.read_at_rest(w, step).await;
        let version = Some(version);
        let moved = version != self.version;
        assert!(moved || rows == self.rows, "{step}: the list changed under version {version:?}");
        (self.version, self.rows) = (version, rows);
        moved
    }
}

contract!(the_list_version_moves_with_every_write_a_list_shows, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let svc = &w.service;
    let (a, b) =
        (w.account("a@agency.example", Plan::Free, true).await, w.account("b@agency.example", Plan::Free, true).await);
    let client = w.account("client@example.com", Plan::Free, true).await;
    let (mut wa, mut wb) = (Watch::new(&w, &a, 1).await, Watch::new(&w, &b, 2).await);
    let as_client = w.signed_in(&client);

    let row_a = svc.request_access(&w.signed_in(&a), client.email.clone(), Role::Developer).await.unwrap();
    assert!(wa.moved(&w, "a requests").await);
    assert!(!wb.moved(&w, "a requests, seen by b").await, "another agency's write leaves b's version");
    let row_b = svc.request_access(&w.signed_in(&b), client.email.clone(), Role::Admin).await.unwrap();
    assert!(wb.moved(&w, "b requests").await);
    assert!(!wa.moved(&w, "b requests, seen by a").await);

    svc.approve(&as_client, row_a.request.id()).await.unwrap();
    assert!(wa.moved(&w, "approved").await);
    // b's row is not blocked yet: a member more changes nothing b shows.
    assert!(!wb.moved(&w, "a became a member, seen by b").await);
    let refused = svc.approve(&as_client, row_b.request.id()).await.unwrap_err();
    assert_eq!(refused, ApproveError::NoFreeTeamSlots(NoFreeTeamSlots { used: 1, limit: 1 }));
    assert!(wb.moved(&w, "blocked on slots").await);

    // The client's websites show on a's approved row: counted and with health.
    let site = svc.add_website(&as_client, client.id, DomainName::parse("shop.example").unwrap()).await.unwrap();
    assert!(wa.moved(&w, "website added").await);
    w.store.update_status(site.id, true, Health::MajorIssue, w.now()).await.unwrap();
    assert!(wa.moved(&w, "health reported").await);

    // A plan with room unblocks b's row (the client's plan and members show there).
    svc.change_plan(&as_client, client.id, Plan::Plus).await.unwrap();
    assert!(wb.moved(&w, "plan changed").await);
    // (Every row of the client's is touched then, a's too: plans change seldom.)
    wa.moved(&w, "plan changed, seen by a").await;
    svc.approve(&as_client, row_b.request.id()).await.unwrap();
    assert!(wb.moved(&w, "b approved").await);
    // The third slot goes to c; d is then blocked, until a member leaves.
    let (c, d) =
        (w.account("c@agency.example", Plan::Free, true).await, w.account("d@agency.example", Plan::Free, true).await);
    let row_c = svc.request_access(&w.signed_in(&c), client.email.clone(), Role::Biller).await.unwrap();
    svc.approve(&as_client, row_c.request.id()).await.unwrap();
    let row_d = svc.request_access(&w.signed_in(&d), client.email.clone(), Role::Biller).await.unwrap();
    let mut wd = Watch::new(&w, &d, 4).await;
    assert!(svc.approve(&as_client, row_d.request.id()).await.is_err());
    assert!(wd.moved(&w, "d blocked on slots").await);
    svc.leave(&w.signed_in(&c), row_c.request.id()).await.unwrap();
    assert!(wd.moved(&w, "a member left: d's slot is free").await);
    assert!(!wa.moved(&w, "c left, seen by a").await);

    // Delivery of the request email shows on the row.
    let claimed = w.store.claim_due(w.now() + TimeDelta::days(1), 100, TimeDelta::seconds(1)).await.unwrap();
    let to_a = claimed.iter().filter(|c| c.email.request == Some(row_a.request.id()));
    let newest = to_a.max_by_key(|c| c.email.created_at).unwrap();
    w.store.mark_sent(&[newest.email.id], w.now()).await.unwrap();
    assert!(wa.moved(&w, "email sent").await);
    let third = w.account("third@example.com", Plan::Free, true).await;
    let row = svc.request_access(&w.signed_in(&a), third.email.clone(), Role::Biller).await.unwrap();
    assert!(wa.moved(&w, "a requests third").await);
    svc.decline(&w.signed_in(&third), row.request.id()).await.unwrap();
    assert!(wa.moved(&w, "declined").await);
    w.clock.advance(TimeDelta::minutes(2));
    svc.resend(&w.signed_in(&a), row.request.id()).await.unwrap();
    assert!(wa.moved(&w, "resent").await);

    // A row that leaves without an update (an account deleted) moves the version too,
    // when it is not the newest.
    svc.request_access(&w.signed_in(&a), email("fourth@example.com"), Role::Biller).await.unwrap();
    assert!(wa.moved(&w, "a requests fourth").await);
    let id = row.request.id().as_uuid();
    let sql = match db.backend {
        Backend::Postgres => format!("DELETE FROM access_requests WHERE id = '{id}'"),
        Backend::Sqlite => format!("DELETE FROM access_requests WHERE id = x'{}'", id.simple()),
    };
    db.exec(&sql).await.unwrap();
    assert!(wa.moved(&w, "row deleted").await);
    assert!(!wb.moved(&w, "a's row deleted, seen by b").await);
});

contract!(a_version_a_running_transaction_could_overtake_is_not_vouched_for, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let a = w.account("a@agency.example", Plan::Free, true).await;
    let watch = Watch::new(&w, &a, 1).await;
    if db.backend == Backend::Sqlite {
        // One writer at a time: versions are given in commit order.
        return;
    }
    // A transaction with an id, still running, whose write to a's list would commit
    // after a newer one: the newest version is not below the snapshot's horizon.
    let bystander = w.account("bystander@example.com", Plan::Free, true).await;
    let raw = db.raw().await;
    let open = raw.begin().await.unwrap();
    let sql = format!("UPDATE accounts SET name = name WHERE id = '{}'", bystander.id.as_uuid());
    open.execute_raw(Statement::from_string(raw.get_database_backend(), sql)).await.unwrap();
    w.service.request_access(&w.signed_in(&a), email("client@example.com"), Role::Biller).await.unwrap();
    assert_eq!(watch.read(&w).await.0, None, "a transaction older than the newest row is still running");
    open.rollback().await.unwrap();
    let mut watch = watch;
    watch.moved(&w, "the older transaction ended").await;
});
