//! The service under attack: the real server on a free loopback port with a fresh
//! database and mail folder per test (SQLite, or PostgreSQL with
//! `CLIENTS_TEST_API_BACKEND=postgres`), every log line captured, and the small
//! client-side helpers an attacker or a user needs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use app::{Config, Running};
use reqwest::{Method, RequestBuilder, StatusCode};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

pub use crate::db::TestDb;

pub const PUBLIC_URL: &str = "https://clients.test";
pub const SERVICE_TOKEN: &str = "test-service-token-0123456789abcdef0123";
pub const PASSWORD: &str = "correct horse battery";

// ----- Captured logs ---------------------------------------------------------------

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line of every service in this process, at debug level, to memory.
pub fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new("debug,hyper=info,h2=info,rustls=info,reqwest=info");
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| Capture).with_ansi(false).try_init();
    });
}

/// Everything logged so far in this process.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
}

// ----- The app -------------------------------------------------------------------

pub struct SecApp {
    pub base: String,
    pub mail_dir: PathBuf,
    pub dir: PathBuf,
    pub db_url: String,
    pub client: reqwest::Client,
    running: Option<Running>,
    db: TestDb,
}

pub async fn spawn_app() -> SecApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> SecApp {
    capture_logs();
    let dir = std::env::temp_dir().join(format!("clients-sec-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = TestDb::create(&dir).await;
    let mut config = base_config(&dir, &db.url);
    tweak(&mut config);
    config.validate().unwrap();
    let running = app::start(config.clone()).await.unwrap();
    SecApp {
        base: format!("http://{}", running.addr),
        mail_dir: config.mail_dir.clone(),
        dir,
        db_url: db.url.clone(),
        client: reqwest::Client::new(),
        running: Some(running),
        db,
    }
}

pub fn base_config(dir: &Path, db_url: &str) -> Config {
    Config {
        database_url: db_url.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: Some(PUBLIC_URL.to_owned()),
        mail_dir: dir.join("mail"),
        service_token: Some(SERVICE_TOKEN.to_owned()),
        secret_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned()),
        mail_poll_ms: 20,
        ..Config::default()
    }
}

/// A response: status, the headers we look at, JSON body (or text).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// A 4xx `application/problem+json` answer with a code.
    pub fn assert_problem_4xx(&self, what: &str) {
        assert!(self.status.is_client_error(), "{what}: {self:?}");
        assert!(self.content_type.starts_with("application/problem+json"), "{what}: {self:?}");
        assert!(!self.code().is_empty(), "{what}: {self:?}");
        assert_eq!(self.body["status"], self.status.as_u16(), "{what}: {self:?}");
    }
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
    Reply { status, content_type, retry_after, headers, text, body }
}

