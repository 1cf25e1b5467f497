//! Replays the README's curl walk-through verbatim against a freshly started service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[tokio::test]
async fn the_readme_walkthrough_works_verbatim() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("<!-- walkthrough:start -->").expect("start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    let block = &readme[start..end];
    let script = block.split_once("```sh\n").unwrap().1.rsplit_once("```").unwrap().0;

    let dir = std::env::temp_dir().join(format!("clients-walkthrough-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = app::Config {
        database_url: format!("sqlite:{}", dir.join("clients.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        mail_dir: dir.join("mail"),
        mail_poll_ms: 20,
        ..app::Config::default()
    };
    let running = app::start(config.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);

    let script = script.to_owned();
    let mail_dir = config.mail_dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("BASE", &base)
            .env("MAIL_DIR", &mail_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // Then `curl /metrics` shows what operators watch (issue 8), including the
    // approval the walk-through made and the email it delivered.
    let metrics = reqwest::get(format!("http://{}/metrics", running.addr)).await.unwrap().text().await.unwrap();
    running.stop().await.unwrap();
    for family in [
        "clients_http_requests_total{",
        "clients_http_request_duration_seconds_bucket{",
        "clients_db_pool_connections{state=\"open\"}",
        "clients_outbox_pending_messages",
        "clients_outbox_oldest_pending_age_seconds",
        "clients_emails_sent_total",
        "clients_emails_failed_total",
        "clients_approvals_total 1",
        "clients_slot_refusals_total 0",
    ] {
        assert!(metrics.contains(family), "/metrics lacks {family}:\n{metrics}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "walk-through failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines, ["sign_up", "developer", "not_connected", "shop.example.com", "impersonation_started"]);
    std::fs::remove_dir_all(&dir).ok();
}
