//! SQLite: a connection the writer holds, for the batches of new requests and the
//! delivery outcomes.
//!
//! Under a stream of new requests SQLite's single writer sets the pace, and what bounds
//! it is its chain of hand-offs to the connection's thread, not the statements' work
//! (`docs/performance.md`, rounds 14 and 15). A pooled transaction costs three of them
//! beyond its statements: the pool pings every connection it takes back (sqlx does so
//! unconditionally) before the next transaction can acquire it, and `BEGIN` and `COMMIT`
//! are statements of their own. On a connection held by the writer nothing is taken
//! back, `BEGIN IMMEDIATE` goes with the transaction's first statement and `COMMIT`
//! with its last, in one text each (the multi-statement texts of [`crate::tx::Script`]).
//! The delivery outcomes run on it too, so that both keep one warm page cache: a
//! connection that finds the database changed by another rereads what it had cached.
//!
//! A transaction that does not commit (an error, a panic) gives its connection up: the
//! connection closes, which rolls back whatever it held, and the next batch opens a new
//! one. So the held connection is never left inside a transaction.
//!
//! Writes stay serialised with every other writer of the process by the writer turn
//! (see `tx`), which the caller holds for the transaction's length. An in-memory
//! database has none: every connection to it would see a database of its own.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{self, ConnectOptions as _};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, MutexGuard};

/// The held connection, opened on first use and after a transaction that did not
/// commit.
#[derive(Debug)]
pub(crate) struct HeldWriter {
    options: SqliteConnectOptions,
    conn: Mutex<Option<SqliteConnection>>,
}

impl HeldWriter {
    pub(crate) fn new(options: SqliteConnectOptions) -> Self {
        Self { options, conn: Mutex::new(None) }
    }

    /// A transaction on the held connection (opening it when needed). `BEGIN
    /// IMMEDIATE` goes with its first statement.
    pub(crate) async fn begin(&self) -> Result<HeldTx<'_>, DbErr> {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            *conn = Some(self.options.connect().await.map_err(conn_err)?);
        }
        Ok(HeldTx { conn: Mutex::new(conn), begun: AtomicBool::new(false), done: false })
    }
}

/// A write transaction on the held connection.
#[derive(Debug)]
pub(crate) struct HeldTx<'a> {
    conn: Mutex<MutexGuard<'a, Option<SqliteConnection>>>,
    /// Whether `BEGIN IMMEDIATE` was sent.
    begun: AtomicBool,
    /// Committed, or given up.
    done: bool,
}

impl HeldTx<'_> {
    /// `stmt`, led by `BEGIN IMMEDIATE` when it is the transaction's first.
    fn leading(&self, mut stmt: Statement) -> Statement {
        if !self.begun.swap(true, Ordering::Relaxed) {
            stmt.sql = format!("BEGIN IMMEDIATE;\n{}", stmt.sql);
        }
        stmt
    }

    /// Runs `last` (when there is one) and commits, in one text: one hand-off to the
    /// connection's thread. On failure the connection is given up (closing it rolls
    /// back), so nothing of the transaction stays.
    pub(crate) async fn commit_after(mut self, last: Option<Statement>) -> Result<(), DbErr> {
        let stmt = match last {
            Some(last) => {
                let mut stmt = self.leading(last);
                stmt.sql.push_str(";\nCOMMIT");
                stmt
            }
            None if !self.begun.load(Ordering::Relaxed) => {
                self.done = true;
                return Ok(());
            }
            None => Statement::from_string(DbBackend::Sqlite, "COMMIT"),
        };
        let result = {
            let mut guard = self.conn.lock().await;
            match guard.as_mut() {
                Some(conn) => query(&stmt).execute(&mut *conn).await.map(|_| ()).map_err(exec_err),
                None => Err(gone()),
            }
        };
        if result.is_ok() {
            self.done = true;
        }
        result
    }
}

impl Drop for HeldTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Closing the connection rolls back what it held; the next batch opens a new
            // one (see the module).
            self.conn.get_mut().take();
        }
    }
}

