//! Write transactions: opened with the write lock on SQLite, retried with jittered
//! backoff when the database reports a transient failure.
//!
//! SQLite has one writer at a time. Left to themselves, writers that find the lock
//! taken sleep in SQLite's busy handler (1, 2, 5, 10 … 100 ms) and poll again, so under
//! load the lock sits idle while they sleep. A store on SQLite therefore queues its
//! write transactions on an in-process FIFO turn before it asks SQLite for the lock:
//! one transaction per process runs at a time, the next starts the moment it ends, and
//! a waiting writer holds no pooled connection (readers keep them). The busy timeout
//! still covers other processes on the same file.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait as _, Value,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Store;
use crate::errors::Failure;

/// A write transaction, holding SQLite's in-process writer turn until it ends.
#[derive(Debug)]
pub(crate) struct WriteTx {
    // Declared first: dropped (rolled back) before the turn is handed on.
    tx: DatabaseTransaction,
    _turn: Option<OwnedSemaphorePermit>,
}

impl Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

impl WriteTx {
    /// Commits, then hands the turn on.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }

    /// Rolls back, then hands the turn on.
    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        self.tx.rollback().await
    }
}

/// The writer turn of a store on SQLite (none on PostgreSQL, which locks rows).
pub(crate) fn writer_turn(backend: DbBackend) -> Option<Arc<Semaphore>> {
    (backend == DbBackend::Sqlite).then(|| Arc::new(Semaphore::new(1)))
}

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
    ///
    /// On SQLite the transaction first waits for the process's writer turn (FIFO), as
    /// long as a pooled connection may be waited for; then it is unavailable.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        let turn = self.write_turn().await?;
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(WriteTx { tx: self.write_db().begin_with_options(options).await?, _turn: turn })
    }

    /// Runs `stmt` (one text, of one or more statements) in a write transaction of its
    /// own: on an SQLite file on the writer's held connection, whose page cache the
    /// batches of new requests then share (see `held`).
    pub(crate) async fn in_write_transaction(&self, stmt: Statement) -> Result<(), DbErr> {
        if let Some(held) = &self.inner.held {
            let _turn = self.write_turn().await?;
            return held.begin().await?.commit_after(Some(stmt)).await;
        }
        let tx = self.begin_write().await?;
        tx.execute_raw(stmt).await?;
        tx.commit().await
    }

    /// On SQLite, waits for the process's writer turn (FIFO) for a write that is one
    /// statement or a transaction; as long as a pooled connection may be waited for,
    /// then unavailable. None on PostgreSQL.
    pub(crate) async fn write_turn(&self) -> Result<Option<OwnedSemaphorePermit>, DbErr> {
        let Some(turn) = &self.inner.writer else { return Ok(None) };
        match tokio::time::timeout(self.inner.acquire_timeout, turn.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) | Err(_) => Err(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
        }
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
}

/// Statements of one transaction sent together: one round trip for all of them.
///
/// On SQLite every statement is a hand-off to the connection's own thread and an answer
/// back, and under load the writer's chain of them, not the statements' work, sets the
/// pace of every write: a script joins statements into one text, one hand-off, whose
/// `?` parameters sqlx binds in order across them.
///
/// PostgreSQL's extended protocol takes one statement at a time, so there the script
/// is one statement: the earlier ones become data-modifying `WITH` queries of the last
/// (`WITH s0 AS (INSERT …), s1 AS (INSERT …) INSERT …`), their `$n` parameters
/// renumbered to follow each other. PostgreSQL runs each of them once and to the end,
/// all on one snapshot, and checks foreign keys when the whole statement is done: a
/// row may reference a row that an earlier part of the script inserts, but no part
/// reads what another one writes. Scripts hold inserts only (`Store::apply_all`).
#[derive(Debug)]
pub(crate) struct Script {
    backend: DbBackend,
    /// The statements' texts since the last run (on PostgreSQL renumbered already).
    parts: Vec<String>,
    /// Their values, in order.
    values: Vec<Value>,
}

