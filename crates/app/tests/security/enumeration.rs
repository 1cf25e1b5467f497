//! No enumeration and no header injection (catalogue 12, 16; rule 11): whether an
//! email has an account never shows in an answer, and grant links come from the
//! configured public URL only.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{PASSWORD, PUBLIC_URL, Reply, spawn_app, spawn_with};

/// The shape of a JSON value: its keys and their types, recursively; values dropped.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

/// A row without the fields that name the request itself.
fn anonymous(r: &Reply) -> Value {
    let mut v = r.body.clone();
    for k in ["id", "email", "requested_at", "last_sent_at"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

#[tokio::test]
async fn request_access_answers_alike_for_existing_and_unknown_emails() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    app.sign_up("existing@example.com", None).await;
    // A verified client on a full plan: the strongest signal there could be.
    app.request(&agency, "full@example.com", "biller").await;
    app.client_approves("full@example.com").await;
    let (agency2, _) = app.sign_up("agency2@example.com", None).await;

    let mut answers = vec![];
    for email in ["existing@example.com", "unknown@example.com", "full@example.com", "nobody@example.org"] {
        let started = Instant::now();
        let r = app.post("/v1/shared-accounts", &agency2, json!({"email": email, "role": "admin"})).await;
        answers.push((email, r, started.elapsed()));
    }
    for (email, r, _) in &answers {
        assert_eq!(r.status, StatusCode::CREATED, "{email}: {r:?}");
        assert_eq!(shape(&r.body), shape(&answers[0].1.body), "{email}");
        assert_eq!(anonymous(r), anonymous(&answers[0].1), "{email}");
        assert_eq!(r.headers.len(), answers[0].1.headers.len(), "{email}: same headers");
    }
    // No slow path either (the email is sent later, by the outbox worker).
    for (email, _, took) in &answers {
        assert!(*took < Duration::from_secs(2), "{email}: {took:?}");
    }
    // A duplicate is a conflict for either kind of address, alike.
    let dup_existing =
        app.post("/v1/shared-accounts", &agency2, json!({"email": "existing@example.com", "role": "biller"})).await;
    let dup_unknown =
        app.post("/v1/shared-accounts", &agency2, json!({"email": "unknown@example.com", "role": "biller"})).await;
    assert_eq!(dup_existing.status, StatusCode::CONFLICT);
    assert_eq!(dup_existing.body, dup_unknown.body);
    app.stop().await;
}

#[tokio::test]
async fn sign_in_answers_alike_for_unknown_emails_and_wrong_passwords() {
    let app = spawn_app().await;
    app.sign_up("ana@example.com", None).await;
    let svc = &app;
    let attempt = |email: &'static str, password: &'static str| async move {
        let started = Instant::now();
        let r =
            svc.call(Method::POST, "/v1/auth/sign-in", None, Some(json!({"email": email, "password": password}))).await;
        (r, started.elapsed())
    };
    let (wrong, wrong_took) = attempt("ana@example.com", "wrong password!").await;
    let (unknown, unknown_took) = attempt("nobody@example.com", "wrong password!").await;
    let (malformed, _) = attempt("not-an-email", "short").await;
    for r in [&wrong, &unknown, &malformed] {
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"), "{r:?}");
        assert_eq!(r.body, wrong.body);
        assert_eq!(r.headers.len(), wrong.headers.len());
    }
    // Both run one password hash: no timing oracle worth a factor of three. The best of
    // three tries of each keeps scheduler noise out of the comparison.
    let (mut wrong_took, mut unknown_took) = (wrong_took, unknown_took);
    for _ in 0..2 {
        wrong_took = wrong_took.min(attempt("ana@example.com", "wrong password!").await.1);
        unknown_took = unknown_took.min(attempt("nobody@example.com", "wrong password!").await.1);
    }
    let (fast, slow) = if wrong_took < unknown_took { (wrong_took, unknown_took) } else { (unknown_took, wrong_took) };
    assert!(
        slow < fast * 3 + Duration::from_millis(50),
        "wrong password {wrong_took:?}, unknown email {unknown_took:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn sign_up_errors_other_than_a_taken_email_do_not_depend_on_the_account_existing() {
    let app = spawn_app().await;
    app.sign_up("ana@example.com", None).await;
    for (label, password, name) in [
        ("short password", "short", Value::Null),
        ("control character in name", PASSWORD, json!("Ana\r\nBcc: x@example.com")),
    ] {
        let existing = app
            .call(
                Method::POST,
                "/v1/auth/sign-up",
                None,
                Some(json!({"email": "ana@example.com", "password": password, "name": name})),
            )
            .await;
        let unknown = app
            .call(
                Method::POST,
                "/v1/auth/sign-up",
                None,
                Some(json!({"email": "new@example.com", "password": password, "name": name})),
            )
            .await;
        existing.assert_problem_4xx(label);
        assert_eq!((existing.status, &existing.body), (unknown.status, &unknown.body), "{label}");
    }
    // The one thing an open sign-up must say (the address is taken) is throttled per
    // address, so it cannot be used to sweep a list of emails.
    app.stop().await;
    let app = spawn_with(|c| c.per_ip_per_minute = 60).await;
    let mut limited = None;
    for i in 0..200 {
        let body = json!({"email": format!("probe{i}@example.com"), "password": PASSWORD});
        let r = app.call(Method::POST, "/v1/auth/sign-up", None, Some(body)).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, r));
            break;
        }
    }
    let (i, r) = limited.expect("sign-up probes are rate limited");
    assert!(i >= 60, "at least 60 a minute from one address: {i}");
    assert!(r.retry_after.is_some(), "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn host_and_x_forwarded_host_never_reach_the_grant_link() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let evil = |req: reqwest::RequestBuilder| {
        req.header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "http")
            .header("x-forwarded-prefix", "/evil")
            .header("forwarded", "host=evil.example;proto=http")
            .header("x-original-url", "https://evil.example/")
    };
    let r = app
        .send(
            evil(app.req(Method::POST, "/v1/shared-accounts", Some(&agency)))
                .json(&json!({"email": "client@example.com", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let row = r.body["id"].as_str().unwrap().to_owned();
    let r = app.send(evil(app.req(Method::POST, &format!("/v1/shared-accounts/{row}/resend"), Some(&agency)))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let bulk = json!({"requests": [{"email": "bulk@example.com", "role": "biller"}]});
    let r = app.send(evil(app.req(Method::POST, "/v1/shared-accounts/bulk", Some(&agency))).json(&bulk)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");

    app.grant_tokens("client@example.com", 2).await;
    app.grant_tokens("bulk@example.com", 1).await;
    for to in ["client@example.com", "bulk@example.com"] {
        for mail in crate::support::emails_to(&app.mail_dir, to) {
            assert!(!mail.raw.contains("evil"), "{to}: {}", mail.raw);
            assert!(mail.text.contains(&format!("{PUBLIC_URL}/grant-access?token=")), "{}", mail.text);
            assert!(mail.html.contains(&format!("{PUBLIC_URL}/grant-access?token=")), "{}", mail.html);
        }
    }
    // The spec's server URL is the configured one too.
    let spec = app.send(evil(app.req(Method::GET, "/openapi.json", None))).await;
    assert!(!spec.text.contains("evil"), "the spec follows the Host header");
    app.stop().await;
}
