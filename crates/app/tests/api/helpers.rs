//! `spawn_app()`: the real service on a free loopback port, a fresh database and a
//! mail folder per test; and small helpers to drive it like a client would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use app::{Config, Running};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const PUBLIC_URL: &str = "https://clients.test";
pub const SERVICE_TOKEN: &str = "test-service-token-0123456789abcdef0123";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub mail_dir: PathBuf,
    pub client: reqwest::Client,
    running: Option<Running>,
    dir: PathBuf,
    db: crate::db::TestDb,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = std::env::temp_dir().join(format!("clients-api-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = crate::db::TestDb::create(&dir).await;
    let mut config = Config {
        database_url: db.url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: Some(PUBLIC_URL.to_owned()),
        mail_dir: dir.join("mail"),
        service_token: Some(SERVICE_TOKEN.to_owned()),
        secret_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned()),
        mail_poll_ms: 20,
        ..Config::default()
    };
    tweak(&mut config);
    config.validate().unwrap();
    let running = app::start(config.clone()).await.unwrap();
    TestApp {
        base: format!("http://{}", running.addr),
        mail_dir: config.mail_dir.clone(),
        client: reqwest::Client::new(),
        running: Some(running),
        dir,
        db,
    }
}

/// A response: status, headers we look at, JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn call(&self, method: Method, path: impl AsRef<str>, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, format!("{}{}", self.base, path.as_ref()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: impl AsRef<str>, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Signs up and returns (token, account id).
    pub async fn sign_up(&self, email: &str, name: Option<&str>) -> (String, String) {
        let r = self
            .call(
                Method::POST,
                "/v1/auth/sign-up",
                None,
                Some(json!({"email": email, "password": PASSWORD, "name": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        (r.body["token"].as_str().unwrap().to_owned(), r.body["account"]["id"].as_str().unwrap().to_owned())
    }

    /// Signs up with the grant link's token (verifying the email).
    pub async fn sign_up_with_link(&self, email: &str, grant: &str) -> (String, String) {
        let body = json!({"email": email, "password": PASSWORD, "grant_token": grant});
        let r = self.call(Method::POST, "/v1/auth/sign-up", None, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        assert_eq!(r.body["account"]["email_verified"], true, "{r:?}");
        (r.body["token"].as_str().unwrap().to_owned(), r.body["account"]["id"].as_str().unwrap().to_owned())
    }

    /// Requests access and returns the row id.
    pub async fn request(&self, agency: &str, email: &str, role: &str) -> String {
        let r = self.post("/v1/shared-accounts", agency, json!({"email": email, "role": role})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// The grant tokens emailed to `to`, oldest first (waits for the worker).
    pub async fn grant_tokens(&self, to: &str, at_least: usize) -> Vec<String> {
        let mut tokens = vec![];
        for _ in 0..250 {
            tokens = emails_to(&self.mail_dir, to)
                .iter()
                .filter_map(|e| e.text.find("grant-access?token=").map(|i| e.text[i + 19..i + 19 + 43].to_owned()))
                .collect();
            if tokens.len() >= at_least {
                return tokens;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {at_least} grant emails to {to}, found {}", tokens.len());
    }

    /// Emails to `to` with the given template, waiting until `count` arrived.
    pub async fn wait_emails(&self, to: &str, template: &str, count: usize) -> Vec<Email> {
        for _ in 0..250 {
            let found: Vec<_> = emails_to(&self.mail_dir, to).into_iter().filter(|e| e.template == template).collect();
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {count} {template} emails to {to}");
    }

    /// Approves by link as a fresh account and returns (client token, client id).
    pub async fn client_approves(&self, client_email: &str) -> (String, String) {
        let token = self.grant_tokens(client_email, 1).await.pop().unwrap();
        let (client, client_id) = self.sign_up_with_link(client_email, &token).await;
        let r = self.post(&format!("/v1/access-requests/by-token/{token}/approve"), &client, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        (client, client_id)
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        self.db.drop_db().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Reply { status, content_type, retry_after, body }
}

#[derive(Debug, Clone)]
pub struct Email {
    pub template: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn emails_to(dir: &Path, to: &str) -> Vec<Email> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let m = mail_parser::MessageParser::default().parse(&bytes)?;
            let rcpt = m.to()?.first()?.address()?.to_owned();
            (rcpt == to).then(|| Email {
                template: m.header("X-Clients-Template").and_then(|h| h.as_text()).unwrap_or("").trim().to_owned(),
                subject: m.subject().unwrap_or("").to_owned(),
                text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
                html: m.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}
