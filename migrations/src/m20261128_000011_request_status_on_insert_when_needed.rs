//! SQLite: a new request row refreshes its stored status only when the status it was
//! written with can be wrong.
//!
//! Migration 8's insert trigger brought every new row's `status` up to date with an
//! UPDATE of the row, which on SQLite also fires the list-version stamp a second time
//! (migration 10): two extra writes of the row for every new request, though a request
//! that is not approved always shows `no_data`, the column's default. The trigger now
//! runs only for a row that is approved or was written with another status, which
//! keeps the column true for any insert, whoever writes it. PostgreSQL sets the status
//! in a BEFORE trigger, within the insert itself, and is unchanged.

use sea_orm_migration::prelude::*;

use crate::ddl;
use crate::m20261128_000008_list_status_and_search::status_of;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Replaces the insert trigger with one run `when` the condition holds (always, when
/// empty). One call, so one connection: SQLite migrations run outside a transaction on
/// the pool, and a connection that did not see the DROP would still find the trigger
/// in its cached schema and refuse the CREATE.
fn replace_insert_trigger(when: &str) -> String {
    format!(
        "DROP TRIGGER IF EXISTS access_requests_status_insert; \
         CREATE TRIGGER access_requests_status_insert AFTER INSERT ON access_requests {when} BEGIN \
         UPDATE access_requests SET status = {} WHERE id = NEW.id; END",
        status_of("access_requests.state", "access_requests.email")
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let replace = replace_insert_trigger("WHEN NEW.state = 'approved' OR NEW.status <> 'no_data'");
        ddl::run_for_backend(manager, &[], &[&replace]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run_for_backend(manager, &[], &[&replace_insert_trigger("")]).await
    }
}
