//! `clients-persistence`: the sea-orm adapter. One [`Store`] implements every storage
//! port of `clients-domain` on SQLite (the embedded default) and PostgreSQL
//! (production, possibly shared by several app instances).
//!
//! Map of the crate:
//! - [`Store`], [`StoreOptions`]: connecting with server-grade defaults, migrating,
//!   readiness;
//! - `atomic`: [`AtomicStore`](clients_domain::ports::AtomicStore), *load, decide,
//!   save* in one transaction with the client account locked;
//! - `accounts`, `requests`, `websites`, `audit`, `outbox`: the other ports;
//! - `idempotency`: `Idempotency-Key` records for the HTTP layer;
//! - `entities` (private) and `mapping`: rows and their conversion to domain types;
//! - `errors`: driver errors sorted into conflict, retry, unavailable and bug.
//!
//! Locking, per backend:
//! - PostgreSQL runs at READ COMMITTED and locks what a decision depends on with
//!   `SELECT … FOR UPDATE`: the client account row (which serialises everything that
//!   touches its team), then the request row. A new request also takes a transaction
//!   advisory lock on the recipient address (so the per-recipient cap and the
//!   duplicate check see every committed request) and holds the agency and client rows
//!   `FOR SHARE` (they must not change under the decision; one agency's requests to
//!   different recipients do not wait for one another). Rows are
//!   always locked accounts first (by id), then requests, to keep deadlocks rare; the
//!   ones that still happen are retried.
//! - SQLite opens every write transaction with `BEGIN IMMEDIATE`, taking the single
//!   write lock before the first read, so no two writers decide on the same data.
//!
//! Architecture invariant: nothing outside this crate sees a sea-orm type; rows are
//! mapped to domain types at the boundary.

mod accounts;
mod atomic;
mod audit;
mod checkpoint;
mod cursor;
mod entities;
mod errors;
mod handoff;
mod held;
mod idempotency;
mod mapping;
mod new_requests;
mod outbox;
mod ports;
mod requests;
mod resources;
mod seal;
mod stats;
mod synthetic;
mod tx;
mod websites;
mod writer_thread;

use std::future::Future;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clients_domain::PlanCatalogue;
use clients_domain::ports::StoreError;
use migration::{Migrator, MigratorTrait as _};
use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

pub use idempotency::{IdempotencyRecord, IdempotencyStart};
pub use ports::StorePorts;
pub use seal::OutboxKey;
pub use stats::{OutboxStats, PoolStats};
pub use synthetic::{SyntheticSpec, SyntheticSummary, create_postgres_database, drop_postgres_database};

