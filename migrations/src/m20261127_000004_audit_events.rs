//! The audit log.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row per state change. No foreign keys: the log outlives what it mentions.
/// `kind` is the event's stable name; the fields that vary by kind go in `details`.
const AUDIT_EVENTS: &str = "CREATE TABLE audit_events (
    id {uuid} NOT NULL PRIMARY KEY,
    at {ts} NOT NULL,
    actor_id {uuid} NULL,
    via_session_id {uuid} NULL,
    client_id {uuid} NULL,
    client_email TEXT NULL,
    agency_id {uuid} NULL,
    request_id {uuid} NULL,
    kind TEXT NOT NULL,
    details {json} NOT NULL,
    CONSTRAINT audit_events_kind CHECK (kind IN (
        'access_requested', 'request_resent', 'request_removed', 'request_approved', 'request_declined',
        'role_changed', 'member_removed', 'agency_left', 'impersonation_started', 'plan_changed', 'email_verified'
    )),
    CONSTRAINT audit_events_client_email_lower CHECK (client_email IS NULL OR client_email = lower(client_email))
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(
            manager,
            &[
                AUDIT_EVENTS,
                // A client's log, newest first: by account, and by email for what
                // happened before the client had an account.
                "CREATE INDEX audit_events_client ON audit_events (client_id, at DESC, id DESC)",
                "CREATE INDEX audit_events_client_email ON audit_events (client_email, at DESC, id DESC)",
                "CREATE INDEX audit_events_agency ON audit_events (agency_id, at DESC, id DESC)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::drop_tables(manager, &["audit_events"]).await
    }
}
