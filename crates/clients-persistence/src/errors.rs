//! Driver errors, sorted into what the domain can act on: a uniqueness conflict, a
//! transient failure worth retrying, the database being unavailable, or a bug.

use clients_domain::ports::StoreError;
use sea_orm::sqlx::error::ErrorKind;
use sea_orm::{DbErr, RuntimeErr, sqlx};

/// What a failed database call means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Serialization failure, deadlock, busy or locked database: run the whole
    /// transaction again.
    Transient(String),
    /// A UNIQUE constraint fired.
    Conflict(String),
    /// Connection lost, pool exhausted, statement timed out, server shutting down.
    Unavailable(String),
    /// Anything else: a bug, a broken constraint, corrupt data.
    Internal(String),
}

impl Failure {
    /// The port error, once retries (if any) are spent.
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Failure::Transient(m) => StoreError::Unavailable(format!("still failing after retries: {m}")),
            Failure::Conflict(m) => StoreError::Conflict(m),
            Failure::Unavailable(m) => StoreError::Unavailable(m),
            Failure::Internal(m) => StoreError::Internal(m),
        }
    }
}

impl From<DbErr> for Failure {
    fn from(e: DbErr) -> Self {
        classify(&e)
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        f.into_store()
    }
}

/// PostgreSQL SQLSTATEs that mean "run the transaction again": serialization failure,
/// deadlock detected, lock not available.
const PG_TRANSIENT: [&str; 3] = ["40001", "40P01", "55P03"];
/// PostgreSQL SQLSTATEs that mean the server cannot serve now: statement timeout or
/// cancel, admin shutdown, crash shutdown, cannot connect now, too many connections.
const PG_UNAVAILABLE: [&str; 6] = ["57014", "57P01", "57P02", "57P03", "53300", "53000"];
/// SQLite primary result codes SQLITE_BUSY and SQLITE_LOCKED (their extended codes
/// carry the primary code in the low byte).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// Sorts a sea-orm error.
pub(crate) fn classify(e: &DbErr) -> Failure {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Failure::Unavailable(e.to_string()),
        DbErr::Exec(RuntimeErr::SqlxError(sqlx_err)) | DbErr::Query(RuntimeErr::SqlxError(sqlx_err)) => {
            classify_sqlx(sqlx_err)
        }
        _ => Failure::Internal(e.to_string()),
    }
}

fn classify_sqlx(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let msg = format!("{} (code {code})", db.message());
            if db.kind() == ErrorKind::UniqueViolation {
                return Failure::Conflict(msg);
            }
            if PG_TRANSIENT.contains(&code.as_str()) {
                return Failure::Transient(msg);
            }
            if PG_UNAVAILABLE.contains(&code.as_str()) || code.starts_with("08") {
                return Failure::Unavailable(msg);
            }
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                && let Ok(n) = code.parse::<i64>()
                && matches!(n & 0xff, SQLITE_BUSY | SQLITE_LOCKED)
            {
                return Failure::Transient(msg);
            }
            Failure::Internal(msg)
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Failure::Unavailable(e.to_string()),
        _ => Failure::Internal(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn pool_and_connection_errors_are_unavailable() {
        let pool = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(sqlx::Error::PoolTimedOut)));
        assert!(matches!(classify(&pool), Failure::Unavailable(_)));
        let acquire = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout);
        assert!(matches!(classify(&acquire), Failure::Unavailable(_)));
        let io = DbErr::Query(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(std::io::Error::other("reset")))));
        assert!(matches!(classify(&io), Failure::Unavailable(_)));
    }

    #[test]
    fn retries_exhausted_become_unavailable_and_bugs_stay_internal() {
        assert!(matches!(Failure::Transient("busy".into()).into_store(), StoreError::Unavailable(_)));
        assert!(matches!(Failure::Conflict("dup".into()).into_store(), StoreError::Conflict(_)));
        assert!(matches!(classify(&DbErr::Custom("bug".into())), Failure::Internal(_)));
    }
}
