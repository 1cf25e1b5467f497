//! What an account holds besides team and websites: its settings document and the
//! invoices the billing system records.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One settings document per account, bounded in size.
const ACCOUNT_SETTINGS: &str = "CREATE TABLE account_settings (
    account_id {uuid} NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    document TEXT NOT NULL,
    updated_at {ts} NOT NULL,
    CONSTRAINT account_settings_size CHECK (length(document) BETWEEN 2 AND 16384)
)";

/// Invoice numbers are unique per account; the index serves the newest-first list.
const INVOICES: &str = "CREATE TABLE invoices (
    id {uuid} NOT NULL PRIMARY KEY,
    account_id {uuid} NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    period_start {ts} NOT NULL,
    period_end {ts} NOT NULL,
    amount_cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    issued_at {ts} NOT NULL,
    CONSTRAINT invoices_account_number_unique UNIQUE (account_id, number),
    CONSTRAINT invoices_amount CHECK (amount_cents >= 0),
    CONSTRAINT invoices_currency CHECK (length(currency) = 3 AND currency = upper(currency)),
    CONSTRAINT invoices_period CHECK (period_end >= period_start),
    CONSTRAINT invoices_status CHECK (status IN ('open', 'paid', 'void'))
)";

const INVOICES_BY_ACCOUNT: &str =
    "CREATE INDEX invoices_account_issued ON invoices (account_id, issued_at DESC, id DESC)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(manager, &[ACCOUNT_SETTINGS, INVOICES, INVOICES_BY_ACCOUNT]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::drop_tables(manager, &["invoices", "account_settings"]).await
    }
}