impl Script {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Self { backend, parts: vec![], values: vec![] }
    }

    /// Adds `stmt`, built for the store's backend (on SQLite with `?` parameters only,
    /// on PostgreSQL with `$n` ones), to what [`Script::run`] sends.
    pub(crate) fn add(&mut self, stmt: Statement) {
        let values = stmt.values.map(|v| v.0).unwrap_or_default();
        if self.backend == DbBackend::Postgres {
            self.parts.push(renumbered(&stmt.sql, self.values.len()));
        } else {
            debug_assert!(
                !stmt.sql.as_bytes().windows(2).any(|w| w[0] == b'$' && w[1].is_ascii_digit()),
                "numbered parameters in a script: {}",
                stmt.sql
            );
            self.parts.push(stmt.sql);
        }
        self.values.extend(values);
    }

    /// What was added since the last run, as one statement, not run (`None` when
    /// nothing was).
    pub(crate) fn into_statement(mut self) -> Option<Statement> {
        self.take()
    }

    fn take(&mut self) -> Option<Statement> {
        let (mut parts, values) = (std::mem::take(&mut self.parts), std::mem::take(&mut self.values));
        let last = parts.pop()?;
        let sql = if parts.is_empty() {
            last
        } else if self.backend == DbBackend::Postgres {
            let with: Vec<String> = parts.iter().enumerate().map(|(n, p)| format!("s{n} AS ({p})")).collect();
            format!("WITH {} {last}", with.join(", "))
        } else {
            parts.push(last);
            parts.join(";\n")
        };
        Some(Statement::from_sql_and_values(self.backend, sql, values))
    }

    /// Runs what was added since the last run, as one call.
    pub(crate) async fn run<C: ConnectionTrait>(&mut self, db: &C) -> Result<(), DbErr> {
        if let Some(stmt) = self.take() {
            db.execute_raw(stmt).await?;
        }
        Ok(())
    }
}

/// `sql` with each parameter `$n` outside quotes turned into `$(n + by)`.
fn renumbered(sql: &str, by: usize) -> String {
    if by == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '$') if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0_usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                out.push_str(&(n + by).to_string());
            }
            _ => {}
        }
    }
    out
}

/// `count` parameters from `$first` on, for an `IN (…)` list: `$3, $4, $5`.
pub(crate) fn marks(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL: one statement, the earlier ones as `WITH` queries, each parameter
    /// numbered after the values before it; quoted text keeps its `$`.
    #[test]
    fn a_postgres_script_is_one_statement_with_its_parameters_numbered_in_order() {
        let mut script = Script::new(DbBackend::Postgres);
        let stmt =
            |sql: &str, n: i32| Statement::from_sql_and_values(DbBackend::Postgres, sql, (0..n).map(Value::from));
        script.add(stmt(r#"INSERT INTO "a" ("x", "y") VALUES ($1, $2), ($3, $4)"#, 4));
        script.add(stmt(r#"INSERT INTO "b" ("$1") VALUES ($1, '$2 and $10', $10)"#, 10));
        script.add(stmt("INSERT INTO c VALUES ($1)", 1));
        let all = script.into_statement().expect("a statement");
        assert_eq!(
            all.sql,
            r#"WITH s0 AS (INSERT INTO "a" ("x", "y") VALUES ($1, $2), ($3, $4)), s1 AS (INSERT INTO "b" ("$1") VALUES ($5, '$2 and $10', $14)) INSERT INTO c VALUES ($15)"#
        );
        assert_eq!(all.values.map(|v| v.0.len()), Some(15));
        assert!(Script::new(DbBackend::Postgres).into_statement().is_none());
    }

    #[test]
    fn an_sqlite_script_joins_its_statements() {
        let mut script = Script::new(DbBackend::Sqlite);
        script.add(Statement::from_sql_and_values(DbBackend::Sqlite, "INSERT INTO a VALUES (?)", [Value::from(1)]));
        script.add(Statement::from_sql_and_values(DbBackend::Sqlite, "INSERT INTO b VALUES (?)", [Value::from(2)]));
        let all = script.into_statement().expect("a statement");
        assert_eq!(all.sql, "INSERT INTO a VALUES (?);\nINSERT INTO b VALUES (?)");
        assert_eq!(all.values.map(|v| v.0.len()), Some(2));
    }

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
