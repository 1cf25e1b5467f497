//! `Idempotency-Key` records of POSTs that create something or send email.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row per (account, key). `request_fingerprint` tells a replay from a different
/// request reusing the key; the response is NULL while the first request is running.
const IDEMPOTENCY_KEYS: &str = "CREATE TABLE idempotency_keys (
    account_id {uuid} NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    request_fingerprint TEXT NOT NULL,
    response_status INTEGER NULL,
    response_body {bytes} NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (account_id, key),
    CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_status CHECK (response_status IS NULL OR response_status BETWEEN 100 AND 599),
    CONSTRAINT idempotency_keys_response CHECK ((response_status IS NULL) = (response_body IS NULL))
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(
            manager,
            &[
                IDEMPOTENCY_KEYS,
                // Pruning old keys.
                "CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::drop_tables(manager, &["idempotency_keys"]).await
    }
}
