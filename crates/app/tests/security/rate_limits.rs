//! Rate limits (catalogue 37, 38; rule 8): guessing and flooding end in 429 with
//! `Retry-After`, per email, per account, per recipient and per address, and an
//! office sharing one address still gets at least 60 requests a minute.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{PASSWORD, Reply, logs, random_token, spawn_with};

fn assert_429(r: &Reply, what: &str) {
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{what}: {r:?}");
    let wait: u64 = r.retry_after.as_deref().expect("Retry-After").parse().unwrap();
    assert!(wait >= 1, "{what}: {r:?}");
    assert_eq!(r.body["retry_after"], wait, "{what}: the body says the same");
    assert!(r.content_type.starts_with("application/problem+json"));
}

#[tokio::test]
async fn sign_in_guessing_is_429_with_retry_after_per_email_and_per_address() {
    let app = spawn_with(|c| c.per_ip_per_minute = 1_000).await;
    app.sign_up("ana@example.com", None).await;
    let guess = |email: String, password: &'static str| {
        app.call(Method::POST, "/v1/auth/sign-in", None, Some(json!({"email": email, "password": password})))
    };
    for i in 0..10 {
        let r = guess("ana@example.com".into(), "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "guess {i}: {r:?}");
    }
    // The burst is spent: even the right password waits now, in any case variant.
    assert_429(&guess(" ANA@example.com".into(), PASSWORD).await, "per email");
    // Another email is unaffected.
    let r = guess("bob@example.com".into(), "wrong password").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    app.stop().await;

    // One address, many emails. Each guess costs a password hash, so the budget refills
    // a little while they run: the limit still bites, after at least 60.
    let app = spawn_with(|c| c.per_ip_per_minute = 60).await;
    let mut answers = vec![];
    for i in 0..200 {
        let body = json!({"email": format!("user{i}@example.com"), "password": "wrong password"});
        let r = app.call(Method::POST, "/v1/auth/sign-in", None, Some(body)).await;
        let limited = r.status == StatusCode::TOO_MANY_REQUESTS;
        answers.push(r);
        if limited {
            break;
        }
    }
    let (last, passed) = answers.split_last().unwrap();
    assert!(passed.len() >= 60 && passed.iter().all(|r| r.status == StatusCode::UNAUTHORIZED), "60 a minute pass");
    assert_429(last, "per address");
    assert!(logs().contains("rate limited"), "throttling is logged");
    app.stop().await;
}

#[tokio::test]
async fn token_guessing_is_429_with_retry_after_per_address_and_per_account() {
    let app = spawn_with(|c| c.per_ip_per_minute = 60).await;
    let mut answers = vec![];
    for _ in 0..61 {
        answers
            .push(app.call(Method::GET, &format!("/v1/access-requests/by-token/{}", random_token()), None, None).await);
    }
    assert!(answers[..60].iter().all(|r| r.code() == "invalid_link"), "60 a minute from one address pass");
    assert_429(&answers[60], "link lookups per address");
    app.stop().await;

    // Signed in, approvals by link are limited per account (30 a minute).
    let app = spawn_with(|c| c.per_ip_per_minute = 1_000).await;
    let (guesser, _) = app.sign_up("guesser@example.com", None).await;
    let mut answers = vec![];
    for _ in 0..31 {
        let path = format!("/v1/access-requests/by-token/{}/approve", random_token());
        answers.push(app.post(&path, &guesser, json!({})).await);
    }
    assert!(answers[..30].iter().all(|r| r.code() == "invalid_link"), "{:?}", answers[0]);
    assert_429(&answers[30], "approvals per account");
    assert!(logs().contains("rate limited"), "throttling is logged");
    app.stop().await;
}

#[tokio::test]
async fn flooding_one_recipient_with_requests_is_429_with_retry_after() {
    let app = spawn_with(|c| c.recipient_daily_cap = 3).await;
    for i in 0..3 {
        let (agency, _) = app.sign_up(&format!("agency{i}@example.com"), None).await;
        app.request(&agency, "victim@example.com", "admin").await;
    }
    let (late, _) = app.sign_up("late@example.com", None).await;
    let r = app.post("/v1/shared-accounts", &late, json!({"email": "VICTIM@example.com ", "role": "admin"})).await;
    assert_429(&r, "recipient cap");
    let wait: u64 = r.retry_after.unwrap().parse().unwrap();
    assert!(wait > 23 * 3600, "the window is a day: {wait}");
    // Through bulk as well; other recipients are unaffected.
    let bulk = json!({"requests": [{"email": "victim@example.com", "role": "biller"}, {"email": "other@example.com", "role": "biller"}]});
    let r = app.post("/v1/shared-accounts/bulk", &late, bulk).await;
    let codes: Vec<_> =
        r.body["results"].as_array().unwrap().iter().map(|x| x["code"].as_str().map(str::to_owned)).collect();
    assert_eq!(codes, [Some("rate_limited".to_owned()), None], "{r:?}");
    app.settle().await;
    assert_eq!(crate::support::emails_to(&app.mail_dir, "victim@example.com").len(), 3, "three emails, no more");
    app.stop().await;
}

#[tokio::test]
async fn resend_flooding_is_429_with_retry_after() {
    let app = spawn_with(|_| {}).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    let r = app.post_empty(&format!("/v1/shared-accounts/{row}/resend"), &agency).await;
    assert_429(&r, "cooldown");
    assert!(r.retry_after.unwrap().parse::<u64>().unwrap() <= 60);
    app.stop().await;

    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    for i in 0..5 {
        let r = app.post_empty(&format!("/v1/shared-accounts/{row}/resend"), &agency).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "resend {i}: {r:?}");
    }
    let r = app.post_empty(&format!("/v1/shared-accounts/{row}/resend"), &agency).await;
    assert_429(&r, "daily cap");
    app.settle().await;
    assert_eq!(app.grant_tokens("client@example.com", 6).await.len(), 6, "the first send and five resends");
    app.stop().await;
}
