//! SQLite: copying the write-ahead log back into the database file off the writers'
//! path.
//!
//! By default SQLite checkpoints inside the commit that grows the log past 1,000
//! pages: that writer, holding the database's single write lock, copies the log's
//! pages into the database file and syncs it, and every other writer waits. Under a
//! stream of writes (batches of new requests or health reports) that was a third of
//! the write lock's time (a Python `sqlite3` replay of 32-request batches on the bench
//! database: a batch's commit took 4.7 ms with the default and 1.5 ms with
//! `wal_autocheckpoint = 0`, of 9.7 ms for the batch and its delivery; see
//! `docs/performance.md`, round 7).
//!
//! So a task checkpoints every [`INTERVAL`] in `PASSIVE` mode, which neither waits for
//! nor blocks readers and writers; it copies what no reader still needs and the log
//! starts over once all of it is copied. Commits checkpoint only past
//! [`SAFETY_NET_PAGES`] (a stalled task, or a store used without a runtime long
//! enough to tick). The task holds the store weakly and ends with it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::{Inner, Store};

/// How often the task checkpoints.
pub(crate) const INTERVAL: Duration = Duration::from_millis(200);

/// Log size (pages of 4 KiB) past which a commit checkpoints by itself.
pub(crate) const SAFETY_NET_PAGES: u32 = 8_000;

/// Starts the checkpointing task of `store`.
pub(crate) fn spawn(store: &Store) {
    let weak: Weak<Inner> = Arc::downgrade(&store.inner);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            let store = Store { inner };
            if store.db().get_sqlite_connection_pool().is_closed() {
                return;
            }
            if let Err(e) = store.checkpoint().await {
                tracing::warn!(error = %e, "SQLite checkpoint failed");
            }
        }
    });
}

impl Store {
    /// One passive checkpoint; SQLite only (the task runs on SQLite stores alone).
    async fn checkpoint(&self) -> Result<(), clients_domain::ports::StoreError> {
        // Straight to the pool: not one of the statements `statements_executed` counts
        // for requests.
        sea_orm::sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(self.db().get_sqlite_connection_pool())
            .await
            .map(|_| ())
            .map_err(|e| {
                crate::errors::classify(&sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e.into()))).into_store()
            })
    }
}
