//! `Idempotency-Key` records.

use chrono::TimeDelta;
use clients_domain::{Plan, Policy};
use clients_persistence::{IdempotencyRecord, IdempotencyStart};

use crate::support::{TestDb, World};

contract!(idempotency_keys_reserve_replay_refuse_and_release, |db: TestDb| async move {
    let w = World::new(&db, Policy::default());
    let a = w.account("a@example.com", Plan::Free, true).await;
    let b = w.account("b@example.com", Plan::Free, true).await;
    let s = &db.store;
    assert_eq!(s.reserve_idempotency_key(a.id, "k1", "fp1", w.now()).await.unwrap(), IdempotencyStart::Reserved);
    assert_eq!(s.reserve_idempotency_key(a.id, "k1", "fp1", w.now()).await.unwrap(), IdempotencyStart::InProgress);
    assert_eq!(s.reserve_idempotency_key(a.id, "k1", "fp2", w.now()).await.unwrap(), IdempotencyStart::Mismatch);
    assert_eq!(s.reserve_idempotency_key(b.id, "k1", "fp9", w.now()).await.unwrap(), IdempotencyStart::Reserved);

    let response = IdempotencyRecord { status: 201, body: br#"{"id":"1"}"#.to_vec() };
    s.complete_idempotency_key(a.id, "k1", &response).await.unwrap();
    assert_eq!(
        s.reserve_idempotency_key(a.id, "k1", "fp1", w.now()).await.unwrap(),
        IdempotencyStart::Replay(response)
    );

    s.release_idempotency_key(b.id, "k1").await.unwrap();
    assert_eq!(s.reserve_idempotency_key(b.id, "k1", "fp3", w.now()).await.unwrap(), IdempotencyStart::Reserved);

    w.clock.advance(TimeDelta::days(2));
    assert_eq!(s.reserve_idempotency_key(a.id, "k2", "fp", w.now()).await.unwrap(), IdempotencyStart::Reserved);
    assert_eq!(s.purge_idempotency_keys(w.now() - TimeDelta::days(1)).await.unwrap(), 2);
    assert_eq!(s.reserve_idempotency_key(a.id, "k1", "fp1", w.now()).await.unwrap(), IdempotencyStart::Reserved);
    assert_eq!(s.reserve_idempotency_key(a.id, "k2", "fp", w.now()).await.unwrap(), IdempotencyStart::InProgress);
});
