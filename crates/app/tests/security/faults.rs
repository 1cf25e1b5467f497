//! Database faults (catalogue 29, 30): an unavailable database answers 503 with
//! `Retry-After` and writes nothing; the service recovers by itself when the database
//! returns; SQLite busy and PostgreSQL serialization failures are retried, never a 500.
//!
//! Each test chooses its backend (these are about one backend's failure modes):
//! SQLite in a temporary folder, PostgreSQL on `CLIENTS_TEST_POSTGRES_URL`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clients_persistence::{OutboxKey, Store, StoreOptions};
use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, Statement, TransactionTrait as _};
use serde_json::json;

use crate::support::{PASSWORD, PUBLIC_URL, Reply, logs, reply};

/// The real HTTP application on loopback, over a store with the given options (the
/// knobs `app::start` keeps at production values: busy timeout, retries).
struct Served {
    base: String,
    client: reqwest::Client,
    store: Store,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

async fn serve(url: &str, tune: impl FnOnce(&mut StoreOptions)) -> Served {
    crate::support::capture_logs();
    let mut options = StoreOptions::new(OutboxKey::from_bytes([7; 32]));
    tune(&mut options);
    let store = Store::connect(url, options).await.unwrap();
    store.migrate().await.unwrap();
    let config =
        app::Config { database_url: url.to_owned(), public_url: Some(PUBLIC_URL.to_owned()), ..app::Config::default() };
    let state = app::http_state(&config, &store).unwrap();
    let endpoint = clients_http::app(state, PUBLIC_URL);
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(endpoint, async move { drop(stopped.await) }, Some(Duration::from_secs(5)))
            .await;
    });
    Served { base: format!("http://{addr}"), client: reqwest::Client::new(), store, stop, server }
}

impl Served {
    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<serde_json::Value>) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.unwrap()).await
    }

    async fn sign_up(&self, email: &str) -> String {
        let r = self
            .call(Method::POST, "/v1/auth/sign-up", None, Some(json!({"email": email, "password": PASSWORD})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body["token"].as_str().unwrap().to_owned()
    }

    async fn invite(&self, agency: &str, email: &str) -> Reply {
        self.call(Method::POST, "/v1/shared-accounts", Some(agency), Some(json!({"email": email, "role": "admin"})))
            .await
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap();
        self.store.close().await.ok();
    }
}

async fn count(conn: &DatabaseConnection, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index(0).unwrap()
}

/// What a request-access writes: the request, its audit entry, its email.
async fn written(conn: &DatabaseConnection) -> (i64, i64, i64) {
    (count(conn, "access_requests").await, count(conn, "audit_events").await, count(conn, "email_outbox").await)
}

fn assert_unavailable(r: &Reply, what: &str) {
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{what}: {r:?}");
    assert!(r.content_type.starts_with("application/problem+json"), "{what}: {r:?}");
    let wait: u64 = r.retry_after.as_deref().expect("Retry-After").parse().unwrap();
    assert!(wait >= 1, "{what}: {r:?}");
}

fn sqlite_url() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("clients-fault-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("clients.db").display());
    (dir, url)
}

/// Another process's connection taking SQLite's write lock (a backup, a migration).
async fn sqlite_write_lock(url: &str) -> (DatabaseConnection, sea_orm::DatabaseTransaction) {
    let conn = Database::connect(url).await.unwrap();
    let options = sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Exclusive),
        ..sea_orm::TransactionOptions::default()
    };
    let tx = conn.begin_with_options(options).await.unwrap();
    (conn, tx)
}

