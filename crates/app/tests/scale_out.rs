//! Scale-out: three `app serve` instances on loopback ports against one PostgreSQL
//! database behave as one service. Concurrent invites, resends and approvals go
//! through all of them; no slot is oversold, every email is delivered exactly once per
//! message and every grant token is in exactly one email, and no request is lost.
//!
//! PostgreSQL only (SQLite is single-instance by design). Under CI=true an unreachable
//! server fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait as _, Database};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

fn admin_url() -> String {
    std::env::var("CLIENTS_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

struct Cluster {
    bases: Vec<String>,
    mail_dirs: Vec<PathBuf>,
    running: Vec<app::Running>,
    http: reqwest::Client,
}

impl Cluster {
    async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.bases[i % self.bases.len()]));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn sign_up(&self, i: usize, email: &str, grant: Option<&str>) -> (String, String) {
        let body = json!({"email": email, "password": PASSWORD, "grant_token": grant});
        let (status, body) = self.call(i, Method::POST, "/v1/auth/sign-up", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["token"].as_str().unwrap().to_owned(), body["account"]["id"].as_str().unwrap().to_owned())
    }
}

/// (template, recipient, grant token if any) of every `.eml` in `dirs`.
fn emails(dirs: &[PathBuf]) -> Vec<(String, String, Option<String>)> {
    let mut out = vec![];
    for dir in dirs {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
            let template = m.header("X-Clients-Template").and_then(|h| h.as_text()).unwrap_or("").trim().to_owned();
            let to = m.to().unwrap().first().unwrap().address().unwrap().to_owned();
            let text = m.body_text(0).map(|t| t.to_string()).unwrap_or_default();
            let token = text.find("grant-access?token=").map(|i| text[i + 19..i + 19 + 43].to_owned());
            out.push((template, to, token));
        }
    }
    out
}

async fn wait_for(dirs: &[PathBuf], count: usize) -> Vec<(String, String, Option<String>)> {
    let mut found = vec![];
    for _ in 0..300 {
        found = emails(dirs);
        if found.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    found
}

#[tokio::test]
async fn three_instances_on_one_postgres_behave_as_one_service() {
    let admin = admin_url();
    let Ok(conn) = Database::connect(&admin).await else {
        assert!(std::env::var("CI").is_err(), "CI must run the scale-out test on PostgreSQL");
        eprintln!("skipping: PostgreSQL unreachable");
        return;
    };
    let name = format!("clients_scale_{}", uuid::Uuid::now_v7().simple());
    conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let root = std::env::temp_dir().join(&name);

    // Migrations run once, as in a rollout; then three instances start.
    let base_config = app::Config {
        database_url: url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: Some("https://clients.test".into()),
        secret_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        resend_cooldown_secs: 0,
        mail_poll_ms: 20,
        ..app::Config::default()
    };
    app::connect(&base_config).await.unwrap().migrate().await.unwrap();
    let mut cluster = Cluster { bases: vec![], mail_dirs: vec![], running: vec![], http: reqwest::Client::new() };
    for i in 0..3 {
        let dir = root.join(format!("mail-{i}"));
        let running = app::start(app::Config { mail_dir: dir.clone(), ..base_config.clone() }).await.unwrap();
        cluster.bases.push(format!("http://{}", running.addr));
        cluster.mail_dirs.push(dir);
        cluster.running.push(running);
    }
    let c = &cluster;

    // Twelve agencies invite one client at once, through all three instances.
    let agencies: Vec<(String, String)> =
        join_all((0..12).map(|i| async move { c.sign_up(i, &format!("agency{i}@example.com"), None).await })).await;
    let rows: Vec<String> = join_all(agencies.iter().enumerate().map(|(i, (token, _))| async move {
        let body = json!({"email": "client@example.com", "role": "developer"});
        let (status, row) = c.call(i + 1, Method::POST, "/v1/shared-accounts", Some(token), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{row}");
        row["id"].as_str().unwrap().to_owned()
    }))
    .await;
    // Half of them resend at once (new links; the old ones die).
    join_all(agencies.iter().zip(&rows).take(6).enumerate().map(|(i, ((token, _), row))| async move {
        let (status, body) =
            c.call(i + 2, Method::POST, &format!("/v1/shared-accounts/{row}/resend"), Some(token), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }))
    .await;

    // 12 invitations + 6 resends, each delivered once, by whichever instance claimed it.
    let mail = wait_for(&cluster.mail_dirs, 18).await;
    let grants: Vec<_> = mail.iter().filter(|(t, _, _)| t.starts_with("access_request")).collect();
    assert_eq!(grants.len(), 18, "every send delivered exactly once: {mail:?}");
    let mut per_token: HashMap<&str, usize> = HashMap::new();
    for (_, _, token) in &grants {
        *per_token.entry(token.as_deref().unwrap()).or_default() += 1;
    }
    assert!(per_token.values().all(|n| *n == 1), "a token in two emails: {per_token:?}");
    assert_eq!(per_token.len(), 18);

    // The client signs up with one live link (Plus plan: 3 slots) and approves all 12 at once.
    // Links rotated by a resend no longer open anything; six are still live.
    let mut live = None;
    for token in grants.iter().filter_map(|(_, _, t)| t.clone()) {
        let (status, _) = c.call(0, Method::GET, &format!("/v1/access-requests/by-token/{token}"), None, None).await;
        if status == StatusCode::OK {
            live = Some(token);
            break;
        }
    }
    let (client, client_id) = c.sign_up(0, "client@example.com", live.as_deref()).await;
    let (status, _) = c
        .call(
            1,
            Method::PUT,
            &format!("/v1/accounts/{client_id}/subscription"),
            Some(&client),
            Some(json!({"plan": "plus"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let outcomes: Vec<StatusCode> =
        join_all(rows.iter().enumerate().map(|(i, row)| {
            let client = client.clone();
            async move {
                c.call(i, Method::POST, &format!("/v1/access-requests/{row}/approve"), Some(&client), None).await.0
            }
        }))
        .await;
    let approved = outcomes.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = outcomes.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((approved, refused), (3, 9), "{outcomes:?}");
    let (_, team) = c.call(2, Method::GET, &format!("/v1/accounts/{client_id}/team"), Some(&client), None).await;
    assert_eq!(team["slots"], json!({"used": 3, "limit": 3}), "no slot oversold");

    // No request lost: every agency still sees its row, in a consistent state.
    for (i, ((token, _), row)) in agencies.iter().zip(&rows).enumerate() {
        let (status, body) = c.call(i, Method::GET, &format!("/v1/shared-accounts/{row}"), Some(token), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["state"] == "approved" || body["state"] == "requested", "{body}");
    }
    // And the three approval notices reach their agencies once each.
    let mail = wait_for(&cluster.mail_dirs, 21).await;
    assert_eq!(mail.iter().filter(|(t, _, _)| t == "request_approved").count(), 3);

    for r in cluster.running.drain(..) {
        r.stop().await.unwrap();
    }
    conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
