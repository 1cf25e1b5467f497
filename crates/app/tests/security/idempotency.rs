//! `Idempotency-Key` (catalogue 31): a retried POST gets the first answer again with
//! one row and one email; another body under the same key is 422; concurrent
//! duplicates never make two; keys belong to one account.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{SecApp, all_at_once, emails_to, reply, spawn_app};

fn keyed(app: &SecApp, token: &str, key: &str, body: &Value) -> reqwest::RequestBuilder {
    app.req(Method::POST, "/v1/shared-accounts", Some(token)).header("Idempotency-Key", key).json(body)
}

#[tokio::test]
async fn the_same_key_twice_gets_the_same_answer_one_row_and_one_email() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let body = json!({"email": "client@example.com", "role": "admin"});
    let first = keyed(&app, &agency, "invite-1", &body).send().await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = reply(first).await;
    let again = keyed(&app, &agency, "invite-1", &body).send().await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let again = reply(again).await;
    assert_eq!((first.status, again.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first.body, again.body, "the same response");
    assert_eq!(app.get("/v1/shared-accounts", &agency).await.body["items"].as_array().unwrap().len(), 1, "one row");
    app.wait_emails("client@example.com", "access_requested", 1).await;
    app.settle().await;
    assert_eq!(emails_to(&app.mail_dir, "client@example.com").len(), 1, "one email");
    app.stop().await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_writes_nothing() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let r = app.send(keyed(&app, &agency, "invite-1", &json!({"email": "client@example.com", "role": "admin"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    for other in [
        json!({"email": "other@example.com", "role": "admin"}),
        json!({"email": "client@example.com", "role": "biller"}),
    ] {
        let r = app.send(keyed(&app, &agency, "invite-1", &other)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"), "{r:?}");
        r.assert_problem_4xx("reused key");
    }
    // Another route under the same key is another request too.
    let r = app
        .send(
            app.req(Method::POST, "/v1/shared-accounts/bulk", Some(&agency))
                .header("Idempotency-Key", "invite-1")
                .json(&json!({"requests": [{"email": "client@example.com", "role": "admin"}]})),
        )
        .await;
    assert_eq!(r.code(), "idempotency_key_reused", "{r:?}");
    assert_eq!(app.get("/v1/shared-accounts", &agency).await.body["items"].as_array().unwrap().len(), 1);
    app.settle().await;
    assert!(emails_to(&app.mail_dir, "other@example.com").is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_make_one_row_and_one_email() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let body = json!({"email": "client@example.com", "role": "admin"});
    let replies = all_at_once((0..6).map(|_| keyed(&app, &agency, "invite-race", &body)).collect()).await;
    let created: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert!(!created.is_empty(), "{replies:?}");
    assert!(created.iter().all(|r| r.body == created[0].body), "every success is the same answer");
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "idempotency_in_progress"), "{r:?}");
        assert!(r.content_type.starts_with("application/problem+json"));
    }
    assert_eq!(app.get("/v1/shared-accounts", &agency).await.body["items"].as_array().unwrap().len(), 1, "one row");
    app.wait_emails("client@example.com", "access_requested", 1).await;
    app.settle().await;
    assert_eq!(emails_to(&app.mail_dir, "client@example.com").len(), 1, "one email");
    app.stop().await;
}

#[tokio::test]
async fn keys_belong_to_one_account_and_never_replay_another_accounts_answer() {
    let app = spawn_app().await;
    let (a, _) = app.sign_up("a@example.com", None).await;
    let (b, _) = app.sign_up("b@example.com", None).await;
    let body = json!({"email": "client@example.com", "role": "admin"});
    let first = app.send(keyed(&app, &a, "shared-key", &body)).await;
    let second = app.send(keyed(&app, &b, "shared-key", &body)).await;
    assert_eq!((first.status, second.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert!(second.headers.get("idempotent-replayed").is_none(), "B ran its own request");
    assert_ne!(first.body["id"], second.body["id"], "B never sees A's row");
    assert_eq!(app.get("/v1/shared-accounts", &b).await.body["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}
