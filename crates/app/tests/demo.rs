//! `app demo` seeds clients in every state and websites in every status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

#[tokio::test]
async fn the_demo_has_every_state_status_and_delivery() {
    let dir = std::env::temp_dir().join(format!("clients-demo-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = app::Config {
        database_url: format!("sqlite:{}", dir.join("demo.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        mail_dir: dir.join("mail"),
        ..app::Config::default()
    };
    let printed = app::demo::seed(&config).await.unwrap();
    let token =
        printed.lines().find(|l| l.contains("agency@demo.test")).unwrap().split_whitespace().last().unwrap().to_owned();
    let running = app::start(config).await.unwrap();
    let list: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/v1/shared-accounts", running.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = list["items"].as_array().unwrap();
    let seen = |key: &str| rows.iter().map(|r| r[key].as_str().unwrap().to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(seen("state"), ["approved", "declined", "requested"].map(str::to_owned).into());
    assert_eq!(seen("status"), ["all_good", "major_issue", "no_data", "not_connected"].map(str::to_owned).into());
    assert_eq!(seen("delivery"), ["failed", "sent"].map(str::to_owned).into());
    assert!(rows.iter().any(|r| r["blocked_on_slots"] == true));
    assert!(printed.contains("/grant-access?token="));
    running.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
