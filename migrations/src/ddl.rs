//! Portable DDL: statements written once, with the column types that differ between
//! SQLite and PostgreSQL substituted per backend.
//!
//! | placeholder | PostgreSQL    | SQLite    | why the SQLite choice                          |
//! |-------------|---------------|-----------|------------------------------------------------|
//! | `{uuid}`    | `uuid`        | `BLOB`    | sqlx stores `Uuid` as 16 bytes                  |
//! | `{ts}`      | `timestamptz` | `TEXT`    | sqlx stores RFC 3339 UTC text, which sorts in time order |
//! | `{bytes}`   | `bytea`       | `BLOB`    |                                                |
//! | `{json}`    | `jsonb`       | `TEXT`    | SQLite's JSON functions work on text           |
//! | `{bool}`    | `boolean`     | `INTEGER` | SQLite has no boolean type; sqlx writes 0/1     |

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Substitutes the backend's column types into `sql`.
fn render(backend: DbBackend, sql: &str) -> String {
    let types: [(&str, &str); 5] = match backend {
        DbBackend::Postgres => [
            ("{uuid}", "uuid"),
            ("{ts}", "timestamptz"),
            ("{bytes}", "bytea"),
            ("{json}", "jsonb"),
            ("{bool}", "boolean"),
        ],
        _ => [("{uuid}", "BLOB"), ("{ts}", "TEXT"), ("{bytes}", "BLOB"), ("{json}", "TEXT"), ("{bool}", "INTEGER")],
    };
    types.iter().fold(sql.to_owned(), |s, (from, to)| s.replace(from, to))
}

/// Runs each statement in order (one at a time: not every driver accepts several
/// statements in one call).
pub(crate) async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(&render(backend, sql)).await?;
    }
    Ok(())
}

/// Runs the statements `postgres()` or `sqlite()` makes, for DDL (triggers, search
/// indexes) that the two backends write differently.
pub(crate) async fn run_per_backend(
    manager: &SchemaManager<'_>,
    postgres: fn() -> Vec<String>,
    sqlite: fn() -> Vec<String>,
) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        DbBackend::Postgres => postgres(),
        _ => sqlite(),
    };
    run(manager, &statements.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// Runs `postgres` or `sqlite`, whichever the backend is: the undoing of DDL that the
/// two backends write differently (see [`run_per_backend`]).
pub(crate) async fn run_for_backend(
    manager: &SchemaManager<'_>,
    postgres: &[&str],
    sqlite: &[&str],
) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        DbBackend::Postgres => postgres,
        _ => sqlite,
    };
    run(manager, statements).await
}

/// Drops `tables` in the given order.
pub(crate) async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for table in tables {
        db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_substituted_on_both_backends() {
        let sql = "CREATE TABLE t (a {uuid}, b {ts}, c {bytes}, d {json}, e {bool})";
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let out = render(backend, sql);
            assert!(!out.contains('{'), "{backend:?}: {out}");
        }
        assert_eq!(render(DbBackend::Postgres, "{ts}"), "timestamptz");
        assert_eq!(render(DbBackend::Sqlite, "{uuid}"), "BLOB");
    }
}