impl SecApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn req(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req
    }

    pub async fn send(&self, req: RequestBuilder) -> Reply {
        reply(req.send().await.unwrap()).await
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.req(method, path, token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn post_empty(&self, path: &str, token: &str) -> Reply {
        self.call(Method::POST, path, Some(token), None).await
    }

    /// Signs up and returns (token, account id).
    pub async fn sign_up(&self, email: &str, name: Option<&str>) -> (String, String) {
        let body = json!({"email": email, "password": PASSWORD, "name": name});
        let r = self.call(Method::POST, "/v1/auth/sign-up", None, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        (r.body["token"].as_str().unwrap().to_owned(), r.body["account"]["id"].as_str().unwrap().to_owned())
    }

    /// Signs up through a grant link (verifying the email); returns (token, account id).
    pub async fn sign_up_with_link(&self, email: &str, grant: &str) -> (String, String) {
        let body = json!({"email": email, "password": PASSWORD, "grant_token": grant});
        let r = self.call(Method::POST, "/v1/auth/sign-up", None, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        assert_eq!(r.body["account"]["email_verified"], true, "{r:?}");
        (r.body["token"].as_str().unwrap().to_owned(), r.body["account"]["id"].as_str().unwrap().to_owned())
    }

    pub async fn sign_in(&self, email: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD});
        let r = self.call(Method::POST, "/v1/auth/sign-in", None, Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Requests access and returns the row id.
    pub async fn request(&self, agency: &str, email: &str, role: &str) -> String {
        let r = self.post("/v1/shared-accounts", agency, json!({"email": email, "role": role})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// The grant tokens emailed to `to`, oldest first, once at least `at_least` arrived.
    pub async fn grant_tokens(&self, to: &str, at_least: usize) -> Vec<String> {
        let mut tokens = vec![];
        for _ in 0..250 {
            tokens = grant_tokens_in(&emails_to(&self.mail_dir, to));
            if tokens.len() >= at_least {
                return tokens;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {at_least} grant emails to {to}, found {}", tokens.len());
    }

    /// The newest grant token emailed to `to`, once `count` grant emails arrived.
    pub async fn grant_token(&self, to: &str, count: usize) -> String {
        self.grant_tokens(to, count).await.pop().unwrap()
    }

    /// Emails to `to` with the given template, once `count` arrived.
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

    /// Lets the outbox worker deliver what is due (it polls every 20 ms).
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    /// The client approves by link as a fresh account; returns (client token, client id).
    pub async fn client_approves(&self, client_email: &str) -> (String, String) {
        let token = self.grant_token(client_email, 1).await;
        let (client, client_id) = self.sign_up_with_link(client_email, &token).await;
        let r = self.post(&format!("/v1/access-requests/by-token/{token}/approve"), &client, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        (client, client_id)
    }

    /// An agency whose request the client approved with `role`: (agency token, row id,
    /// client token, client id).
    pub async fn approved(
        &self,
        agency_email: &str,
        client_email: &str,
        role: &str,
    ) -> (String, String, String, String) {
        let (agency, _) = self.sign_up(agency_email, Some("Acme Agency")).await;
        let row = self.request(&agency, client_email, role).await;
        let (client, client_id) = self.client_approves(client_email).await;
        (agency, row, client, client_id)
    }

    /// Starts "Log in as" on `row`; returns the session token.
    pub async fn log_in_as(&self, agency: &str, row: &str) -> String {
        let r = self.post_empty(&format!("/v1/shared-accounts/{row}/log-in-as"), agency).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// A direct connection to the test database (for what no API offers).
    pub async fn sql(&self) -> DatabaseConnection {
        Database::connect(&self.db_url).await.unwrap()
    }

    /// Runs one statement with `$n` parameters on the test database.
    pub async fn exec(&self, sql: &str, values: Vec<sea_orm::Value>) {
        let conn = self.sql().await;
        let backend = conn.get_database_backend();
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.unwrap();
        conn.close().await.unwrap();
    }

    pub fn is_postgres(&self) -> bool {
        self.db_url.starts_with("postgres")
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        self.db.drop_db().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----- Mail ----------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Email {
    pub template: String,
    pub text: String,
    pub html: String,
    pub raw: String,
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
                text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
                html: m.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
                raw: String::from_utf8_lossy(&bytes).into_owned(),
            })
        })
        .collect()
}

/// Every email in the folder, to anyone.
pub fn all_emails(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .count()
}

pub fn grant_tokens_in(emails: &[Email]) -> Vec<String> {
    emails
        .iter()
        .filter_map(|e| {
            let i = e.text.find("grant-access?token=")?;
            e.text.get(i + 19..i + 19 + 43).map(str::to_owned)
        })
        .collect()
}

/// A well-formed token nobody was ever sent.
pub fn random_token() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Sends every request at the same moment (a barrier releases them together) and
/// returns the replies in order.
pub async fn all_at_once(requests: Vec<RequestBuilder>) -> Vec<Reply> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|req| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                reply(req.send().await.unwrap()).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
