//! Migrations: up from empty, down to empty, up again; and the constraints they create.

use migration::{Migrator, MigratorTrait as _, TABLES};

use crate::support::{Backend, TestDb};

async fn tables(db: &TestDb) -> Vec<String> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        Backend::Postgres => "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    };
    db.texts(sql).await.into_iter().filter(|t| TABLES.contains(&t.as_str())).collect()
}

contract!(migrations_go_up_from_empty_down_to_empty_and_up_again, |db: TestDb| async move {
    // The harness ran `Store::migrate` on an empty database.
    let mut all: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    all.sort();
    assert_eq!(tables(&db).await, all, "up from empty creates every table");

    let conn = db.raw().await;
    Migrator::down(&conn, None).await.unwrap();
    assert_eq!(tables(&db).await, Vec::<String>::new(), "down drops every table");
    assert!(Migrator::get_pending_migrations(&conn).await.unwrap().len() == Migrator::migrations().len());

    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(tables(&db).await, all, "up again recreates them");
    Migrator::up(&conn, None).await.unwrap();
    assert!(Migrator::get_pending_migrations(&conn).await.unwrap().is_empty(), "up is idempotent");
    db.store.migrate().await.unwrap();
    conn.close().await.unwrap();
});

fn uuid_literal(db: &TestDb, n: u8) -> String {
    match db.backend {
        Backend::Sqlite => format!("x'{}'", format!("{n:02x}").repeat(16)),
        Backend::Postgres => format!("'{}'", uuid::Uuid::from_bytes([n; 16])),
    }
}

fn now_literal(db: &TestDb) -> &'static str {
    match db.backend {
        Backend::Sqlite => "'2026-11-27T12:00:00+00:00'",
        Backend::Postgres => "'2026-11-27T12:00:00Z'",
    }
}

contract!(the_schema_refuses_what_the_domain_forbids, |db: TestDb| async move {
    let account = |id: u8, email: &str, plan: &str| {
        format!(
            "INSERT INTO accounts (id, email, plan, password_hash, created_at) VALUES ({}, '{email}', '{plan}', 'x', {})",
            uuid_literal(&db, id),
            now_literal(&db)
        )
    };
    db.exec(&account(1, "owner@example.com", "free")).await.unwrap();
    // Case-insensitive identity: an upper-case address cannot be stored at all, so the
    // UNIQUE constraint on the lower-case column is identity.
    assert!(db.exec(&account(2, "Owner@Example.com", "free")).await.is_err(), "upper-case email");
    assert!(db.exec(&account(3, "owner@example.com", "free")).await.is_err(), "duplicate email");
    assert!(db.exec(&account(4, "gold@example.com", "gold")).await.is_err(), "unknown plan");
    let counters = format!("UPDATE accounts SET websites_major_issue = 1 WHERE id = {}", uuid_literal(&db, 1));
    assert!(db.exec(&counters).await.is_err(), "more major issues than websites");

    let request = |id: u8, state: &str, role: &str, delivery: &str| {
        format!(
            "INSERT INTO access_requests (id, agency_id, email, role, state, sends, last_sent_at, delivery, \
             created_at, updated_at) VALUES ({}, {}, 'client@example.com', '{role}', '{state}', 1, {now}, \
             '{delivery}', {now}, {now})",
            uuid_literal(&db, id),
            uuid_literal(&db, 1),
            now = now_literal(&db)
        )
    };
    // A declined request has no grant link and no client: allowed.
    db.exec(&request(10, "declined", "admin", "queued")).await.unwrap();
    assert!(db.exec(&request(11, "pending", "admin", "queued")).await.is_err(), "unknown state");
    assert!(db.exec(&request(12, "declined", "owner", "queued")).await.is_err(), "unknown role");
    assert!(db.exec(&request(13, "declined", "admin", "bounced")).await.is_err(), "unknown delivery");
    assert!(db.exec(&request(14, "requested", "admin", "queued")).await.is_err(), "requested without a link");
    assert!(db.exec(&request(15, "approved", "admin", "queued")).await.is_err(), "approved without a client");

    let website = |id: u8, health: &str| {
        format!(
            "INSERT INTO websites (id, account_id, domain, connected, health, created_at, updated_at) \
             VALUES ({}, {}, 'site{id}.example.com', FALSE, '{health}', {now}, {now})",
            uuid_literal(&db, id),
            uuid_literal(&db, 1),
            now = now_literal(&db)
        )
    };
    db.exec(&website(20, "warning")).await.unwrap();
    assert!(db.exec(&website(21, "broken")).await.is_err(), "unknown health");

    let outbox = |id: u8, state: &str| {
        format!(
            "INSERT INTO email_outbox (id, recipient, template, payload, created_at, state, next_attempt_at) \
             VALUES ({}, 'a@example.com', 'request_declined', '{{}}', {now}, '{state}', {now})",
            uuid_literal(&db, id),
            now = now_literal(&db)
        )
    };
    db.exec(&outbox(30, "pending")).await.unwrap();
    assert!(db.exec(&outbox(31, "lost")).await.is_err(), "unknown outbox state");
    let session = |id: u8, kind: &str| {
        let hash = match db.backend {
            Backend::Sqlite => format!("x'{}'", format!("{id:02x}").repeat(32)),
            Backend::Postgres => format!("'\\x{}'::bytea", format!("{id:02x}").repeat(32)),
        };
        format!(
            "INSERT INTO sessions (id, token_hash, account_id, kind, created_at, expires_at) \
             VALUES ({}, {hash}, {}, '{kind}', '2026-11-27T12:00:00+00:00', '2026-11-27T13:00:00+00:00')",
            uuid_literal(&db, id),
            uuid_literal(&db, 1)
        )
    };
    db.exec(&session(40, "personal")).await.unwrap();
    assert!(db.exec(&session(41, "impersonation")).await.is_err(), "impersonation without client and role");
    assert!(db.exec(&session(42, "robot")).await.is_err(), "unknown session kind");
});
