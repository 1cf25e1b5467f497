//! `migration`: the database schema of the Clients feature, as sea-orm-migration
//! migrations that run unchanged on SQLite and PostgreSQL.
//!
//! The schema is written as plain DDL (see [`ddl`]) rather than with the sea-query
//! builder: partial unique indexes, multi-column CHECK constraints and the lower-case
//! email check read more clearly as SQL, and both backends accept the same text once
//! the few column types that differ are substituted.
//!
//! Constraints back the rules so that a bug or a race in the adapter cannot store a
//! state the domain forbids: every enum column has a CHECK, emails are stored
//! lower-case (so `UNIQUE (email)` is case-insensitive identity), an agency has at most
//! one requested-or-approved request per email, and an agency is a member of a team
//! at most once.

pub use sea_orm_migration::prelude::*;

mod ddl;
mod m20261127_000001_accounts_and_sessions;
mod m20261127_000002_access_requests_and_memberships;
mod m20261127_000003_websites;
mod m20261127_000004_audit_events;
mod m20261127_000005_email_outbox;
mod m20261127_000006_idempotency_keys;
mod m20261127_000007_settings_and_invoices;
mod m20261128_000008_list_status_and_search;
mod m20261128_000009_website_counters_in_triggers;
mod m20261128_000010_list_versions;
mod m20261128_000011_request_status_on_insert_when_needed;
mod m20261129_000012_counters_per_statement;

/// Every table this crate creates, in creation order (dropping runs in reverse).
pub const TABLES: [&str; 10] = [
    "accounts",
    "sessions",
    "access_requests",
    "memberships",
    "websites",
    "audit_events",
    "email_outbox",
    "idempotency_keys",
    "account_settings",
    "invoices",
];

/// Runs the migrations (`Migrator::up(&db, None)` brings a database up to date).
#[derive(Debug, Clone, Copy)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_accounts_and_sessions::Migration),
            Box::new(m20261127_000002_access_requests_and_memberships::Migration),
            Box::new(m20261127_000003_websites::Migration),
            Box::new(m20261127_000004_audit_events::Migration),
            Box::new(m20261127_000005_email_outbox::Migration),
            Box::new(m20261127_000006_idempotency_keys::Migration),
            Box::new(m20261127_000007_settings_and_invoices::Migration),
            Box::new(m20261128_000008_list_status_and_search::Migration),
            Box::new(m20261128_000009_website_counters_in_triggers::Migration),
            Box::new(m20261128_000010_list_versions::Migration),
            Box::new(m20261128_000011_request_status_on_insert_when_needed::Migration),
            Box::new(m20261129_000012_counters_per_statement::Migration),
        ]
    }
}
