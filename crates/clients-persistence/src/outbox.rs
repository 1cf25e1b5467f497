//! The delivery side of the email outbox: claiming due messages with a lease, and
//! recording each attempt's outcome.
//!
//! Claims never hand one message to two workers: on PostgreSQL the claiming UPDATE
//! picks its rows with `FOR UPDATE SKIP LOCKED`, so concurrent workers (also in other
//! app instances) skip each other's rows; on SQLite the UPDATE … RETURNING runs under
//! the database's single write lock. A claim lasts `lease`: a crashed worker's
//! messages become due again when it lapses.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use clients_domain::ports::{ClaimedEmail, Outbox, StoreError};
use clients_domain::{Delivery, OutboxMessageId};
use sea_orm::{ConnectionTrait as _, DbBackend, EntityTrait as _, Value};
use uuid::Uuid;

use crate::Store;
use crate::entities::outbox_message;
use crate::errors::Failure;
use crate::mapping::{SEALED_TOKEN, outbox_from, ts};
use crate::tx::{TxError, marks};

/// Longest error text kept per message.
const MAX_ERROR_CHARS: usize = 1_000;

/// Of the `done` messages, the one that is its request's newest email, joined to that
/// request: only the newest email's outcome moves a request's delivery state. Found per
/// request through `email_outbox_request`; an anti-join (`NOT EXISTS` a newer one) let
/// PostgreSQL hash the whole outbox instead, a cost growing with every email ever sent.
const NEWEST_OF_DONE: &str = "WHERE access_requests.id = done.request_id \
    AND done.id = (SELECT o.id FROM email_outbox o WHERE o.request_id = done.request_id \
    ORDER BY o.created_at DESC, o.id DESC LIMIT 1)";

fn clip(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// A final outcome of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Final {
    Sent,
    Failed,
}

impl Store {
    /// The payload with the sealed grant token removed, as an SQL expression.
    fn erased_payload(&self) -> String {
        match self.backend() {
            DbBackend::Postgres => format!("payload - '{SEALED_TOKEN}'"),
            _ => format!("json_remove(payload, '$.{SEALED_TOKEN}')"),
        }
    }

    async fn claim_attempt(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease: TimeDelta,
    ) -> Result<Vec<outbox_message::Model>, TxError<()>> {
        let due = format!(
            "SELECT id FROM email_outbox WHERE state = 'pending' AND next_attempt_at <= $2 \
             AND (claimed_until IS NULL OR claimed_until <= $2) ORDER BY next_attempt_at, id LIMIT {limit}"
        );
        let sql = if self.backend() == DbBackend::Postgres {
            // The rows are picked once, by a materialized `WITH` query. As an `IN (…)`
            // subquery the planner may run it again for the same UPDATE, and each run
            // skips the rows the earlier ones locked: one claim took hundreds of messages
            // more than its limit, seconds a round, once a backlog had built up
            // (`cargo xtask bench`, round 16). The limit is a literal (an integer), so
            // that the generic plan knows how few rows to expect.
            format!(
                "WITH due AS MATERIALIZED ({due} FOR UPDATE SKIP LOCKED) \
                 UPDATE email_outbox SET claimed_until = $1, attempts = email_outbox.attempts + 1 \
                 FROM due WHERE email_outbox.id = due.id RETURNING email_outbox.*"
            )
        } else {
            format!(
                "UPDATE email_outbox SET claimed_until = $1, attempts = attempts + 1 WHERE id IN ({due}) RETURNING *"
            )
        };
        let values: [Value; 2] = [ts(now + lease).into(), ts(now).into()];
        // SQLite: a write outside the writer turn would take the lock from under the
        // turn's next transaction, which then sleeps in SQLite's busy handler.
        let _turn = self.write_turn().await?;
        Ok(outbox_message::Entity::find().from_raw_sql(self.stmt(sql, values)).all(self.write_db()).await?)
    }

