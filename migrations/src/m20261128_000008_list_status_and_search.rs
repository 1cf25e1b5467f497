//! What keeps the agency's list fast as it grows: each request row carries its derived
//! status (maintained by triggers, indexed with the list's order), and the requested
//! emails have a trigram index for the list's substring search.
//!
//! The status column is a cache of `SharedAccountStatus::derive` over the request's
//! state and its client's website counters; the database keeps it true on every write
//! that changes either (a request's state or email, an account's counters or email),
//! whoever writes. The contract tests hold the column to the domain's function for
//! every status. Search indexes differ per backend: PostgreSQL's `pg_trgm` (a GIN
//! index that `LIKE '%…%'` uses directly), SQLite's FTS5 `trigram` tokenizer (a
//! separate table the list joins by request id). docs/performance.md explains both.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The status of the request row `r` (its `state` and `email` columns), as
/// `SharedAccountStatus::derive` finds it: only an approved request shows its client's
/// websites; then the first match wins.
pub(crate) fn status_of(state: &str, email: &str) -> String {
    format!(
        "CASE WHEN {state} <> 'approved' THEN 'no_data' ELSE COALESCE((SELECT CASE \
         WHEN c.websites_total = 0 THEN 'no_data' \
         WHEN c.websites_major_issue > 0 THEN 'major_issue' \
         WHEN c.websites_not_connected > 0 THEN 'not_connected' \
         ELSE 'all_good' END FROM accounts c WHERE c.email = {email}), 'no_data') END"
    )
}

const ADD_STATUS: &str = "ALTER TABLE access_requests ADD COLUMN status TEXT NOT NULL DEFAULT 'no_data' \
    CONSTRAINT access_requests_status CHECK (status IN ('no_data', 'major_issue', 'not_connected', 'all_good'))";

/// The list filtered by status, in the list's order.
const STATUS_INDEX: &str =
    "CREATE INDEX access_requests_agency_status ON access_requests (agency_id, status, created_at DESC, id DESC)";

/// The account columns a request's status depends on.
pub(crate) const ACCOUNT_COLUMNS: &str = "websites_total, websites_major_issue, websites_not_connected, email";

fn postgres() -> Vec<String> {
    vec![
        ADD_STATUS.to_owned(),
        format!("UPDATE access_requests SET status = {}", status_of("access_requests.state", "access_requests.email")),
        format!(
            "CREATE FUNCTION access_requests_status() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             NEW.status := {}; RETURN NEW; END $$",
            status_of("NEW.state", "NEW.email")
        ),
        "CREATE TRIGGER access_requests_status BEFORE INSERT OR UPDATE OF state, email ON access_requests \
         FOR EACH ROW EXECUTE FUNCTION access_requests_status()"
            .to_owned(),
        format!(
            "CREATE FUNCTION accounts_request_status() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             UPDATE access_requests r SET status = {} WHERE r.state = 'approved' AND (r.email = NEW.email \
             OR (TG_OP = 'UPDATE' AND r.email = OLD.email)); RETURN NULL; END $$",
            status_of("r.state", "r.email")
        ),
        format!(
            "CREATE TRIGGER accounts_request_status AFTER INSERT OR UPDATE OF {ACCOUNT_COLUMNS} ON accounts \
             FOR EACH ROW EXECUTE FUNCTION accounts_request_status()"
        ),
        STATUS_INDEX.to_owned(),
        // Trusted since PostgreSQL 13: a database owner may create it.
        "CREATE EXTENSION IF NOT EXISTS pg_trgm".to_owned(),
        "CREATE INDEX access_requests_email_trigram ON access_requests USING gin (email gin_trgm_ops)".to_owned(),
    ]
}

fn sqlite() -> Vec<String> {
    let refresh = |filter: &str| {
        format!(
            "UPDATE access_requests SET status = {} WHERE {filter}",
            status_of("access_requests.state", "access_requests.email")
        )
    };
    vec![
        ADD_STATUS.to_owned(),
        refresh("1 = 1"),
        // SQLite's BEFORE triggers cannot change NEW: the row is brought up to date
        // just after (the UPDATE sets only `status`, so it fires no trigger again).
        format!(
            "CREATE TRIGGER access_requests_status_insert AFTER INSERT ON access_requests BEGIN {}; END",
            refresh("id = NEW.id")
        ),
        format!(
            "CREATE TRIGGER access_requests_status_update AFTER UPDATE OF state, email ON access_requests BEGIN {}; END",
            refresh("id = NEW.id")
        ),
        format!(
            "CREATE TRIGGER accounts_request_status_insert AFTER INSERT ON accounts BEGIN {}; END",
            refresh("state = 'approved' AND email = NEW.email")
        ),
        format!(
            "CREATE TRIGGER accounts_request_status_update AFTER UPDATE OF {ACCOUNT_COLUMNS} ON accounts BEGIN {}; END",
            refresh("state = 'approved' AND email IN (NEW.email, OLD.email)")
        ),
        STATUS_INDEX.to_owned(),
        // A table of its own (not external content): FTS5 keys rows by rowid, which
        // VACUUM may renumber in a table without an INTEGER PRIMARY KEY. Requests keep
        // their email for life; a deleted request (an account deleted) leaves the index.
        "CREATE VIRTUAL TABLE access_requests_search USING fts5(email, request_id UNINDEXED, tokenize = 'trigram')"
            .to_owned(),
        "INSERT INTO access_requests_search (email, request_id) SELECT email, id FROM access_requests".to_owned(),
        "CREATE TRIGGER access_requests_search_insert AFTER INSERT ON access_requests BEGIN \
         INSERT INTO access_requests_search (email, request_id) VALUES (NEW.email, NEW.id); END"
            .to_owned(),
        "CREATE TRIGGER access_requests_search_update AFTER UPDATE OF email ON access_requests BEGIN \
         DELETE FROM access_requests_search WHERE request_id = OLD.id; \
         INSERT INTO access_requests_search (email, request_id) VALUES (NEW.email, NEW.id); END"
            .to_owned(),
        "CREATE TRIGGER access_requests_search_delete AFTER DELETE ON access_requests BEGIN \
         DELETE FROM access_requests_search WHERE request_id = OLD.id; END"
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run_per_backend(manager, postgres, sqlite).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run_for_backend(
            manager,
            &[
                "DROP INDEX IF EXISTS access_requests_email_trigram",
                "DROP INDEX IF EXISTS access_requests_agency_status",
                "DROP TRIGGER IF EXISTS accounts_request_status ON accounts",
                "DROP FUNCTION IF EXISTS accounts_request_status()",
                "DROP TRIGGER IF EXISTS access_requests_status ON access_requests",
                "DROP FUNCTION IF EXISTS access_requests_status()",
                "ALTER TABLE access_requests DROP COLUMN IF EXISTS status",
            ],
            &[
                "DROP TRIGGER IF EXISTS access_requests_search_delete",
                "DROP TRIGGER IF EXISTS access_requests_search_update",
                "DROP TRIGGER IF EXISTS access_requests_search_insert",
                "DROP TABLE IF EXISTS access_requests_search",
                "DROP INDEX IF EXISTS access_requests_agency_status",
                "DROP TRIGGER IF EXISTS accounts_request_status_update",
                "DROP TRIGGER IF EXISTS accounts_request_status_insert",
                "DROP TRIGGER IF EXISTS access_requests_status_update",
                "DROP TRIGGER IF EXISTS access_requests_status_insert",
                "ALTER TABLE access_requests DROP COLUMN status",
            ],
        )
        .await
    }
}
