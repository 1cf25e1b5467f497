//! The per-account website counters (`websites_total`, `websites_major_issue`,
//! `websites_not_connected`), kept by the database on every write to `websites`, so a
//! status report from the health service is one statement (`UPDATE … RETURNING`)
//! rather than a read, a write and a counter update in a transaction.
//!
//! A website belongs to one account for life (no code path moves one); the triggers
//! count inserts, deletes and changes of `connected` or `health`. The contract tests
//! compare the counters with the websites after every kind of write.

use sea_orm_migration::prelude::*;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `UPDATE accounts` adding `sign` × the contribution of the website row `row`
/// (`NEW` or `OLD`); `int` turns a boolean into 0/1 on the backend.
fn count(sign: &str, row: &str, int: fn(&str) -> String) -> String {
    format!(
        "UPDATE accounts SET websites_total = websites_total {sign} 1, \
         websites_major_issue = websites_major_issue {sign} {}, \
         websites_not_connected = websites_not_connected {sign} {} WHERE id = {row}.account_id",
        int(&format!("{row}.health = 'major_issue'")),
        int(&format!("NOT {row}.connected"))
    )
}

/// The change of one website's contribution, on its (unchanged) account.
fn change(int: fn(&str) -> String) -> String {
    format!(
        "UPDATE accounts SET \
         websites_major_issue = websites_major_issue + {} - {}, \
         websites_not_connected = websites_not_connected + {} - {} WHERE id = NEW.account_id",
        int("NEW.health = 'major_issue'"),
        int("OLD.health = 'major_issue'"),
        int("NOT NEW.connected"),
        int("NOT OLD.connected")
    )
}

fn pg_int(b: &str) -> String {
    format!("({b})::int")
}

fn sqlite_int(b: &str) -> String {
    format!("({b})")
}

pub(crate) const CHANGED: &str =
    "OLD.connected IS DISTINCT FROM NEW.connected OR OLD.health IS DISTINCT FROM NEW.health";

fn postgres() -> Vec<String> {
    vec![
        format!(
            "CREATE FUNCTION websites_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF TG_OP = 'INSERT' THEN {}; \
             ELSIF TG_OP = 'DELETE' THEN {}; \
             ELSE {}; END IF; RETURN NULL; END $$",
            count("+", "NEW", pg_int),
            count("-", "OLD", pg_int),
            change(pg_int)
        ),
        "CREATE TRIGGER websites_count_insert_delete AFTER INSERT OR DELETE ON websites \
         FOR EACH ROW EXECUTE FUNCTION websites_count()"
            .to_owned(),
        format!(
            "CREATE TRIGGER websites_count_update AFTER UPDATE OF connected, health ON websites \
             FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION websites_count()"
        ),
    ]
}

fn sqlite() -> Vec<String> {
    let changed = CHANGED.replace("IS DISTINCT FROM", "IS NOT");
    vec![
        format!(
            "CREATE TRIGGER websites_count_insert AFTER INSERT ON websites BEGIN {}; END",
            count("+", "NEW", sqlite_int)
        ),
        format!(
            "CREATE TRIGGER websites_count_delete AFTER DELETE ON websites BEGIN {}; END",
            count("-", "OLD", sqlite_int)
        ),
        format!(
            "CREATE TRIGGER websites_count_update AFTER UPDATE OF connected, health ON websites \
             WHEN {changed} BEGIN {}; END",
            change(sqlite_int)
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
                "DROP TRIGGER IF EXISTS websites_count_update ON websites",
                "DROP TRIGGER IF EXISTS websites_count_insert_delete ON websites",
                "DROP FUNCTION IF EXISTS websites_count()",
            ],
            &[
                "DROP TRIGGER IF EXISTS websites_count_update",
                "DROP TRIGGER IF EXISTS websites_count_delete",
                "DROP TRIGGER IF EXISTS websites_count_insert",
            ],
        )
        .await
    }
}
