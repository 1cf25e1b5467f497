//! Accounts and sessions.

use chrono::TimeDelta;
use clients_domain::ports::{AccountRepository as _, SessionRepository as _, StoreError};
use clients_domain::{
    Account, AccountId, DisplayName, PasswordHash, Plan, Role, Session, SessionId, SessionKind, TokenHash,
};
use clients_persistence::{Store, StoreOptions};
use uuid::Uuid;

use crate::support::{TestDb, World, email};

contract!(accounts_round_trip_and_an_email_is_taken_in_any_case, |db: TestDb| async move {
    let w = World::new(&db, Default::default());
    let account = Account {
        id: AccountId::from_uuid(Uuid::from_u128(7)),
        email: email("Alice@Example.com"),
        email_verified: true,
        name: Some(DisplayName::parse("Alice & Co").unwrap()),
        plan: Plan::Pro,
        created_at: w.now(),
    };
    let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned());
    db.store.create(&account, &hash).await.unwrap();

    assert_eq!(db.store.find(account.id).await.unwrap(), Some(account.clone()));
    assert_eq!(db.store.find_by_email(&email("ALICE@example.COM")).await.unwrap(), Some(account.clone()));
    let (found, found_hash) = db.store.credentials(&email("alice@example.com")).await.unwrap().unwrap();
    assert_eq!((found, found_hash), (account.clone(), hash.clone()));
    assert_eq!(db.store.find(AccountId::from_uuid(Uuid::from_u128(8))).await.unwrap(), None);
    assert_eq!(db.store.credentials(&email("bob@example.com")).await.unwrap(), None);

    let unnamed = Account { name: None, email_verified: false, plan: Plan::Free, ..account.clone() };
    let twin = Account { id: AccountId::from_uuid(Uuid::from_u128(9)), email: email("ALICE@EXAMPLE.COM"), ..unnamed };
    assert!(matches!(db.store.create(&twin, &hash).await, Err(StoreError::Conflict(_))), "case variant is taken");
    let same_id = Account { email: email("carol@example.com"), ..account.clone() };
    assert!(matches!(db.store.create(&same_id, &hash).await, Err(StoreError::Conflict(_))), "id is taken");

    let unnamed = Account { id: AccountId::from_uuid(Uuid::from_u128(10)), email: email("dave@example.com"), ..twin };
    db.store.create(&unnamed, &hash).await.unwrap();
    assert_eq!(db.store.find(unnamed.id).await.unwrap(), Some(unnamed));
});

contract!(sessions_are_found_by_token_hash_and_deleted, |db: TestDb| async move {
    let w = World::new(&db, Default::default());
    let agency = w.account("agency@example.com", Plan::Free, true).await;
    let client = w.account("client@example.com", Plan::Plus, true).await;
    let personal = Session {
        id: SessionId::from_uuid(Uuid::from_u128(1)),
        token_hash: TokenHash::from_bytes([1; 32]),
        account_id: agency.id,
        kind: SessionKind::Personal,
        created_at: w.now(),
        expires_at: w.now() + TimeDelta::days(14),
    };
    let acting = Session {
        id: SessionId::from_uuid(Uuid::from_u128(2)),
        token_hash: TokenHash::from_bytes([2; 32]),
        kind: SessionKind::Impersonation { client: client.id, role: Role::Developer },
        expires_at: w.now() + TimeDelta::minutes(60),
        ..personal.clone()
    };
    db.store.insert(&personal).await.unwrap();
    db.store.insert(&acting).await.unwrap();
    assert_eq!(
        db.store.find_with_account(&personal.token_hash).await.unwrap(),
        Some((personal.clone(), agency.clone()))
    );
    assert_eq!(db.store.find_with_account(&acting.token_hash).await.unwrap(), Some((acting.clone(), agency.clone())));
    assert_eq!(db.store.find_with_account(&TokenHash::from_bytes([3; 32])).await.unwrap(), None);
    assert_eq!(db.store.find_by_token(&personal.token_hash).await.unwrap(), Some(personal.clone()));
    assert_eq!(db.store.find_by_token(&acting.token_hash).await.unwrap(), Some(acting.clone()));
    assert_eq!(db.store.find_by_token(&TokenHash::from_bytes([3; 32])).await.unwrap(), None);

    let same_token = Session { id: SessionId::from_uuid(Uuid::from_u128(3)), ..personal.clone() };
    assert!(matches!(db.store.insert(&same_token).await, Err(StoreError::Conflict(_))));

    db.store.delete(personal.id).await.unwrap();
    assert_eq!(db.store.find_by_token(&personal.token_hash).await.unwrap(), None);
    db.store.delete(personal.id).await.unwrap();
    assert_eq!(db.store.find_by_token(&acting.token_hash).await.unwrap(), Some(acting));
});

contract!(readiness_pings_and_bad_urls_are_refused, |db: TestDb| async move {
    db.store.ping().await.unwrap();
    assert!(db.store.is_postgres() == (db.backend == crate::support::Backend::Postgres));
    let bad = Store::connect("mysql://localhost/x", StoreOptions::new(db.key.clone())).await;
    assert!(matches!(bad, Err(StoreError::Internal(_))));
    let closed = Store::connect(&db.url, crate::support::options(&db.key)).await.unwrap();
    closed.close().await.unwrap();
    assert!(matches!(closed.ping().await, Err(StoreError::Unavailable(_))));
});

#[tokio::test]
async fn an_in_memory_sqlite_store_works_on_its_single_connection() {
    let key = clients_persistence::OutboxKey::random();
    let store = Store::connect("sqlite::memory:", StoreOptions::new(key)).await.unwrap();
    store.migrate().await.unwrap();
    let account = Account {
        id: AccountId::from_uuid(Uuid::from_u128(1)),
        email: email("solo@example.com"),
        email_verified: false,
        name: None,
        plan: Plan::Basic,
        created_at: chrono::DateTime::UNIX_EPOCH,
    };
    store.create(&account, &PasswordHash::new("x".to_owned())).await.unwrap();
    assert_eq!(store.find_by_email(&account.email).await.unwrap(), Some(account));
}
