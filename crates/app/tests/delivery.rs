//! Email delivery faults, end to end through the real service and the SES adapter
//! against moto on loopback: an SES outage is retried until delivered, a permanent
//! rejection shows as `failed` on the row, and a stop between commit and send still
//! delivers exactly one email per token after restart.
//!
//! Needs `CLIENTS_TEST_MOTO_SERVER` (set by `cargo xtask test`); fails under CI without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_bin() -> Option<String> {
    let bin = std::env::var("CLIENTS_TEST_MOTO_SERVER").ok();
    if bin.is_none() {
        assert!(std::env::var("CI").is_err(), "CI must run the delivery suite (cargo xtask test sets it up)");
        eprintln!("skipping: CLIENTS_TEST_MOTO_SERVER is not set");
    }
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_moto(bin: &str, port: u16) -> Moto {
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto { child, url: format!("http://127.0.0.1:{port}") };
    for _ in 0..200 {
        if reqwest::get(format!("{}/moto-api/data.json", moto.url)).await.is_ok() {
            // Every address at example.com may send.
            let conf = aws_config_for(&moto.url);
            conf.create_email_identity().email_identity("mail.example.com").send().await.unwrap();
            return moto;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto did not start");
}

fn aws_config_for(url: &str) -> aws_sdk_sesv2::Client {
    let conf = aws_sdk_sesv2::Config::builder()
        .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
        .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(url)
        .build();
    aws_sdk_sesv2::Client::from_conf(conf)
}

async fn sent_messages(moto_url: &str) -> Vec<Value> {
    let data: Value = reqwest::get(format!("{moto_url}/moto-api/data.json")).await.unwrap().json().await.unwrap();
    let mut out = vec![];
    if let Some(regions) = data["ses"]["Message"].as_object() {
        for accounts in regions.values() {
            for messages in accounts.as_object().into_iter().flat_map(|m| m.values()) {
                out.extend(messages.as_object().into_iter().flat_map(|m| m.values().cloned()));
            }
        }
    } else if let Some(list) = data["ses"]["Message"].as_array() {
        out.extend(list.iter().cloned());
    }
    out
}

fn config(dir: &std::path::Path, ses_port: u16, from: &str) -> app::Config {
    app::Config {
        database_url: format!("sqlite:{}", dir.join("clients.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        mailer: app::MailerKind::Ses,
        mail_from: from.to_owned(),
        ses_endpoint: Some(format!("http://127.0.0.1:{ses_port}")),
        secret_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned()),
        mail_poll_ms: 50,
        ..app::Config::default()
    }
}

async fn call(base: &str, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

async fn agency_requests(base: &str) -> (String, String) {
    let body = json!({"email": "agency@mail.example.com", "password": "agency password", "name": "Acme"});
    let token = call(base, reqwest::Method::POST, "/v1/auth/sign-up", None, Some(body)).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let row = call(
        base,
        reqwest::Method::POST,
        "/v1/shared-accounts",
        Some(&token),
        Some(json!({"email": "client@example.org", "role": "admin"})),
    )
    .await;
    (token, row["id"].as_str().unwrap().to_owned())
}

async fn wait_delivery(base: &str, token: &str, id: &str, want: &str, seconds: u64) {
    let mut last = String::new();
    for _ in 0..seconds * 10 {
        let row = call(base, reqwest::Method::GET, &format!("/v1/shared-accounts/{id}"), Some(token), None).await;
        last = row["delivery"].as_str().unwrap().to_owned();
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("delivery stayed {last}, wanted {want}");
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("clients-delivery-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A TCP front for SES that we own (so no other test can take its port): while `down`
/// it drops every connection, otherwise it forwards to `upstream`.
async fn outage_proxy(upstream: u16, down: Arc<AtomicBool>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if down.load(Ordering::SeqCst) {
                drop(inbound);
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn an_ses_outage_is_retried_until_the_email_is_delivered() {
    let Some(bin) = moto_bin() else { return };
    let moto_port = free_port();
    let moto = start_moto(&bin, moto_port).await;
    let down = Arc::new(AtomicBool::new(true));
    let port = outage_proxy(moto_port, down.clone()).await;
    let dir = temp_dir();
    // SES is down when the request is made.
    let running = app::start(config(&dir, port, "no-reply@mail.example.com")).await.unwrap();
    let base = format!("http://{}", running.addr);
    let (agency, id) = agency_requests(&base).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    wait_delivery(&base, &agency, &id, "queued", 1).await;
    // SES comes back: the worker's next retry delivers.
    down.store(false, Ordering::SeqCst);
    wait_delivery(&base, &agency, &id, "sent", 30).await;
    let sent = sent_messages(&moto.url).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    running.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_permanent_rejection_fails_the_email_visibly_and_resend_is_offered() {
    let Some(bin) = moto_bin() else { return };
    let port = free_port();
    let moto = start_moto(&bin, port).await;
    let dir = temp_dir();
    let running = app::start(config(&dir, port, "no-reply@unverified.example.net")).await.unwrap();
    let base = format!("http://{}", running.addr);
    let (agency, id) = agency_requests(&base).await;
    wait_delivery(&base, &agency, &id, "failed", 10).await;
    let row = call(&base, reqwest::Method::GET, &format!("/v1/shared-accounts/{id}"), Some(&agency), None).await;
    assert_eq!(row["actions"], json!(["resend", "remove"]));
    assert!(sent_messages(&moto.url).await.is_empty());
    running.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_stop_between_commit_and_send_delivers_exactly_once_after_restart() {
    let Some(bin) = moto_bin() else { return };
    let port = free_port();
    let moto = start_moto(&bin, port).await;
    let dir = temp_dir();
    // The first process never gets to send: its worker polls once an hour.
    let mut first = config(&dir, port, "no-reply@mail.example.com");
    first.mail_poll_ms = 3_600_000;
    let running = app::start(first).await.unwrap();
    let base = format!("http://{}", running.addr);
    let (agency, id) = agency_requests(&base).await;
    running.stop().await.unwrap();
    assert!(sent_messages(&moto.url).await.is_empty(), "nothing was sent before the stop");

    let running = app::start(config(&dir, port, "no-reply@mail.example.com")).await.unwrap();
    let base = format!("http://{}", running.addr);
    let signed_in = call(
        &base,
        reqwest::Method::POST,
        "/v1/auth/sign-in",
        None,
        Some(json!({"email": "agency@mail.example.com", "password": "agency password"})),
    )
    .await;
    let agency2 = signed_in["token"].as_str().unwrap();
    assert_ne!(agency, agency2);
    wait_delivery(&base, agency2, &id, "sent", 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = sent_messages(&moto.url).await;
    assert_eq!(sent.len(), 1, "exactly one email: {sent:?}");
    let body = sent[0].to_string();
    let token_at = body.find("grant-access?token=").expect("the link survived the restart");
    let token = &body[token_at + 19..token_at + 19 + 43];
    let link = reqwest::get(format!("{base}/v1/access-requests/by-token/{token}")).await.unwrap();
    assert_eq!(link.status(), 200, "the emailed link is the live one");
    running.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
