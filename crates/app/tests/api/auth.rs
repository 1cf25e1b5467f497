//! Sign-up, sign-in, sign-out, me.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn sign_up_creates_an_unverified_free_account_and_signs_in() {
    let app = spawn_app().await;
    let r = app
        .call(
            Method::POST,
            "/v1/auth/sign-up",
            None,
            Some(json!({"email": " Ana@Example.com ", "password": PASSWORD, "name": "Ana"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["account"]["email"], "ana@example.com");
    assert_eq!(r.body["account"]["email_verified"], false);
    assert_eq!(r.body["account"]["plan"], "free");
    assert_eq!(r.body["token"].as_str().unwrap().len(), 43);
    let me = app.get("/v1/me", r.body["token"].as_str().unwrap()).await;
    assert_eq!((me.status, me.body["name"].as_str()), (StatusCode::OK, Some("Ana")));
    app.stop().await;
}

#[tokio::test]
async fn sign_up_rejects_bad_input_and_taken_emails() {
    let app = spawn_app().await;
    app.sign_up("ana@example.com", None).await;
    for (body, code) in [
        (json!({"email": "ANA@example.com", "password": PASSWORD}), "email_taken"),
        (json!({"email": "not-an-email", "password": PASSWORD}), "validation_failed"),
        (json!({"email": "bob@example.com", "password": "short"}), "validation_failed"),
        (json!({"email": "bob@example.com", "password": PASSWORD, "name": "Bob\r\nBcc: x@y.z"}), "validation_failed"),
    ] {
        let r = app.call(Method::POST, "/v1/auth/sign-up", None, Some(body.clone())).await;
        assert_eq!(r.code(), code, "{body} -> {r:?}");
        assert!(r.content_type.starts_with("application/problem+json"), "{r:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn sign_in_answers_alike_for_unknown_email_and_wrong_password() {
    let app = spawn_app().await;
    app.sign_up("ana@example.com", None).await;
    let ok = app
        .call(Method::POST, "/v1/auth/sign-in", None, Some(json!({"email": "ANA@example.com", "password": PASSWORD})))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    let wrong = app
        .call(
            Method::POST,
            "/v1/auth/sign-in",
            None,
            Some(json!({"email": "ana@example.com", "password": "wrong password"})),
        )
        .await;
    let unknown = app
        .call(
            Method::POST,
            "/v1/auth/sign-in",
            None,
            Some(json!({"email": "nobody@example.com", "password": "wrong password"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.status, unknown.status);
    app.stop().await;
}

#[tokio::test]
async fn sign_in_is_throttled_per_email() {
    let app = spawn_app().await;
    app.sign_up("ana@example.com", None).await;
    let mut last = None;
    for _ in 0..11 {
        last = Some(
            app.call(
                Method::POST,
                "/v1/auth/sign-in",
                None,
                Some(json!({"email": "ana@example.com", "password": "guess guess"})),
            )
            .await,
        );
    }
    let r = last.unwrap();
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{r:?}");
    assert!(r.retry_after.is_some());
    app.stop().await;
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let app = spawn_app().await;
    let (token, _) = app.sign_up("ana@example.com", None).await;
    let r = app.call(Method::POST, "/v1/auth/sign-out", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let me = app.get("/v1/me", &token).await;
    assert_eq!((me.status, me.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    app.stop().await;
}

/// A new request resolves its bearer inside the write (`request_access_as`): a
/// signed-out, unknown or malformed token is still answered 401 before the domain's
/// check of the address, and writes nothing; a live one writes.
#[tokio::test]
async fn a_new_request_needs_a_live_session_whatever_its_body() {
    let app = spawn_app().await;
    let (token, _) = app.sign_up("agency@example.com", None).await;
    let (ended, _) = app.sign_up("ended@example.com", None).await;
    assert_eq!(app.call(Method::POST, "/v1/auth/sign-out", Some(&ended), None).await.status, StatusCode::NO_CONTENT);
    let unknown = "A".repeat(token.len());
    // Past the body's pattern (checked before any handler), refused by the domain.
    let too_long = format!("{}@example.com", "a".repeat(65));
    for bearer in [ended.as_str(), unknown.as_str(), "not-a-token"] {
        for email in ["client@example.com", too_long.as_str()] {
            let r = app.post("/v1/shared-accounts", bearer, json!({"email": email, "role": "admin"})).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{bearer} {email}: {r:?}");
        }
    }
    let r = app.post("/v1/shared-accounts", &token, json!({"email": too_long, "role": "admin"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    let r = app.post("/v1/shared-accounts", &token, json!({"email": "client@example.com", "role": "admin"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let list = app.get("/v1/shared-accounts", &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "only the live session's request was written");
    app.stop().await;
}

#[tokio::test]
async fn requests_without_or_with_a_bad_token_are_unauthorized() {
    let app = spawn_app().await;
    let none = app.call(Method::GET, "/v1/me", None, None).await;
    let bad = app.get("/v1/me", "not-a-token").await;
    for r in [none, bad] {
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{r:?}");
        assert!(r.content_type.starts_with("application/problem+json"));
    }
    app.stop().await;
}
