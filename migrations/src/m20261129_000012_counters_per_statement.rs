//! PostgreSQL: a batch of health reports moves the counters, and the statuses that
//! show them, once per statement instead of once per website row.
//!
//! A health-report batch is one `UPDATE websites … FROM (VALUES …)` of up to 64 rows.
//! With migration 9's row trigger each changed row ran its own `UPDATE accounts`, whose
//! row trigger (migration 8) ran its own `UPDATE access_requests`: 64 nested statement
//! executions of each, every one setting up its executor state and trigger qualifiers
//! anew, all while the batch's one writer waited (profiled in docs/performance.md,
//! round 6). Now the update of `websites` has a statement trigger with transition
//! tables: it sums each account's change of its counters and updates every changed
//! account with one statement; an update of `accounts` has a statement trigger that
//! refreshes the status of every approved request showing a changed account (counters
//! or email), again with one statement.
//!
//! What is kept is unchanged: the counters move by delta (`x = x + d`, re-read after a
//! concurrent writer's row lock), within the writing statement, whoever writes; a
//! request's status is refreshed whenever its client's counters or email change.
//! Inserts and deletes of websites, and inserts of accounts, keep their row triggers
//! (one row per statement on those paths). A statement trigger with transition tables
//! cannot name columns (`UPDATE OF …`), so both fire on every update of their table;
//! the join of the transition tables keeps only the rows whose counted columns changed,
//! and an update that changes none of them writes nothing. SQLite has no statement
//! triggers and is unchanged.

use sea_orm_migration::prelude::*;

use crate::ddl;
use crate::m20261128_000008_list_status_and_search::{ACCOUNT_COLUMNS, status_of};
use crate::m20261128_000009_website_counters_in_triggers::CHANGED;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Migration 9's change condition on the transition tables' rows `o` (old) and `n` (new).
fn changed_website() -> String {
    CHANGED.replace("OLD.", "o.").replace("NEW.", "n.")
}

/// Migration 8's account columns of the transition table row `alias`, as a row value.
fn account_columns_of(alias: &str) -> String {
    let columns: Vec<String> = ACCOUNT_COLUMNS.split(", ").map(|c| format!("{alias}.{c}")).collect();
    format!("({})", columns.join(", "))
}

fn up_postgres() -> Vec<String> {
    vec![
        format!(
            "CREATE FUNCTION websites_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             UPDATE accounts a SET \
             websites_major_issue = a.websites_major_issue + d.major_issue, \
             websites_not_connected = a.websites_not_connected + d.not_connected \
             FROM (SELECT n.account_id, \
             sum((n.health = 'major_issue')::int - (o.health = 'major_issue')::int) AS major_issue, \
             sum((NOT n.connected)::int - (NOT o.connected)::int) AS not_connected \
             FROM changed_new n JOIN changed_old o ON o.id = n.id WHERE {} \
             GROUP BY n.account_id) d \
             WHERE a.id = d.account_id AND (d.major_issue <> 0 OR d.not_connected <> 0); \
             RETURN NULL; END $$",
            changed_website()
        ),
        "DROP TRIGGER websites_count_update ON websites".to_owned(),
        "CREATE TRIGGER websites_count_update AFTER UPDATE ON websites \
         REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new \
         FOR EACH STATEMENT EXECUTE FUNCTION websites_count_changes()"
            .to_owned(),
        format!(
            "CREATE FUNCTION accounts_request_status_changes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             UPDATE access_requests r SET status = {} \
             WHERE r.state = 'approved' AND r.email IN (SELECT e.email \
             FROM changed_new n JOIN changed_old o ON o.id = n.id \
             CROSS JOIN LATERAL (VALUES (n.email), (o.email)) AS e (email) \
             WHERE {} IS DISTINCT FROM {}); RETURN NULL; END $$",
            status_of("r.state", "r.email"),
            account_columns_of("n"),
            account_columns_of("o")
        ),
        "DROP TRIGGER accounts_request_status ON accounts".to_owned(),
        "CREATE TRIGGER accounts_request_status AFTER INSERT ON accounts \
         FOR EACH ROW EXECUTE FUNCTION accounts_request_status()"
            .to_owned(),
        "CREATE TRIGGER accounts_request_status_update AFTER UPDATE ON accounts \
         REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new \
         FOR EACH STATEMENT EXECUTE FUNCTION accounts_request_status_changes()"
            .to_owned(),
    ]
}

fn down_postgres() -> Vec<String> {
    vec![
        "DROP TRIGGER accounts_request_status_update ON accounts".to_owned(),
        "DROP TRIGGER accounts_request_status ON accounts".to_owned(),
        format!(
            "CREATE TRIGGER accounts_request_status AFTER INSERT OR UPDATE OF {ACCOUNT_COLUMNS} ON accounts \
             FOR EACH ROW EXECUTE FUNCTION accounts_request_status()"
        ),
        "DROP FUNCTION accounts_request_status_changes()".to_owned(),
        "DROP TRIGGER websites_count_update ON websites".to_owned(),
        format!(
            "CREATE TRIGGER websites_count_update AFTER UPDATE OF connected, health ON websites \
             FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION websites_count()"
        ),
        "DROP FUNCTION websites_count_changes()".to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run_per_backend(manager, up_postgres, Vec::new).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run_per_backend(manager, down_postgres, Vec::new).await
    }
}