fn query(stmt: &Statement) -> sqlx::query::Query<'_, sqlx::Sqlite, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(sea_orm::sea_query::Values(vec![]));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(e.into()))
}

fn conn_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(e.into()))
}

fn gone() -> DbErr {
    DbErr::Conn(RuntimeErr::Internal("the held SQLite connection was given up".to_owned()))
}

#[async_trait]
impl ConnectionTrait for HeldTx<'_> {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let stmt = self.leading(stmt);
        let mut guard = self.conn.lock().await;
        let conn = guard.as_mut().ok_or_else(gone)?;
        query(&stmt).execute(conn).await.map(Into::into).map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.execute_raw(Statement::from_string(DbBackend::Sqlite, sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let stmt = self.leading(stmt);
        let mut guard = self.conn.lock().await;
        let conn = guard.as_mut().ok_or_else(gone)?;
        query(&stmt).fetch_optional(conn).await.map(|row| row.map(Into::into)).map_err(exec_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let stmt = self.leading(stmt);
        let mut guard = self.conn.lock().await;
        let conn = guard.as_mut().ok_or_else(gone)?;
        query(&stmt).fetch_all(conn).await.map(|rows| rows.into_iter().map(Into::into).collect()).map_err(exec_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OutboxKey, Store, StoreOptions};

    async fn file_store(name: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("clients-held-{name}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("held.db").display());
        let store = Store::connect(&url, StoreOptions::new(OutboxKey::from_bytes([7; 32]))).await.unwrap();
        store.db().execute_unprepared("CREATE TABLE t (x INTEGER NOT NULL CHECK (x > 0))").await.unwrap();
        (store, dir)
    }

    async fn count(store: &Store) -> i64 {
        let row = store.db().query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT count(*) AS n FROM t"));
        row.await.unwrap().unwrap().try_get("", "n").unwrap()
    }

    /// What commits is there for every connection; what does not (a failed statement,
    /// a transaction dropped uncommitted) is rolled back, and the next transaction
    /// starts afresh on a new connection rather than inside the old one.
    #[tokio::test]
    async fn the_held_connection_commits_or_gives_itself_up() {
        let (store, dir) = file_store("commit").await;
        let held = store.inner.held.as_ref().expect("a file store holds a writer connection");
        let insert =
            |x: i64| Statement::from_sql_and_values(DbBackend::Sqlite, "INSERT INTO t (x) VALUES (?)", [x.into()]);

        let tx = held.begin().await.unwrap();
        tx.execute_raw(insert(1)).await.unwrap();
        tx.commit_after(None).await.unwrap();
        assert_eq!(count(&store).await, 1, "committed");

        let tx = held.begin().await.unwrap();
        tx.execute_raw(insert(2)).await.unwrap();
        drop(tx);
        assert_eq!(count(&store).await, 1, "dropped uncommitted: rolled back");

        let tx = held.begin().await.unwrap();
        tx.execute_raw(insert(3)).await.unwrap();
        assert!(tx.execute_raw(insert(-1)).await.is_err(), "the CHECK fails");
        drop(tx);
        assert_eq!(count(&store).await, 1, "a failed transaction: rolled back");

        let tx = held.begin().await.unwrap();
        tx.execute_raw(insert(4)).await.unwrap();
        tx.commit_after(None).await.unwrap();
        assert_eq!(count(&store).await, 2, "the next transaction starts afresh");

        let tx = held.begin().await.unwrap();
        tx.commit_after(Some(insert(5))).await.unwrap();
        assert_eq!(count(&store).await, 3, "begun, written and committed in one text");

        let tx = held.begin().await.unwrap();
        tx.execute_raw(insert(6)).await.unwrap();
        assert!(tx.commit_after(Some(insert(-6))).await.is_err(), "the CHECK fails before COMMIT");
        assert_eq!(count(&store).await, 3, "nothing of it stays");
        let tx = held.begin().await.unwrap();
        tx.commit_after(Some(insert(7))).await.unwrap();
        assert_eq!(count(&store).await, 4, "and the next starts afresh");
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
