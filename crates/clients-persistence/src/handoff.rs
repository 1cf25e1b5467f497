//! New emails handed to this process's delivery worker in memory, already claimed.
//!
//! The outbox's claim is a write of every message it hands out (its lease and attempt
//! count), one more statement and commit per delivery round on the one write path. For
//! the emails this process has just written, nothing needs to be found: once the
//! process runs a delivery worker ([`Store::deliver_new_emails_here`]), each email is
//! inserted already claimed (`claimed_until` = its creation + the worker's lease,
//! `attempts` = 1), exactly as the claim would have left it, and after the commit it
//! joins an in-memory queue that [`Store::claim_due`] takes from first.
//!
//! What the database holds is the same as after an ordinary claim, so every guarantee
//! stays: another worker (another instance, or this one after a restart) skips the
//! message while its lease holds and takes it once the lease lapses, so a process that
//! dies with emails in its queue loses none; delivery stays at least once. A process
//! that stops gracefully gives its queue's claims back
//! ([`Store::release_handed_off`]), so those emails do not wait for their lease.
//!
//! Two bounds keep the queue honest. An email is claimed in memory only while at least
//! half its lease is left, so a send started from the queue has as long to finish as
//! one claimed from the table would (older entries are dropped and wait for their
//! lease to lapse). And while [`QUEUE_CAP`] emails wait, new ones are written unclaimed
//! and the table's claim finds them: a slow mailer makes the queue fall back to the
//! ordinary path, not grow.
//!
//! The table is still claimed from, for retries, for messages written without a claim
//! and for those another process left: at once when the queue has nothing, and
//! otherwise when the last claim found a full round (a backlog) or at least
//! [`TABLE_CLAIM_EVERY`] ago.

use std::collections::VecDeque;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use clients_domain::OutgoingEmail;
use clients_domain::ports::StoreError;
use sea_orm::{ConnectionTrait as _, Value};

use crate::Store;
use crate::errors::Failure;
use crate::tx::marks;

/// Most emails waiting in the queue; beyond, new emails are written unclaimed.
pub(crate) const QUEUE_CAP: usize = 2_048;

/// How long the table's claim may wait while the queue supplies the rounds.
pub(crate) const TABLE_CLAIM_EVERY: Duration = Duration::from_secs(1);

/// The queue and how it is fed.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    /// The delivery worker's lease; `None` until a worker runs in this process.
    lease: Option<TimeDelta>,
    /// Committed, claimed emails and the end of each one's lease, oldest first.
    ready: VecDeque<(OutgoingEmail, DateTime<Utc>)>,
    /// When the table was last claimed from, and whether that claim found a full round.
    last_table_claim: Option<(Instant, bool)>,
}

/// What [`Store::take_handed_off`] found.
pub(crate) struct Taken {
    /// Claimed emails, oldest first.
    pub(crate) emails: Vec<OutgoingEmail>,
    /// Whether the table should be claimed from too this round.
    pub(crate) claim_table: bool,
}

impl Store {
    /// Declares that this process runs a delivery worker with `lease`: from now on, the
    /// emails it writes are claimed as they are written and handed to that worker in
    /// memory (see the module). Without it, every email waits for the table's claim.
    pub fn deliver_new_emails_here(&self, lease: TimeDelta) {
        self.handoff().lease = Some(lease);
    }

    fn handoff(&self) -> std::sync::MutexGuard<'_, Handoff> {
        self.inner.handoff.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lease to write new emails with, when they are to be handed off.
    pub(crate) fn handoff_lease(&self) -> Option<TimeDelta> {
        let h = self.handoff();
        h.lease.filter(|_| h.ready.len() < QUEUE_CAP)
    }

    /// Queues emails written claimed by a transaction that has committed.
    pub(crate) fn hand_off(&self, emails: Vec<(OutgoingEmail, DateTime<Utc>)>) {
        if !emails.is_empty() {
            self.handoff().ready.extend(emails);
        }
    }

