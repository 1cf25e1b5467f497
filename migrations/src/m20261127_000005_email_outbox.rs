//! The transactional email outbox.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Messages are inserted in the same transaction as the change that causes them and
/// delivered by workers. A claim sets `claimed_until` (a lease: a crashed worker's
/// claim lapses) and counts the attempt. `payload` never holds a raw grant token: the
/// adapter seals it, and erases the sealed copy once the message is sent or failed.
const EMAIL_OUTBOX: &str = "CREATE TABLE email_outbox (
    id {uuid} NOT NULL PRIMARY KEY,
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    payload {json} NOT NULL,
    request_id {uuid} NULL REFERENCES access_requests (id) ON DELETE SET NULL,
    created_at {ts} NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {ts} NOT NULL,
    claimed_until {ts} NULL,
    sent_at {ts} NULL,
    last_error TEXT NULL,
    CONSTRAINT email_outbox_state CHECK (state IN ('pending', 'sent', 'failed')),
    CONSTRAINT email_outbox_template CHECK (template IN (
        'access_requested', 'access_request_resent', 'request_approved', 'request_declined', 'access_revoked',
        'agency_left', 'impersonation_started'
    )),
    CONSTRAINT email_outbox_attempts CHECK (attempts >= 0),
    CONSTRAINT email_outbox_sent_at CHECK ((state = 'sent') = (sent_at IS NOT NULL))
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(
            manager,
            &[
                EMAIL_OUTBOX,
                // What workers claim: pending messages by due time.
                "CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at, id) WHERE state = 'pending'",
                // The newest email of a request decides its delivery state.
                "CREATE INDEX email_outbox_request ON email_outbox (request_id, created_at DESC, id DESC)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::drop_tables(manager, &["email_outbox"]).await
    }
}
