//! The SES adapter against a real SES-compatible server on loopback (moto in server
//! mode): verified sends are recorded, an unverified sender is a permanent failure,
//! an unreachable endpoint a transient one. `cargo xtask test` installs moto and sets
//! `CLIENTS_TEST_MOTO_SERVER`; under CI the test fails without it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_sesv2::config::{Credentials, Region};
use chrono::{DateTime, TimeDelta};
use clients_domain::{DeliveryError, Email, GrantToken, Mailer, Notification, OutboxMessageId, OutgoingEmail, Role};
use clients_mailer::{MailContext, SesMailer};

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_moto() -> Option<Moto> {
    let Ok(bin) = std::env::var("CLIENTS_TEST_MOTO_SERVER") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the SES suite: set CLIENTS_TEST_MOTO_SERVER (cargo xtask test does)"
        );
        eprintln!("skipping: CLIENTS_TEST_MOTO_SERVER is not set (cargo xtask test sets it up)");
        return None;
    };
    let port = free_port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let url = format!("http://127.0.0.1:{port}");
    let moto = Moto { child, url };
    for _ in 0..200 {
        if reqwest::get(format!("{}/moto-api/data.json", moto.url)).await.is_ok() {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not start");
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(endpoint)
        .timeout_config(aws_config::timeout::TimeoutConfig::builder().operation_timeout(Duration::from_secs(5)).build())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

fn ctx(from: &str) -> MailContext {
    MailContext { public_url: "https://app.example.com".into(), from: from.into(), product: "NitroPack".into() }
}

fn grant_email(token: &GrantToken) -> OutgoingEmail {
    OutgoingEmail {
        id: OutboxMessageId::from_uuid(uuid::Uuid::new_v4()),
        to: Email::parse("client@example.org").unwrap(),
        notification: Notification::AccessRequested {
            agency_name: "Acme <b>Agency</b>".into(),
            agency_email: Email::parse("agency@example.org").unwrap(),
            role: Role::Admin,
            token: token.clone(),
            expires_at: DateTime::UNIX_EPOCH + TimeDelta::days(7),
            resent: false,
        },
        request: None,
        created_at: DateTime::UNIX_EPOCH,
    }
}

#[tokio::test]
async fn ses_sends_verified_mail_and_classifies_failures() {
    let Some(moto) = start_moto().await else { return };
    let config = sdk_config(&moto.url).await;
    let mailer = SesMailer::from_sdk_config(&config, ctx("Clients <no-reply@mail.example.com>"), None);
    mailer.client().create_email_identity().email_identity("mail.example.com").send().await.unwrap();

    let token = GrantToken::from_random([5; 32]);
    mailer.send(&grant_email(&token)).await.unwrap();

    let data: serde_json::Value =
        reqwest::get(format!("{}/moto-api/data.json", moto.url)).await.unwrap().json().await.unwrap();
    let sent = data["ses"]["Message"].to_string();
    assert!(sent.contains("client@example.org"), "{sent}");
    assert!(sent.contains("Acme <b>Agency</b> requests Admin access"), "subject recorded: {sent}");
    assert!(sent.contains(&format!("grant-access?token={}", token.expose())), "link in the body: {sent}");

    // An unverified sender is rejected for good: no blind retries.
    let unverified = SesMailer::from_sdk_config(&config, ctx("no-reply@unverified.example.net"), None);
    let err = unverified.send(&grant_email(&token)).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(ref why) if why.contains("MessageRejected")), "{err:?}");

    // An endpoint that drops every connection (we hold the port, so nobody else
    // answers on it): transient, worth retrying.
    let dropper = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dropper_port = dropper.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = dropper.accept().await {
            drop(socket);
        }
    });
    let down = SesMailer::from_sdk_config(
        &sdk_config(&format!("http://127.0.0.1:{dropper_port}")).await,
        ctx("no-reply@mail.example.com"),
        None,
    );
    let err = down.send(&grant_email(&token)).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
}