    /// Up to `limit` queued emails with at least half their lease left at `now` (older
    /// ones are dropped: their lease lapses and the table's claim takes them).
    pub(crate) fn take_handed_off(&self, now: DateTime<Utc>, limit: usize) -> Taken {
        let mut h = self.handoff();
        let half = h.lease.map_or(TimeDelta::zero(), |l| l / 2);
        let mut emails = Vec::with_capacity(limit.min(h.ready.len()));
        let mut dropped = 0_usize;
        while emails.len() < limit {
            let Some((email, until)) = h.ready.pop_front() else { break };
            if until - now >= half {
                emails.push(email);
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            tracing::warn!(dropped, "handed-off emails waited past half their lease; the outbox's claim takes them");
        }
        let claim_table = emails.len() < limit
            && match h.last_table_claim {
                None => true,
                Some((at, full)) => emails.is_empty() || full || at.elapsed() >= TABLE_CLAIM_EVERY,
            };
        Taken { emails, claim_table }
    }

    /// A graceful stop: gives the queue's claims back (`claimed_until` cleared, the
    /// attempt uncounted), so that any worker sends those emails at once rather than
    /// after their lease, and writes no more emails claimed. The number given back.
    ///
    /// # Errors
    /// [`StoreError`] when the outbox cannot be written (the claims then lapse with
    /// their lease, as after a crash).
    pub async fn release_handed_off(&self) -> Result<usize, StoreError> {
        let ids: Vec<uuid::Uuid> = {
            let mut h = self.handoff();
            h.lease = None;
            h.ready.drain(..).map(|(email, _)| email.id.as_uuid()).collect()
        };
        if ids.is_empty() {
            return Ok(0);
        }
        let turn = self.write_turn().await.map_err(|e| Failure::from(e).into_store())?;
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE email_outbox SET claimed_until = NULL, attempts = attempts - 1 \
                 WHERE id IN ({}) AND state = 'pending' AND attempts > 0",
                marks(1, chunk.len())
            );
            self.write_db()
                .execute_raw(self.stmt(sql, chunk.iter().map(|id| Value::from(*id))))
                .await
                .map_err(|e| Failure::from(e).into_store())?;
        }
        drop(turn);
        Ok(ids.len())
    }

    /// Records a claim from the table: whether it found as many messages as it asked.
    pub(crate) fn table_claimed(&self, full: bool) {
        self.handoff().last_table_claim = Some((Instant::now(), full));
    }
}

#[cfg(test)]
mod tests {
    use clients_domain::{Email, Notification, OutboxMessageId};

    use super::*;
    use crate::{OutboxKey, StoreOptions};

    fn email(n: u128, created_at: DateTime<Utc>) -> OutgoingEmail {
        OutgoingEmail {
            id: OutboxMessageId::from_uuid(uuid::Uuid::from_u128(n)),
            to: Email::parse("agency@example.com").unwrap(),
            notification: Notification::RequestDeclined { client_email: Email::parse("c@example.com").unwrap() },
            request: None,
            created_at,
        }
    }

    /// The queue feeds rounds oldest first; the table is claimed from at once when the
    /// queue is empty, after a full claim (a backlog), or every `TABLE_CLAIM_EVERY`,
    /// never for a round the queue fills; entries past half their lease are dropped;
    /// a full queue turns the claim-on-write off.
    #[tokio::test]
    async fn the_queue_feeds_rounds_and_leaves_the_table_its_turn() {
        let store = Store::connect("sqlite::memory:", StoreOptions::new(OutboxKey::from_bytes([7; 32]))).await.unwrap();
        let now = DateTime::UNIX_EPOCH + TimeDelta::days(1);
        let lease = TimeDelta::seconds(60);
        assert_eq!(store.handoff_lease(), None, "off until a worker runs here");
        store.deliver_new_emails_here(lease);
        assert_eq!(store.handoff_lease(), Some(lease));

        let ids = |t: &Taken| t.emails.iter().map(|e| e.id.as_uuid().as_u128()).collect::<Vec<_>>();
        store.hand_off((1..=3).map(|n| (email(n, now), now + lease)).collect());
        let first = store.take_handed_off(now, 2);
        assert_eq!((ids(&first), first.claim_table), (vec![1, 2], false), "a full round from the queue");
        let second = store.take_handed_off(now, 2);
        assert_eq!((ids(&second), second.claim_table), (vec![3], true), "never claimed from the table yet");
        store.table_claimed(false);
        store.hand_off(vec![(email(4, now), now + lease)]);
        let third = store.take_handed_off(now, 2);
        assert_eq!((ids(&third), third.claim_table), (vec![4], false), "claimed from the table just now");
        assert!(store.take_handed_off(now, 2).claim_table, "an empty queue: the table at once");
        store.table_claimed(true);
        store.hand_off(vec![(email(5, now), now + lease)]);
        assert!(store.take_handed_off(now, 2).claim_table, "a backlog in the table: every round");

        store.hand_off(vec![
            (email(6, now), now + lease),
            (email(7, now + TimeDelta::seconds(5)), now + lease + TimeDelta::seconds(5)),
        ]);
        let late = store.take_handed_off(now + TimeDelta::seconds(32), 2);
        assert_eq!(ids(&late), vec![7], "28 s of 60 left: dropped; 33 s left: sent");

        store.hand_off((0..QUEUE_CAP as u128).map(|n| (email(100 + n, now), now + lease)).collect());
        assert_eq!(store.handoff_lease(), None, "a full queue: new emails go through the table's claim");
    }
}
