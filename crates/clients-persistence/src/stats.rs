//! Operational gauges for `/metrics`: the connection pool and the outbox queue.

use chrono::{DateTime, Utc};
use clients_domain::ports::StoreError;
use sea_orm::{ConnectionTrait as _, DbBackend};

use crate::Store;
use crate::errors::Failure;

/// The connection pool right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Of which idle.
    pub idle: u32,
}

/// The outbox queue right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxStats {
    /// Messages waiting to be sent (not yet sent or failed).
    pub pending: u64,
    /// When the oldest waiting message was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

impl Store {
    /// Pool usage.
    #[must_use]
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle) = match self.backend() {
            DbBackend::Postgres => {
                let p = self.db().get_postgres_connection_pool();
                (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX))
            }
            _ => {
                let p = self.db().get_sqlite_connection_pool();
                (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX))
            }
        };
        PoolStats { size, idle }
    }

    /// Outbox depth and age (one indexed query).
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let sql = "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM email_outbox WHERE state = 'pending'";
        let row = self.db().query_one_raw(self.stmt(sql, [])).await.map_err(Failure::from)?;
        let Some(row) = row else { return Ok(OutboxStats { pending: 0, oldest_pending: None }) };
        let pending: i64 = row.try_get("", "pending").map_err(Failure::from)?;
        let oldest: Option<DateTime<Utc>> = row.try_get("", "oldest").map_err(Failure::from)?;
        Ok(OutboxStats { pending: u64::try_from(pending).unwrap_or(0), oldest_pending: oldest })
    }
}
