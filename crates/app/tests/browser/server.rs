//! The service under test: `app::start` on a free loopback port whose address is also
//! the public URL (so grant links in emails open in the browser), a SQLite database and
//! a mail folder in a fresh temporary directory; and JSON API shortcuts for set-up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use app::{Config, Running};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub mail_dir: PathBuf,
    pub http: reqwest::Client,
    running: Option<Running>,
    dir: PathBuf,
}

/// A port nobody listens on now (the OS's choice for port 0).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub async fn spawn_with(tweak: impl Fn(&mut Config)) -> TestApp {
    let dir = std::env::temp_dir().join(format!("clients-browser-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    // The public URL must be the address the browser uses; another test may take the
    // port between probing and binding, so try a few.
    for _ in 0..5 {
        let port = free_port();
        let mut config = Config {
            database_url: format!("sqlite:{}", dir.join("clients.db").display()),
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            public_url: Some(format!("http://127.0.0.1:{port}")),
            mail_dir: dir.join("mail"),
            secret_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned()),
            mail_poll_ms: 20,
            ..Config::default()
        };
        tweak(&mut config);
        config.validate().unwrap();
        match app::start(config.clone()).await {
            Ok(running) => {
                return TestApp {
                    base: format!("http://127.0.0.1:{port}"),
                    mail_dir: config.mail_dir.clone(),
                    http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
                    running: Some(running),
                    dir,
                };
            }
            Err(e) if format!("{e:#}").contains("cannot listen") => continue,
            Err(e) => panic!("the service did not start: {e:#}"),
        }
    }
    panic!("no free port for the service");
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs up through the JSON API; returns the bearer token.
    pub async fn api_sign_up(&self, email: &str, name: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD, "name": name});
        let r = self.http.post(self.url("/v1/auth/sign-up")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "sign-up of {email}");
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    /// Asks `client` for `role` through the JSON API.
    pub async fn api_request(&self, agency: &str, client: &str, role: &str) {
        let body = json!({"email": client, "role": role});
        let r = self.http.post(self.url("/v1/shared-accounts")).bearer_auth(agency).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "request to {client}");
    }

    /// Asks many clients at once (`POST /v1/shared-accounts/bulk`).
    pub async fn api_request_bulk(&self, agency: &str, clients: &[String], role: &str) {
        let requests: Vec<_> = clients.iter().map(|c| json!({"email": c, "role": role})).collect();
        let r = self
            .http
            .post(self.url("/v1/shared-accounts/bulk"))
            .bearer_auth(agency)
            .json(&json!({ "requests": requests }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["results"].as_array().unwrap().iter().all(|r| r["outcome"] == "created"), "{body}");
    }

    /// The grant links emailed to `to`, oldest first, waiting for at least `count`.
    pub async fn grant_links(&self, to: &str, count: usize) -> Vec<String> {
        let mut links = vec![];
        for _ in 0..500 {
            links = emails_to(&self.mail_dir, to)
                .iter()
                .filter_map(|text| {
                    let start = text.find(&format!("{}/grant-access?token=", self.base))?;
                    let link: String =
                        text[start..].chars().take_while(|c| !c.is_whitespace() && *c != '"' && *c != '>').collect();
                    Some(link)
                })
                .collect();
            if links.len() >= count {
                return links;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {count} grant emails to {to}, found {}", links.len());
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The plain-text bodies of the emails to `to`, oldest first.
pub fn emails_to(dir: &Path, to: &str) -> Vec<String> {
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
            (rcpt == to).then(|| m.body_text(0).map(|t| t.to_string()).unwrap_or_default())
        })
        .collect()
}
