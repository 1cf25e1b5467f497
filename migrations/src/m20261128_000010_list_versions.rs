//! The agency list's version: what lets the HTTP layer serve a page it rendered
//! before, without reading or rendering it again, while proving that nothing on the
//! page has changed since.
//!
//! Every request row carries `list_version`, set by the database on every insert or
//! update of the row and on every write elsewhere that changes what the row shows
//! (its client account's website counters, plan, email or existence; the client's
//! member count for a row blocked on slots). An agency's list version is then
//! `max(list_version)` over its rows (an index probe), with `accounts.list_revision`
//! counting deleted rows (a max cannot see a row leave; deletes only come with an
//! account deletion).
//!
//! The value differs per backend, and so does the reason it is enough:
//! - SQLite has one writer at a time, so commits happen in the order versions are
//!   given: each change sets its row to the agency's greatest version + 1.
//! - PostgreSQL commits concurrently: a row takes the id of the transaction that
//!   wrote it (`pg_current_xact_id()`). A reader trusts a maximum only when it is below
//!   its snapshot's `xmin` (every transaction that could still commit a change has a
//!   greater id, so any later change raises the maximum); otherwise it does not cache.
//!
//! The contract tests hold the version to "changes whenever a page would" for every
//! kind of write, on both backends.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

const ADD_VERSION: &str = "ALTER TABLE access_requests ADD COLUMN list_version BIGINT NOT NULL DEFAULT 0";
const ADD_REVISION: &str = "ALTER TABLE accounts ADD COLUMN list_revision BIGINT NOT NULL DEFAULT 0";
const VERSION_INDEX: &str = "CREATE INDEX access_requests_agency_version ON access_requests (agency_id, list_version)";

/// The rows whose shown client changes with account `row` (`NEW` or `OLD`).
fn rows_of_account(row: &str) -> String {
    format!("email = {row}.email")
}

/// The rows a change of the member count of client `row.client_id` shows: a request
/// blocked on slots shows whether one is free.
fn rows_of_members(row: &str) -> String {
    format!(
        "state = 'requested' AND slot_blocked_at IS NOT NULL \
         AND email = (SELECT a.email FROM accounts a WHERE a.id = {row}.client_id)"
    )
}

const BUMP_AGENCY: &str = "UPDATE accounts SET list_revision = list_revision + 1 WHERE id = OLD.agency_id";

fn postgres() -> Vec<String> {
    // Any assignment: the BEFORE trigger sets the version.
    let touch = |filter: String| format!("UPDATE access_requests SET list_version = 0 WHERE {filter}");
    vec![
        ADD_VERSION.to_owned(),
        ADD_REVISION.to_owned(),
        "CREATE FUNCTION access_requests_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         NEW.list_version := pg_current_xact_id()::text::bigint; RETURN NEW; END $$"
            .to_owned(),
        "CREATE TRIGGER access_requests_version BEFORE INSERT OR UPDATE ON access_requests \
         FOR EACH ROW EXECUTE FUNCTION access_requests_version()"
            .to_owned(),
        format!(
            "CREATE FUNCTION access_requests_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             {BUMP_AGENCY}; RETURN NULL; END $$"
        ),
        "CREATE TRIGGER access_requests_gone AFTER DELETE ON access_requests \
         FOR EACH ROW EXECUTE FUNCTION access_requests_gone()"
            .to_owned(),
        format!(
            "CREATE FUNCTION accounts_list_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF TG_OP <> 'DELETE' THEN {}; END IF; \
             IF TG_OP <> 'INSERT' THEN {}; END IF; RETURN NULL; END $$",
            touch(rows_of_account("NEW")),
            touch(rows_of_account("OLD"))
        ),
        "CREATE TRIGGER accounts_list_version AFTER INSERT OR DELETE OR UPDATE OF email, plan ON accounts \
         FOR EACH ROW EXECUTE FUNCTION accounts_list_version()"
            .to_owned(),
        format!(
            "CREATE FUNCTION memberships_list_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF TG_OP = 'INSERT' THEN {}; ELSE {}; END IF; RETURN NULL; END $$",
            touch(rows_of_members("NEW")),
            touch(rows_of_members("OLD"))
        ),
        "CREATE TRIGGER memberships_list_version AFTER INSERT OR DELETE ON memberships \
         FOR EACH ROW EXECUTE FUNCTION memberships_list_version()"
            .to_owned(),
        VERSION_INDEX.to_owned(),
    ]
}

