//! Websites of client accounts and the health internal services report.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Domains are stored normalised (lower-case), so `UNIQUE (account_id, domain)` is the
/// duplicate check, and its index serves the per-account list ordered by domain.
const WEBSITES: &str = "CREATE TABLE websites (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    connected {bool} NOT NULL,
    health TEXT NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    CONSTRAINT websites_account_domain_unique UNIQUE (account_id, domain),
    CONSTRAINT websites_domain_lower CHECK (domain = lower(domain) AND length(domain) BETWEEN 3 AND 253),
    CONSTRAINT websites_health CHECK (health IN ('ok', 'warning', 'major_issue'))
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(manager, &[WEBSITES]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::drop_tables(manager, &["websites"]).await
    }
}
