//! Access requests (with their grant link, send counters and delivery state) and the
//! team memberships approvals create.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every field of the domain's `AccessRequestRecord`. The CHECKs repeat the
/// invariants `AccessRequest::restore` verifies, so a bad write fails at once rather
/// than on the next read: a grant link exists exactly while `requested`, and a client
/// account is recorded exactly for approved, revoked and left requests.
const ACCESS_REQUESTS: &str = "CREATE TABLE access_requests (
    id {uuid} NOT NULL PRIMARY KEY,
    agency_id {uuid} NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    token_hash {bytes} NULL,
    grant_issued_at {ts} NULL,
    grant_expires_at {ts} NULL,
    client_id {uuid} NULL REFERENCES accounts (id) ON DELETE CASCADE,
    sends INTEGER NOT NULL,
    last_sent_at {ts} NOT NULL,
    resend_window_started_at {ts} NULL,
    resend_window_count INTEGER NOT NULL DEFAULT 0,
    delivery TEXT NOT NULL,
    slot_blocked_at {ts} NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    CONSTRAINT access_requests_email_lower CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    CONSTRAINT access_requests_role CHECK (role IN ('biller', 'developer', 'admin')),
    CONSTRAINT access_requests_state CHECK (
        state IN ('requested', 'approved', 'declined', 'removed', 'revoked', 'left')
    ),
    CONSTRAINT access_requests_delivery CHECK (delivery IN ('queued', 'sent', 'failed')),
    CONSTRAINT access_requests_grant_fields CHECK (
        (token_hash IS NULL AND grant_issued_at IS NULL AND grant_expires_at IS NULL)
        OR (token_hash IS NOT NULL AND grant_issued_at IS NOT NULL AND grant_expires_at IS NOT NULL
            AND length(token_hash) = 32)
    ),
    CONSTRAINT access_requests_grant_while_requested CHECK (
        (state = 'requested' AND token_hash IS NOT NULL) OR (state <> 'requested' AND token_hash IS NULL)
    ),
    CONSTRAINT access_requests_client_once_approved CHECK (
        (state IN ('approved', 'revoked', 'left') AND client_id IS NOT NULL)
        OR (state NOT IN ('approved', 'revoked', 'left') AND client_id IS NULL)
    ),
    CONSTRAINT access_requests_sends CHECK (sends >= 1 AND resend_window_count >= 0)
)";

/// A membership of an agency in a client's team. The owner is never a member, and an
/// agency is a member of one team once; each approval creates one membership.
const MEMBERSHIPS: &str = "CREATE TABLE memberships (
    id {uuid} NOT NULL PRIMARY KEY,
    client_id {uuid} NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    agency_id {uuid} NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    origin_request_id {uuid} NOT NULL REFERENCES access_requests (id) ON DELETE CASCADE,
    since {ts} NOT NULL,
    CONSTRAINT memberships_client_agency_unique UNIQUE (client_id, agency_id),
    CONSTRAINT memberships_origin_unique UNIQUE (origin_request_id),
    CONSTRAINT memberships_not_owner CHECK (client_id <> agency_id),
    CONSTRAINT memberships_email_lower CHECK (email = lower(email)),
    CONSTRAINT memberships_role CHECK (role IN ('biller', 'developer', 'admin'))
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(
            manager,
            &[
                ACCESS_REQUESTS,
                // Rule 2: one requested-or-approved request per agency and email. The
                // adapter also checks inside its transaction; this is the last word.
                "CREATE UNIQUE INDEX access_requests_open_unique ON access_requests (agency_id, email)
                    WHERE state IN ('requested', 'approved')",
                // Grant links are looked up by hash; only the newest link is stored.
                "CREATE UNIQUE INDEX access_requests_token_hash ON access_requests (token_hash)
                    WHERE token_hash IS NOT NULL",
                // The agency's list: newest first, keyset-paginated on (created_at, id).
                "CREATE INDEX access_requests_agency_list ON access_requests (agency_id, created_at DESC, id DESC)",
                // Pending requests to an email (the approval pop-up) and the requests an
                // address got lately (the per-recipient cap).
                "CREATE INDEX access_requests_email ON access_requests (email, created_at)",
                "CREATE INDEX access_requests_client ON access_requests (client_id)",
                MEMBERSHIPS,
                "CREATE INDEX memberships_agency ON memberships (agency_id)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::drop_tables(manager, &["memberships", "access_requests"]).await
    }
}
