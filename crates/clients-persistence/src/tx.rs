//! Write transactions: opened with the write lock on SQLite, retried with jittered
//! backoff when the database reports a transient failure.

use std::future::Future;
use std::time::Duration;

use rand::Rng as _;
use sea_orm::{
    ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait as _, Value,
};

use crate::Store;
use crate::errors::Failure;

/// Why one try of a transaction did not commit.
#[derive(Debug)]
pub(crate) enum TxError<E> {
    /// The decision refused; nothing written, nothing to retry.
    Refused(E),
    /// The database failed.
    Db(Failure),
}

impl<E> From<DbErr> for TxError<E> {
    fn from(e: DbErr) -> Self {
        TxError::Db(e.into())
    }
}

impl<E> From<Failure> for TxError<E> {
    fn from(f: Failure) -> Self {
        TxError::Db(f)
    }
}

/// Backoff before try `n + 1` (n >= 1): uniformly random up to 5 ms × 2ⁿ, capped at
/// 250 ms, so that writers that collided do not collide again in lockstep.
fn backoff(n: u32) -> Duration {
    let ceiling_ms = 5u64.saturating_mul(1 << n.min(16)).min(250);
    Duration::from_millis(rand::thread_rng().gen_range(1..=ceiling_ms))
}

impl Store {
    /// Starts a write transaction. On SQLite `BEGIN IMMEDIATE` takes the write lock at
    /// once (waiting up to the busy timeout): a deferred transaction that read first
    /// and wrote later could fail to upgrade its lock, or decide on a snapshot another
    /// writer has since changed.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.db().begin_with_options(options).await
    }

    /// Runs `attempt` until it commits, refuses, or fails for a reason other than a
    /// transient one; transient failures are retried up to `max_attempts` tries.
    pub(crate) async fn retrying<T, E, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, TxError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TxError<E>>>,
    {
        let mut n = 1;
        loop {
            match attempt().await {
                Err(TxError::Db(Failure::Transient(why))) if n < self.inner.max_attempts => {
                    tracing::debug!(what, attempt = n, %why, "transient database failure; retrying");
                    tokio::time::sleep(backoff(n)).await;
                    n += 1;
                }
                Err(TxError::Db(Failure::Transient(why))) => {
                    tracing::warn!(what, attempts = n, %why, "transient database failure; giving up");
                    return Err(TxError::Db(Failure::Transient(why)));
                }
                other => return other,
            }
        }
    }

    /// A statement with `$1…$n` parameters (both sqlx drivers accept that form).
    pub(crate) fn stmt(&self, sql: impl Into<String>, values: impl IntoIterator<Item = Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// PostgreSQL only: serialises transactions that concern the same recipient
    /// address until commit, whether or not an account has that address yet.
    pub(crate) async fn lock_recipient(&self, tx: &DatabaseTransaction, email: &str) -> Result<(), DbErr> {
        if self.backend() == DbBackend::Postgres {
            // 0x434C ("CL"): this feature's advisory-lock namespace.
            let sql = "SELECT pg_advisory_xact_lock(17228, hashtext($1))";
            tx.query_one_raw(self.stmt(sql, [email.into()])).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_never_zero() {
        for n in 1..40 {
            let d = backoff(n);
            assert!(d >= Duration::from_millis(1), "{n}: {d:?}");
            assert!(d <= Duration::from_millis(250), "{n}: {d:?}");
        }
        assert!((0..50).all(|_| backoff(1) <= Duration::from_millis(10)));
    }
}