/// How to connect, and what the adapter needs from configuration.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Team slots per plan, for the agency list's `client_slots`.
    pub plans: PlanCatalogue,
    /// Seals grant tokens in the outbox.
    pub outbox_key: OutboxKey,
    /// Pool size; `None`: 8 for SQLite (readers in parallel under WAL; a file's writes
    /// run on one more connection of their own), 16 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// How long a caller waits for a pooled connection before "unavailable".
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout`: a statement running longer is cancelled and
    /// reported as unavailable (`None`: the server's setting).
    pub statement_timeout: Option<Duration>,
    /// SQLite `busy_timeout`: how long a writer waits for the write lock.
    pub sqlite_busy_timeout: Duration,
    /// Tries of a transaction that keeps hitting serialization failures, deadlocks or
    /// a busy database, before answering "unavailable".
    pub max_attempts: u32,
}

impl StoreOptions {
    /// Defaults for a server, with the given outbox key.
    #[must_use]
    pub fn new(outbox_key: OutboxKey) -> Self {
        Self {
            plans: PlanCatalogue::default(),
            outbox_key,
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Some(Duration::from_secs(30)),
            sqlite_busy_timeout: Duration::from_secs(5),
            max_attempts: 5,
        }
    }
}

/// The storage adapter: every storage port of `clients-domain`. Cheap to clone (the
/// connection pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: DatabaseConnection,
    /// SQLite on a file: the one connection every write transaction runs on (see
    /// [`Store::write_db`]). None on PostgreSQL and in-memory SQLite.
    write_db: Option<DatabaseConnection>,
    /// SQLite on a file: where batches of writes and outbox rounds run (see
    /// `writer_thread`).
    writer_thread: Option<writer_thread::WriterThread>,
    /// SQLite on a file: the connection the writer holds for the batches of new
    /// requests and the delivery outcomes (see `held`).
    held: Option<held::HeldWriter>,
    backend: DbBackend,
    plans: PlanCatalogue,
    outbox_key: OutboxKey,
    max_attempts: u32,
    statements: Arc<AtomicU64>,
    /// SQLite's in-process writer turn (see `tx`).
    writer: Option<Arc<tokio::sync::Semaphore>>,
    acquire_timeout: Duration,
    /// Health reports waiting for their batch (see `websites`).
    status_queue: std::sync::Mutex<websites::StatusQueue>,
    /// New requests waiting for their batch (see `new_requests`).
    new_requests: std::sync::Mutex<new_requests::NewRequestQueue>,
    /// New emails claimed as they were written, for this process's delivery worker
    /// (see `handoff`).
    handoff: std::sync::Mutex<handoff::Handoff>,
}

impl Store {
    /// Connects to `url`: `sqlite:<path>` (the file is created when missing) or
    /// `postgres://…`.
    ///
    /// SQLite gets server defaults: WAL (readers never block the writer), foreign keys
    /// on, `synchronous = NORMAL` (durable at checkpoints, safe under WAL), temporary
    /// storage in memory, a busy timeout, and a small pool. In-memory SQLite gets one
    /// connection, since every connection would otherwise see its own empty database.
    ///
    /// # Errors
    /// [`StoreError::Internal`] for an unsupported URL, [`StoreError::Unavailable`]
    /// when the database cannot be reached.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            DbBackend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbBackend::Postgres
        } else {
            return Err(StoreError::Internal("database url must start with sqlite: or postgres://".to_owned()));
        };
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.acquire_timeout(options.acquire_timeout).connect_timeout(options.acquire_timeout).sqlx_logging(false);
        // sqlx pings every connection it hands out by default: a second round trip for
        // every statement. Ping only connections idle long enough to have been dropped
        // by the server or a proxy; a broken busy connection fails its statement, which
        // the caller sees as unavailable (and retries, for transactions).
        opts.test_before_acquire_if_idle_for(Duration::from_secs(30));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        match backend {
            DbBackend::Sqlite => {
                let pool = if in_memory { 1 } else { options.max_connections.unwrap_or(8) };
                let busy = options.sqlite_busy_timeout;
                opts.max_connections(pool).map_sqlx_sqlite_opts(move |o| sqlite_settings(o, busy));
            }
            _ => {
                opts.max_connections(options.max_connections.unwrap_or(16));
                if let Some(t) = options.statement_timeout {
                    opts.statement_timeout(t);
                }
            }
        }
        let writer_opts = (backend == DbBackend::Sqlite && !in_memory).then(|| {
            let mut o = opts.clone();
            o.max_connections(1).min_connections(1);
            o
        });
        let statements = Arc::new(AtomicU64::new(0));
        let count = |db: &mut DatabaseConnection| {
            let counter = statements.clone();
            db.set_metric_callback(move |info| {
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(target: "clients_persistence::statements", elapsed_us = info.elapsed.as_micros(), sql = %info.statement.sql);
            });
        };
        let mut db = Database::connect(opts).await.map_err(|e| errors::classify(&e).into_store())?;
        count(&mut db);
        let write_db = match writer_opts {
            Some(o) => {
                let mut w = Database::connect(o).await.map_err(|e| errors::classify(&e).into_store())?;
                count(&mut w);
                Some(w)
            }
            None => None,
        };
        let held = match &write_db {
            Some(_) => {
                let o = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Internal(e.to_string()))?;
                Some(held::HeldWriter::new(sqlite_settings(o, options.sqlite_busy_timeout).disable_statement_logging()))
            }
            None => None,
        };
        let writer_thread = match &write_db {
            Some(_) => Some(writer_thread::WriterThread::start().map_err(|e| StoreError::Internal(e.to_string()))?),
            None => None,
        };
        let store = Self {
            inner: Arc::new(Inner {
                db,
                write_db,
                writer_thread,
                held,
                backend,
                plans: options.plans,
                outbox_key: options.outbox_key,
                max_attempts: options.max_attempts.max(1),
                statements,
                writer: tx::writer_turn(backend),
                acquire_timeout: options.acquire_timeout,
                status_queue: std::sync::Mutex::default(),
                new_requests: std::sync::Mutex::default(),
                handoff: std::sync::Mutex::default(),
            }),
        };
        if backend == DbBackend::Sqlite && !in_memory {
            checkpoint::spawn(&store);
        }
        Ok(store)
    }

    /// Brings the schema up to date (every pending migration).
    ///
    /// # Errors
    /// [`StoreError`] when a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.inner.db, None).await.map_err(|e| errors::classify(&e).into_store())
    }

    /// Readiness: whether the database answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.inner.db.ping().await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Closes the pool (graceful shutdown; clones of this store stop working).
    ///
    /// # Errors
    /// [`StoreError`] when closing fails.
    pub async fn close(&self) -> Result<(), StoreError> {
        if let Some(w) = &self.inner.write_db {
            w.close_by_ref().await.map_err(|e| errors::classify(&e).into_store())?;
        }
        self.inner.db.close_by_ref().await.map_err(|e| errors::classify(&e).into_store())
    }

    /// How many SQL statements this store (and every clone of it) has sent so far.
    /// Tests use it to prove that a request costs a fixed number of statements.
    #[must_use]
    pub fn statements_executed(&self) -> u64 {
        self.inner.statements.load(Ordering::Relaxed)
    }

    /// Whether this store runs on PostgreSQL (else SQLite).
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.inner.backend == DbBackend::Postgres
    }

    fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// Where write transactions run. On a SQLite file, one connection of its own: a
    /// connection's page cache is dropped whenever another connection has written, so
    /// writes that took turns on the pool's connections each started cold (every
    /// page they touched read again through the WAL); the one writer keeps its cache.
    /// Elsewhere the pool.
    fn write_db(&self) -> &DatabaseConnection {
        self.inner.write_db.as_ref().unwrap_or(&self.inner.db)
    }

    /// Runs `task` where write batches run: SQLite's writer thread, else the
    /// caller's runtime.
    fn spawn_writer<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.inner.writer_thread {
            Some(t) => drop(t.handle().spawn(task)),
            // Not from a runtime (a store dropped after its runtime): nowhere to run.
            None => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    drop(rt.spawn(task));
                }
            }
        }
    }

    /// Runs `work` where write batches run (SQLite's writer thread; elsewhere right
    /// here) and waits for it.
    async fn on_writer<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        match &self.inner.writer_thread {
            Some(t) => match t.handle().spawn(work).await {
                Ok(done) => Ok(done),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Err(StoreError::Unavailable("the store is shutting down".to_owned())),
            },
            None => Ok(work.await),
        }
    }

    fn backend(&self) -> DbBackend {
        self.inner.backend
    }
}

/// What every SQLite connection of a store runs with (see [`Store::connect`]).
fn sqlite_settings(o: SqliteConnectOptions, busy: Duration) -> SqliteConnectOptions {
    o.create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(busy)
        // Statement journals (a multi-row insert's undo copies of the pages it changes)
        // in memory: left to files, every statement past 64 KiB of them spilled to a
        // temporary file with a write per page (`docs/performance.md`, round 15).
        .pragma("temp_store", "memory")
        // A safety net only: the checkpointer keeps the log short (see `checkpoint`).
        .pragma("wal_autocheckpoint", checkpoint::SAFETY_NET_PAGES.to_string())
}