    /// Records the final outcome of messages `ids`, erases their sealed tokens, and
    /// moves each one's request's delivery state when it is the newest email for that
    /// request (an older email's outcome must not overwrite what a resend queued
    /// since). Two statements, whatever the number of messages.
    async fn finish_attempt(
        &self,
        ids: &[OutboxMessageId],
        outcome: Final,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), TxError<()>> {
        let (state, sent_at): (&str, Option<DateTime<Utc>>) = match outcome {
            Final::Sent => ("sent", Some(ts(at))),
            Final::Failed => ("failed", None),
        };
        let delivery = match outcome {
            Final::Sent => Delivery::Sent,
            Final::Failed => Delivery::Failed,
        };
        // Its parameters from `$first` on.
        let finish = |first: usize, returning: &str| {
            format!(
                "UPDATE email_outbox SET state = ${first}, sent_at = ${}, last_error = COALESCE(${}, last_error), \
                 claimed_until = NULL, payload = {} WHERE id IN ({}) AND state = 'pending'{returning}",
                first + 1,
                first + 2,
                self.erased_payload(),
                marks(first + 3, ids.len())
            )
        };
        let mut values: Vec<Value> = vec![state.into(), sent_at.into(), error.map(clip).into()];
        values.extend(ids.iter().map(|id| Value::from(id.as_uuid())));
        if self.backend() == DbBackend::Sqlite {
            // No `RETURNING`: each row it returns crosses from the connection's thread
            // to the writer's, a wake-up each. The requests are moved first, from the
            // messages still pending; the single writer keeps both statements in step.
            // The row takes its new list version in this same write; left to the stamp
            // trigger (migration 10), each row would be written a second time. Both
            // statements go as one text: one hand-off to the connection's thread (see
            // `tx::Script`; numbered parameters index the values of the whole text).
            let sql = format!(
                "UPDATE access_requests SET delivery = $1, updated_at = $2, \
                 list_version = (SELECT max(v.list_version) FROM access_requests v \
                 WHERE v.agency_id = access_requests.agency_id) + 1 \
                 FROM (SELECT o.request_id, o.id FROM email_outbox o WHERE o.id IN ({}) \
                 AND o.state = 'pending' AND o.request_id IS NOT NULL) AS done {NEWEST_OF_DONE}",
                marks(3, ids.len())
            );
            let mut moved: Vec<Value> = vec![delivery.as_str().into(), ts(at).into()];
            moved.extend(ids.iter().map(|id| Value::from(id.as_uuid())));
            let both = format!("{sql};\n{}", finish(moved.len() + 1, ""));
            moved.append(&mut values);
            return Ok(self.in_write_transaction(self.stmt(both, moved)).await?);
        }
        let tx = self.begin_write().await?;
        let mut done: Vec<Value> = vec![];
        for row in tx.query_all_raw(self.stmt(finish(1, " RETURNING id, request_id"), values)).await? {
            if let Some(request) = row.try_get::<Option<Uuid>>("", "request_id")? {
                let id: Uuid = row.try_get("", "id")?;
                done.extend([request.into(), id.into()]);
            }
        }
        if !done.is_empty() {
            let rows: Vec<String> = (0..done.len() / 2).map(|k| format!("(${}, ${})", 2 * k + 3, 2 * k + 4)).collect();
            // The BEFORE trigger (migration 10) sets the row's list version within the
            // write.
            let sql = format!(
                "WITH done (request_id, id) AS (VALUES {}) \
                 UPDATE access_requests SET delivery = $1, updated_at = $2 FROM done {NEWEST_OF_DONE}",
                rows.join(", ")
            );
            let mut values: Vec<Value> = vec![delivery.as_str().into(), ts(at).into()];
            values.append(&mut done);
            tx.execute_raw(self.stmt(sql, values)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn retry_attempt(
        &self,
        id: OutboxMessageId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), TxError<()>> {
        let sql = "UPDATE email_outbox SET next_attempt_at = $1, claimed_until = NULL, last_error = $2 \
            WHERE id = $3 AND state = 'pending'";
        let values: [Value; 3] = [ts(next_attempt_at).into(), clip(error).into(), id.as_uuid().into()];
        let _turn = self.write_turn().await?;
        self.write_db().execute_raw(self.stmt(sql, values)).await?;
        Ok(())
    }
}

fn store_error(e: TxError<()>) -> StoreError {
    match e {
        TxError::Db(f) => f.into_store(),
        TxError::Refused(()) => StoreError::Internal("outbox write refused".to_owned()),
    }
}

#[async_trait]
impl Outbox for Store {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease: TimeDelta,
    ) -> Result<Vec<ClaimedEmail>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        // This process's own new emails first, claimed as they were written (see
        // `handoff`); then the table, when the queue leaves room and it is time.
        let taken = self.take_handed_off(now, usize::try_from(limit).unwrap_or(usize::MAX));
        let mut claimed: Vec<ClaimedEmail> =
            taken.emails.into_iter().map(|email| ClaimedEmail { email, attempts: 0 }).collect();
        if !taken.claim_table {
            return Ok(claimed);
        }
        let rest = limit - u32::try_from(claimed.len()).unwrap_or(limit);
        let store = self.clone();
        let rows = self
            .on_writer(async move { store.retrying("claim outbox", || store.claim_attempt(now, rest, lease)).await })
            .await
            .and_then(|r| r.map_err(store_error));
        let mut rows = match rows {
            Ok(rows) => rows,
            // The queue's emails are claimed already: send them; the table waits for
            // the next round.
            Err(e) if !claimed.is_empty() => {
                tracing::warn!(error = %e, "claiming from the outbox failed; sending the handed-off emails");
                return Ok(claimed);
            }
            Err(e) => return Err(e),
        };
        self.table_claimed(rows.len() >= usize::try_from(rest).unwrap_or(usize::MAX));
        rows.sort_by_key(|r| (r.next_attempt_at, r.id));
        claimed.reserve(rows.len());
        for row in &rows {
            match outbox_from(row, &self.inner.outbox_key) {
                Ok(email) => {
                    claimed.push(ClaimedEmail { email, attempts: u32::try_from(row.attempts - 1).unwrap_or(0) })
                }
                Err(Failure::Internal(why)) => {
                    // A message no worker can render (wrong outbox key, corrupt
                    // payload) would be claimed forever: fail it, visibly.
                    tracing::error!(id = %row.id, %why, "undeliverable outbox message");
                    let id = OutboxMessageId::from_uuid(row.id);
                    self.mark_failed(id, now, &format!("undeliverable: {why}")).await?;
                }
                Err(other) => return Err(other.into_store()),
            }
        }
        Ok(claimed)
    }

    async fn mark_sent(&self, ids: &[OutboxMessageId], at: DateTime<Utc>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let (store, ids) = (self.clone(), ids.to_vec());
        self.on_writer(async move {
            store.retrying("outbox sent", || store.finish_attempt(&ids, Final::Sent, at, None)).await
        })
        .await?
        .map_err(store_error)
    }

    async fn mark_retry(
        &self,
        id: OutboxMessageId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.retrying("outbox retry", || self.retry_attempt(id, next_attempt_at, error)).await.map_err(store_error)
    }

    async fn mark_failed(&self, id: OutboxMessageId, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let ids = [id];
        self.retrying("outbox failed", || self.finish_attempt(&ids, Final::Failed, at, Some(error)))
            .await
            .map_err(store_error)
    }
}