fn sqlite() -> Vec<String> {
    // SQLite's BEFORE triggers cannot change NEW: the row is stamped just after. The
    // stamping UPDATE changes `list_version`, so the WHEN below keeps it from firing
    // itself; an UPDATE that leaves `list_version` alone (any other write, or a touch
    // below) gets a new version.
    let stamp = "UPDATE access_requests SET list_version = \
                 (SELECT max(v.list_version) FROM access_requests v WHERE v.agency_id = NEW.agency_id) + 1 \
                 WHERE id = NEW.id";
    let touch = |filter: String| format!("UPDATE access_requests SET list_version = list_version WHERE {filter}");
    vec![
        ADD_VERSION.to_owned(),
        ADD_REVISION.to_owned(),
        VERSION_INDEX.to_owned(),
        format!("CREATE TRIGGER access_requests_version_insert AFTER INSERT ON access_requests BEGIN {stamp}; END"),
        format!(
            "CREATE TRIGGER access_requests_version_update AFTER UPDATE ON access_requests \
             WHEN NEW.list_version = OLD.list_version BEGIN {stamp}; END"
        ),
        format!("CREATE TRIGGER access_requests_gone AFTER DELETE ON access_requests BEGIN {BUMP_AGENCY}; END"),
        format!(
            "CREATE TRIGGER accounts_list_version_insert AFTER INSERT ON accounts BEGIN {}; END",
            touch(rows_of_account("NEW"))
        ),
        format!(
            "CREATE TRIGGER accounts_list_version_delete AFTER DELETE ON accounts BEGIN {}; END",
            touch(rows_of_account("OLD"))
        ),
        format!(
            "CREATE TRIGGER accounts_list_version_update AFTER UPDATE OF email, plan ON accounts BEGIN {}; {}; END",
            touch(rows_of_account("NEW")),
            touch(rows_of_account("OLD"))
        ),
        format!(
            "CREATE TRIGGER memberships_list_version_insert AFTER INSERT ON memberships BEGIN {}; END",
            touch(rows_of_members("NEW"))
        ),
        format!(
            "CREATE TRIGGER memberships_list_version_delete AFTER DELETE ON memberships BEGIN {}; END",
            touch(rows_of_members("OLD"))
        ),
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
                "DROP INDEX IF EXISTS access_requests_agency_version",
                "DROP TRIGGER IF EXISTS memberships_list_version ON memberships",
                "DROP FUNCTION IF EXISTS memberships_list_version()",
                "DROP TRIGGER IF EXISTS accounts_list_version ON accounts",
                "DROP FUNCTION IF EXISTS accounts_list_version()",
                "DROP TRIGGER IF EXISTS access_requests_gone ON access_requests",
                "DROP FUNCTION IF EXISTS access_requests_gone()",
                "DROP TRIGGER IF EXISTS access_requests_version ON access_requests",
                "DROP FUNCTION IF EXISTS access_requests_version()",
                "ALTER TABLE accounts DROP COLUMN IF EXISTS list_revision",
                "ALTER TABLE access_requests DROP COLUMN IF EXISTS list_version",
            ],
            &[
                "DROP TRIGGER IF EXISTS memberships_list_version_delete",
                "DROP TRIGGER IF EXISTS memberships_list_version_insert",
                "DROP TRIGGER IF EXISTS accounts_list_version_update",
                "DROP TRIGGER IF EXISTS accounts_list_version_delete",
                "DROP TRIGGER IF EXISTS accounts_list_version_insert",
                "DROP TRIGGER IF EXISTS access_requests_gone",
                "DROP TRIGGER IF EXISTS access_requests_version_update",
                "DROP TRIGGER IF EXISTS access_requests_version_insert",
                "DROP INDEX IF EXISTS access_requests_agency_version",
                "ALTER TABLE accounts DROP COLUMN list_revision",
                "ALTER TABLE access_requests DROP COLUMN list_version",
            ],
        )
        .await
    }
}
