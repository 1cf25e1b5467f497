//! The file mailer writes one readable `.eml` per message, once per message.

use chrono::{DateTime, TimeDelta};
use clients_domain::{Email, GrantToken, Mailer, Notification, OutboxMessageId, OutgoingEmail, Role};
use clients_mailer::{FileMailer, MailContext};
use uuid::Uuid;

fn ctx() -> MailContext {
    MailContext {
        public_url: "http://127.0.0.1:8080".into(),
        from: "no-reply@example.com".into(),
        product: "NitroPack".into(),
    }
}

#[tokio::test]
async fn writes_one_eml_per_message_and_a_retry_overwrites_it() {
    let dir = std::env::temp_dir().join(format!("clients-mail-{}", Uuid::new_v4()));
    let mailer = FileMailer::new(&dir, ctx()).unwrap();
    let token = GrantToken::from_random([9; 32]);
    let email = OutgoingEmail {
        id: OutboxMessageId::from_uuid(Uuid::from_u128(7)),
        to: Email::parse("client@example.com").unwrap(),
        notification: Notification::AccessRequested {
            agency_name: "Acme".into(),
            agency_email: Email::parse("agency@example.com").unwrap(),
            role: Role::Biller,
            token: token.clone(),
            expires_at: DateTime::UNIX_EPOCH + TimeDelta::days(7),
            resent: false,
        },
        request: None,
        created_at: DateTime::UNIX_EPOCH,
    };
    mailer.send(&email).await.unwrap();
    mailer.send(&email).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let bytes = std::fs::read(&files[0]).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains(&format!("http://127.0.0.1:8080/grant-access?token={}", token.expose())), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
