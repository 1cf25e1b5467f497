//! A fresh database per test: a SQLite file by default, or a PostgreSQL database when
//! `CLIENTS_TEST_API_BACKEND=postgres` (created on `CLIENTS_TEST_POSTGRES_URL`'s server
//! and dropped afterwards).

use std::path::Path;

use sea_orm::{ConnectionTrait as _, Database};

pub struct TestDb {
    pub url: String,
    admin: Option<(String, String)>,
}

fn admin_url() -> String {
    std::env::var("CLIENTS_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn backend_is_postgres() -> bool {
    std::env::var("CLIENTS_TEST_API_BACKEND").is_ok_and(|b| b == "postgres")
}

impl TestDb {
    pub async fn create(dir: &Path) -> Self {
        if !backend_is_postgres() {
            return Self { url: format!("sqlite:{}", dir.join("clients.db").display()), admin: None };
        }
        let admin = admin_url();
        let name = format!("clients_api_{}", uuid::Uuid::now_v7().simple());
        let conn = Database::connect(&admin).await.expect("PostgreSQL must be reachable for the postgres API suite");
        conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
        conn.close().await.ok();
        let (base, _) = admin.rsplit_once('/').unwrap();
        Self { url: format!("{base}/{name}"), admin: Some((admin, name)) }
    }

    pub async fn drop_db(&self) {
        if let Some((admin, name)) = &self.admin {
            let conn = Database::connect(admin).await.unwrap();
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
            conn.close().await.ok();
        }
    }
}
