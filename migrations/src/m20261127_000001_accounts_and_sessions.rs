//! Accounts (with their website counters) and bearer sessions.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Accounts. `email` is stored lower-case and the CHECK refuses anything else, so the
/// plain UNIQUE constraint is case-insensitive identity. The three website counters
/// are kept in step with `websites` by the adapter, in the same transaction, so the
/// agency's list derives each row's status without reading the client's websites.
const ACCOUNTS: &str = "CREATE TABLE accounts (
    id {uuid} NOT NULL PRIMARY KEY,
    email TEXT NOT NULL,
    email_verified {bool} NOT NULL DEFAULT FALSE,
    name TEXT NULL,
    plan TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at {ts} NOT NULL,
    websites_total INTEGER NOT NULL DEFAULT 0,
    websites_major_issue INTEGER NOT NULL DEFAULT 0,
    websites_not_connected INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT accounts_email_unique UNIQUE (email),
    CONSTRAINT accounts_email_lower CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    CONSTRAINT accounts_name_length CHECK (name IS NULL OR length(name) BETWEEN 1 AND 100),
    CONSTRAINT accounts_plan CHECK (plan IN ('free', 'basic', 'plus', 'pro', 'scale')),
    CONSTRAINT accounts_website_counters CHECK (
        websites_total >= 0
        AND websites_major_issue BETWEEN 0 AND websites_total
        AND websites_not_connected BETWEEN 0 AND websites_total
    )
)";

/// Sessions: only the SHA-256 of the bearer token is stored. A "Log in as" session
/// names the client account and the role it acts with; a personal one names neither.
const SESSIONS: &str = "CREATE TABLE sessions (
    id {uuid} NOT NULL PRIMARY KEY,
    token_hash {bytes} NOT NULL,
    account_id {uuid} NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    client_id {uuid} NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role TEXT NULL,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    CONSTRAINT sessions_token_hash_unique UNIQUE (token_hash),
    CONSTRAINT sessions_token_hash_length CHECK (length(token_hash) = 32),
    CONSTRAINT sessions_kind CHECK (kind IN ('personal', 'impersonation')),
    CONSTRAINT sessions_role CHECK (role IS NULL OR role IN ('biller', 'developer', 'admin')),
    CONSTRAINT sessions_kind_fields CHECK (
        (kind = 'personal' AND client_id IS NULL AND role IS NULL)
        OR (kind = 'impersonation' AND client_id IS NOT NULL AND role IS NOT NULL)
    ),
    CONSTRAINT sessions_expiry CHECK (expires_at > created_at)
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(
            manager,
            &[
                ACCOUNTS,
                SESSIONS,
                "CREATE INDEX sessions_account ON sessions (account_id)",
                "CREATE INDEX sessions_client ON sessions (client_id)",
                // Finding expired sessions to prune.
                "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::drop_tables(manager, &["sessions", "accounts"]).await
    }
}
