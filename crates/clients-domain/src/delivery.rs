//! Delivering the email outbox: the mailer port and the retry policy the delivery
//! worker follows (exponential backoff with jitter, then failure).

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::OutgoingEmail;
use crate::ports::{Outbox, StoreError};

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying: throttling, 5xx, time-outs, connection errors.
    #[error("transient: {0}")]
    Transient(String),
    /// Never worth retrying: rejected message, unverified sender, suspended account,
    /// bad address.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Sends one email (SES in production, `.eml` files by default).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Renders and sends `email`. Called at least once per message; the message id is
    /// stable across retries so a provider can de-duplicate.
    ///
    /// # Errors
    /// [`DeliveryError`], classified.
    async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError>;
}

/// How the worker retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Messages claimed per round.
    pub batch: u32,
    /// How long a claim lasts before another worker may take the message (a crashed
    /// worker's messages are delivered after this).
    pub lease: TimeDelta,
    /// Attempts before a transient failure becomes final.
    pub max_attempts: u32,
    /// First retry delay; doubles with every attempt.
    pub base_backoff: TimeDelta,
    /// Longest retry delay.
    pub max_backoff: TimeDelta,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            batch: 128,
            lease: TimeDelta::seconds(60),
            max_attempts: 8,
            base_backoff: TimeDelta::seconds(2),
            max_backoff: TimeDelta::minutes(15),
        }
    }
}

impl DeliveryPolicy {
    /// Delay before the next try after `attempt` (1-based) failed: `base * 2^(attempt-1)`,
    /// capped, then scaled by `jitter` in `[0.5, 1.0]` so retries of many messages spread.
    ///
    /// ```
    /// use chrono::TimeDelta;
    /// use clients_domain::DeliveryPolicy;
    /// let p = DeliveryPolicy::default();
    /// assert_eq!(p.backoff(1, 1.0), TimeDelta::seconds(2));
    /// assert_eq!(p.backoff(3, 1.0), TimeDelta::seconds(8));
    /// assert_eq!(p.backoff(3, 0.5), TimeDelta::seconds(4));
    /// assert_eq!(p.backoff(30, 1.0), TimeDelta::minutes(15));
    /// ```
    #[must_use]
    pub fn backoff(&self, attempt: u32, jitter: f64) -> TimeDelta {
        let exp = attempt.saturating_sub(1).min(30);
        let raw = self.base_backoff.checked_mul(1 << exp).unwrap_or(self.max_backoff).min(self.max_backoff);
        let jitter = jitter.clamp(0.5, 1.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let ms = (raw.num_milliseconds() as f64 * jitter) as i64;
        TimeDelta::milliseconds(ms)
    }
}

/// What one delivery round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryReport {
    /// Accepted by the provider.
    pub sent: u32,
    /// Scheduled for another try.
    pub retried: u32,
    /// Failed for good.
    pub failed: u32,
}

/// One round: claims due messages and sends each, recording the outcome: retries and
/// failures as they happen, the sent messages together once the round has sent them
/// all (a crash before that sends them again after their lease: delivery is at least
/// once, and each message keeps its id for the provider to de-duplicate).
/// `jitter` yields a number in `[0.5, 1.0]` per retry.
///
/// # Errors
/// [`StoreError`] when the outbox cannot be read or updated (the claim lapses and the
/// message is retried by a later round).
pub async fn deliver_due<O: Outbox, M: Mailer>(
    outbox: &O,
    mailer: &M,
    now: DateTime<Utc>,
    policy: &DeliveryPolicy,
    mut jitter: impl FnMut() -> f64 + Send,
) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    let mut sent = vec![];
    for claimed in outbox.claim_due(now, policy.batch, policy.lease).await? {
        let attempt = claimed.attempts + 1;
        match mailer.send(&claimed.email).await {
            Ok(()) => {
                sent.push(claimed.email.id);
                report.sent += 1;
            }
            Err(DeliveryError::Transient(why)) if attempt < policy.max_attempts => {
                let next = now + policy.backoff(attempt, jitter());
                outbox.mark_retry(claimed.email.id, next, &why).await?;
                report.retried += 1;
            }
            Err(DeliveryError::Transient(why) | DeliveryError::Permanent(why)) => {
                outbox.mark_failed(claimed.email.id, now, &why).await?;
                report.failed += 1;
            }
        }
    }
    if !sent.is_empty() {
        outbox.mark_sent(&sent, now).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::ports::{ClaimedEmail, MockOutbox};
    use crate::{Email, Notification, OutboxMessageId};

    fn claimed(n: u128, attempts: u32) -> ClaimedEmail {
        ClaimedEmail {
            email: OutgoingEmail {
                id: OutboxMessageId::from_uuid(Uuid::from_u128(n)),
                to: Email::parse("agency@example.com").unwrap(),
                notification: Notification::RequestDeclined { client_email: Email::parse("c@example.com").unwrap() },
                request: None,
                created_at: DateTime::UNIX_EPOCH,
            },
            attempts,
        }
    }

    #[tokio::test]
    async fn sent_retried_and_failed_messages_are_recorded_as_such() {
        let now = DateTime::UNIX_EPOCH + TimeDelta::days(1);
        let policy = DeliveryPolicy::default();
        let mut outbox = MockOutbox::new();
        outbox
            .expect_claim_due()
            .returning(|_, _, _| Ok(vec![claimed(1, 0), claimed(2, 0), claimed(3, 0), claimed(4, 7), claimed(5, 1)]));
        let id = |n| OutboxMessageId::from_uuid(Uuid::from_u128(n));
        // The round's sent messages are recorded together, once.
        outbox
            .expect_mark_sent()
            .withf(move |ids, at| ids == [id(1), id(5)] && *at == now)
            .times(1)
            .returning(|_, _| Ok(()));
        outbox
            .expect_mark_retry()
            .withf(move |i, next, _| *i == id(2) && *next == now + TimeDelta::seconds(2))
            .times(1)
            .returning(|_, _, _| Ok(()));
        outbox
            .expect_mark_failed()
            .withf(move |i, _, _| *i == id(3) || *i == id(4))
            .times(2)
            .returning(|_, _, _| Ok(()));
        let mut mailer = MockMailer::new();
        mailer.expect_send().returning(|e| match e.id.as_uuid().as_u128() {
            1 | 5 => Ok(()),
            2 | 4 => Err(DeliveryError::Transient("Throttling".into())),
            _ => Err(DeliveryError::Permanent("MessageRejected".into())),
        });
        let report = deliver_due(&outbox, &mailer, now, &policy, || 1.0).await.unwrap();
        // Message 4 had used 7 of 8 attempts: its transient failure is final.
        assert_eq!(report, DeliveryReport { sent: 2, retried: 1, failed: 2 });
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        let p = DeliveryPolicy::default();
        let delays: Vec<_> = (1..=6).map(|a| p.backoff(a, 1.0).num_seconds()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64]);
        assert_eq!(p.backoff(2, 0.0), TimeDelta::seconds(2), "jitter never goes below half");
        assert_eq!(p.backoff(2, 7.0), TimeDelta::seconds(4), "nor above the full delay");
    }
}