#[tokio::test]
async fn sqlite_locked_past_the_retries_is_503_with_retry_after_then_recovers_with_nothing_half_written() {
    let (dir, url) = sqlite_url();
    let app = serve(&url, |o| {
        o.sqlite_busy_timeout = Duration::from_millis(20);
        o.max_attempts = 3;
    })
    .await;
    let agency = app.sign_up("agency@example.com").await;
    let observer = Database::connect(&url).await.unwrap();
    let before = written(&observer).await;

    let (conn, lock) = sqlite_write_lock(&url).await;
    let r = app.invite(&agency, "client@example.com").await;
    assert_unavailable(&r, "invite while the database is locked");
    let r = app
        .call(Method::POST, "/v1/auth/sign-up", None, Some(json!({"email": "new@example.com", "password": PASSWORD})))
        .await;
    assert_unavailable(&r, "sign-up while the database is locked");
    lock.rollback().await.unwrap();
    conn.close().await.unwrap();

    assert_eq!(written(&observer).await, before, "nothing half-written");
    let r = app.invite(&agency, "client@example.com").await;
    assert_eq!(r.status, StatusCode::CREATED, "recovered: {r:?}");
    assert_eq!(written(&observer).await, (before.0 + 1, before.1 + 1, before.2 + 1));
    observer.close().await.unwrap();
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sqlite_busy_is_retried_and_never_a_500() {
    let (dir, url) = sqlite_url();
    let app = serve(&url, |o| {
        o.sqlite_busy_timeout = Duration::from_millis(20);
        o.max_attempts = 50;
    })
    .await;
    let agency = app.sign_up("agency@example.com").await;
    for round in 0..3 {
        let (conn, lock) = sqlite_write_lock(&url).await;
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            lock.commit().await.unwrap();
            conn.close().await.unwrap();
        });
        let started = Instant::now();
        let r = app.invite(&agency, &format!("client{round}@example.com")).await;
        release.await.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "round {round}: {r:?}");
        assert!(started.elapsed() >= Duration::from_millis(100), "it waited for the lock, through retries");
    }
    assert!(logs().contains("transient database failure; retrying"), "SQLITE_BUSY was retried");
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh PostgreSQL database; returns (admin connection, url, name).
async fn postgres_db() -> (DatabaseConnection, String, String) {
    let admin_url = std::env::var("CLIENTS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = Database::connect(&admin_url).await.expect("the PostgreSQL fault tests need CLIENTS_TEST_POSTGRES_URL");
    let name = format!("clients_fault_{}", uuid::Uuid::now_v7().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    (admin, format!("{base}/{name}"), name)
}

async fn drop_postgres_db(admin: &DatabaseConnection, name: &str) {
    admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await.ok();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
}

/// Ends every connection to `name` except `spare`'s.
async fn terminate_backends(admin: &DatabaseConnection, name: &str, spare: i32) {
    let sql =
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> {spare}");
    admin.execute_unprepared(&sql).await.unwrap();
}

/// Waits (bounded) until a backend of `name` waits on a lock.
async fn until_waiting_on_a_lock(admin: &DatabaseConnection, name: &str) {
    let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND wait_event_type = 'Lock'");
    for _ in 0..500 {
        let row = admin.query_one_raw(Statement::from_string(admin.get_database_backend(), sql.clone())).await.unwrap();
        let n: i64 = row.unwrap().try_get_by_index(0).unwrap();
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no backend of {name} ever waited on a lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_going_away_mid_request_is_503_with_retry_after_then_recovers_with_nothing_half_written() {
    let (admin, url, name) = postgres_db().await;
    let app = Arc::new(
        serve(&url, |o| {
            o.max_connections = Some(4);
            o.acquire_timeout = Duration::from_secs(2);
        })
        .await,
    );
    let agency = app.sign_up("agency@example.com").await;
    let observer = Database::connect(&url).await.unwrap();
    let before = written(&observer).await;

    // A request is inside its transaction (request and audit rows inserted, waiting to
    // insert its email) when the database goes away.
    let blocker = Database::connect(&url).await.unwrap();
    let held = blocker.begin().await.unwrap();
    held.execute_unprepared("LOCK TABLE email_outbox IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let pid =
        held.query_one_raw(Statement::from_string(held.get_database_backend(), "SELECT pg_backend_pid()".to_owned()));
    let pid: i32 = pid.await.unwrap().unwrap().try_get_by_index(0).unwrap();
    let in_flight = {
        let (app, agency) = (app.clone(), agency.clone());
        tokio::spawn(async move { app.invite(&agency, "client@example.com").await })
    };
    until_waiting_on_a_lock(&admin, &name).await;
    observer.close().await.unwrap();
    admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await.unwrap();
    terminate_backends(&admin, &name, pid).await;
    let r = in_flight.await.unwrap();
    assert_unavailable(&r, "the request whose connection died");
    held.rollback().await.unwrap();
    blocker.close().await.ok();
    terminate_backends(&admin, &name, 0).await;

    for what in ["invite during the outage", "sign-in during the outage"] {
        let r = if what.starts_with("invite") {
            app.invite(&agency, "other@example.com").await
        } else {
            app.call(
                Method::POST,
                "/v1/auth/sign-in",
                None,
                Some(json!({"email": "agency@example.com", "password": PASSWORD})),
            )
            .await
        };
        assert_unavailable(&r, what);
    }
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_unavailable(&ready, "readiness during the outage");

    // The database comes back: the service recovers without a restart.
    admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await.unwrap();
    let observer = Database::connect(&url).await.unwrap();
    assert_eq!(written(&observer).await, before, "nothing half-written");
    let mut recovered = None;
    for _ in 0..50 {
        let r = app.invite(&agency, "client@example.com").await;
        if r.status != StatusCode::SERVICE_UNAVAILABLE {
            recovered = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = recovered.expect("the service recovers when the database returns");
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(written(&observer).await, (before.0 + 1, before.1 + 1, before.2 + 1));
    assert_eq!(app.call(Method::GET, "/readyz", None, None).await.status, StatusCode::OK);
    observer.close().await.unwrap();
    Arc::into_inner(app).unwrap().shutdown().await;
    drop_postgres_db(&admin, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_serialization_failures_are_retried_and_never_a_500() {
    let (admin, url, name) = postgres_db().await;
    // An operator's choice the adapter must survive: SERIALIZABLE everywhere, where a
    // row changed since the transaction's snapshot fails with SQLSTATE 40001.
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} SET default_transaction_isolation TO 'serializable'"))
        .await
        .unwrap();
    let app = Arc::new(serve(&url, |_| {}).await);
    let client = app.sign_up("client@example.com").await;
    let me = app.call(Method::GET, "/v1/me", Some(&client), None).await;
    let client_id = me.body["id"].as_str().unwrap().to_owned();

    for round in 0..3 {
        // Another writer holds the client's account row; the plan change queues behind it
        // with a snapshot taken before that writer commits.
        let other = Database::connect(&url).await.unwrap();
        let tx = other.begin().await.unwrap();
        let touch = format!("UPDATE accounts SET name = name WHERE id = '{client_id}'");
        tx.execute_unprepared(&touch).await.unwrap();
        let change = {
            let (app, client, path) = (app.clone(), client.clone(), format!("/v1/accounts/{client_id}/subscription"));
            let plan = ["pro", "plus", "scale"][round];
            tokio::spawn(async move { app.call(Method::PUT, &path, Some(&client), Some(json!({"plan": plan}))).await })
        };
        until_waiting_on_a_lock(&admin, &name).await;
        tx.commit().await.unwrap();
        other.close().await.unwrap();
        let r = change.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "round {round}: {r:?}");
    }
    let log = logs();
    assert!(log.contains("40001") && log.contains("transient database failure; retrying"), "40001 was retried");
    Arc::into_inner(app).unwrap().shutdown().await;
    drop_postgres_db(&admin, &name).await;
}
