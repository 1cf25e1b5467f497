//! Transient failures: a writer that cannot get its lock is retried a bounded number
//! of times and then answered "unavailable", with nothing written; a lock released in
//! time lets it through.

use std::time::Duration;

use clients_domain::ports::{
    AccountRepository as _, AtomicError, AtomicStore as _, Changes, Decision, Scope, ScopeKey, StoreError,
};
use clients_domain::{AccountId, Plan, Policy};
use clients_persistence::Store;
use sea_orm::{
    ConnectionTrait as _, DatabaseTransaction, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait as _,
};

use crate::support::{Backend, TestDb, World, options};

/// Holds what a writer of `account`'s team needs: the write lock on SQLite, the
/// account row on PostgreSQL.
async fn hold_lock(db: &TestDb, account: AccountId) -> (sea_orm::DatabaseConnection, DatabaseTransaction) {
    let conn = db.raw().await;
    let mode = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let tx = conn.begin_with_options(mode).await.unwrap();
    if db.backend == Backend::Postgres {
        let sql = format!("SELECT id FROM accounts WHERE id = '{account}' FOR UPDATE");
        tx.query_one_raw(Statement::from_string(tx.get_database_backend(), sql)).await.unwrap().unwrap();
    }
    (conn, tx)
}

/// A store that waits at most ~50 ms for a lock per try.
async fn impatient(db: &TestDb, attempts: u32) -> Store {
    let mut o = options(&db.key);
    o.sqlite_busy_timeout = Duration::from_millis(20);
    o.statement_timeout = Some(Duration::from_millis(50));
    o.max_attempts = attempts;
    Store::connect(&db.url, o).await.unwrap()
}

async fn upgrade(store: &Store, client: AccountId) -> Result<(), AtomicError<()>> {
    let changes = Changes { set_plan: Some((client, Plan::Scale)), ..Changes::default() };
    let decide = move |_: &Scope| Ok::<_, ()>(Decision { changes: changes.clone(), outcome: () });
    store.atomically(ScopeKey::Team { client }, Box::new(decide)).await
}

contract!(a_writer_kept_from_its_lock_gets_unavailable_and_writes_nothing, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let client = w.account("client@example.com", Plan::Free, true).await;
    let (conn, held) = hold_lock(&db, client.id).await;
    let store = impatient(&db, 3).await;
    let outcome = upgrade(&store, client.id).await;
    let Err(AtomicError::Store(StoreError::Unavailable(why))) = outcome else { panic!("{outcome:?}") };
    match db.backend {
        // SQLITE_BUSY is transient: retried, then given up on.
        Backend::Sqlite => assert!(why.contains("after retries") && why.contains("code 5"), "{why}"),
        // The statement timeout (57014) cancels the lock wait: the server is too busy.
        Backend::Postgres => assert!(why.contains("57014"), "{why}"),
    }
    held.rollback().await.unwrap();
    conn.close().await.unwrap();
    assert_eq!(db.store.find(client.id).await.unwrap().unwrap().plan, Plan::Free);
    store.close().await.unwrap();
});

contract!(a_lock_released_in_time_lets_the_retried_writer_through, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let client = w.account("client@example.com", Plan::Free, true).await;
    let (conn, held) = hold_lock(&db, client.id).await;
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        held.commit().await.unwrap();
        conn.close().await.unwrap();
    });
    // Ten tries of at least 20 ms each outlast the 30 ms hold, whatever the jitter.
    let store = impatient(&db, 10).await;
    upgrade(&store, client.id).await.unwrap();
    release.await.unwrap();
    assert_eq!(db.store.find(client.id).await.unwrap().unwrap().plan, Plan::Scale);
    store.close().await.unwrap();
});
