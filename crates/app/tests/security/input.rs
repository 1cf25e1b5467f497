//! Hostile input (catalogue 22-24): every malformed, oversized or smuggling body is a
//! 4xx `application/problem+json` answer, never a 500, and writes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{PASSWORD, SERVICE_TOKEN, SecApp, spawn_app};

/// Every route that takes a JSON body, with a valid body, for the given tokens.
async fn body_routes(app: &SecApp) -> (Vec<(Method, String, Option<String>, Value)>, String, String) {
    let (agency, row, client, client_id) = app.approved("agency@example.com", "client@example.com", "developer").await;
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    let member = team.body["members"][0]["id"].as_str().unwrap().to_owned();
    let site =
        app.post(&format!("/v1/accounts/{client_id}/websites"), &client, json!({"domain": "shop.example.com"})).await;
    let site = site.body["id"].as_str().unwrap().to_owned();
    let _ = row;
    let routes = vec![
        (Method::POST, "/v1/auth/sign-up".to_owned(), None, json!({"email": "new@example.com", "password": PASSWORD})),
        (
            Method::POST,
            "/v1/auth/sign-in".to_owned(),
            None,
            json!({"email": "agency@example.com", "password": PASSWORD}),
        ),
        (
            Method::POST,
            "/v1/shared-accounts".to_owned(),
            Some(agency.clone()),
            json!({"email": "x@example.com", "role": "admin"}),
        ),
        (
            Method::POST,
            "/v1/shared-accounts/bulk".to_owned(),
            Some(agency.clone()),
            json!({"requests": [{"email": "y@example.com", "role": "admin"}]}),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{client_id}/websites"),
            Some(client.clone()),
            json!({"domain": "blog.example.com"}),
        ),
        (Method::PUT, format!("/v1/accounts/{client_id}/subscription"), Some(client.clone()), json!({"plan": "pro"})),
        (
            Method::PATCH,
            format!("/v1/accounts/{client_id}/team/members/{member}"),
            Some(client.clone()),
            json!({"role": "admin"}),
        ),
        (
            Method::PUT,
            format!("/v1/internal/websites/{site}/status"),
            Some(SERVICE_TOKEN.to_owned()),
            json!({"connected": true, "health": "ok"}),
        ),
    ];
    (routes, agency, client)
}

#[tokio::test]
async fn mass_assignment_of_server_fields_is_rejected_on_every_body() {
    let app = spawn_app().await;
    let (routes, agency, client) = body_routes(&app).await;
    let before =
        (app.get("/v1/shared-accounts", &agency).await.body, app.get("/v1/access-requests", &client).await.body);
    let smuggled = [
        ("status", json!("all_good")),
        ("state", json!("approved")),
        ("client_id", json!(uuid::Uuid::now_v7())),
        ("account_id", json!(uuid::Uuid::now_v7())),
        ("slot_limit", json!(1000)),
        ("slots", json!({"used": 0, "limit": 1000})),
        ("expires_at", json!("2999-01-01T00:00:00Z")),
        ("email_verified", json!(true)),
        ("plan", json!("scale")),
        ("role", json!("admin")),
        ("id", json!(uuid::Uuid::now_v7())),
    ];
    for (method, path, token, body) in &routes {
        for (field, value) in &smuggled {
            let mut evil = body.clone();
            let target = if path.ends_with("/bulk") { &mut evil["requests"][0] } else { &mut evil };
            if target.get(*field).is_some() {
                continue;
            }
            target[*field] = value.clone();
            let r = app.call(method.clone(), path, token.as_deref(), Some(evil)).await;
            r.assert_problem_4xx(&format!("{method} {path} with {field}"));
            assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "validation_failed"), "{method} {path} {field}");
        }
    }
    let after =
        (app.get("/v1/shared-accounts", &agency).await.body, app.get("/v1/access-requests", &client).await.body);
    assert_eq!(before, after, "nothing was written");
    let r = app
        .call(Method::POST, "/v1/auth/sign-in", None, Some(json!({"email": "new@example.com", "password": PASSWORD})))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "no account was created: {r:?}");
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_problem_json_declared_or_chunked() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let big = format!("{{\"email\": \"{}@example.com\", \"role\": \"admin\"}}", "a".repeat(70 * 1024));
    let r = app
        .send(
            app.req(Method::POST, "/v1/shared-accounts", Some(&agency))
                .header("content-type", "application/json")
                .body(big.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"), "{r:?}");
    r.assert_problem_4xx("declared");

    // Chunked, no Content-Length: counted as it arrives.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/shared-accounts HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {agency}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in big.as_bytes().chunks(8 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.to_lowercase().contains("content-type: application/problem+json"), "{answer}");
    assert_eq!(app.get("/v1/shared-accounts", &agency).await.body["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn nul_bytes_anywhere_are_4xx_never_500() {
    let app = spawn_app().await;
    let (agency, row, client, client_id) = app.approved("agency@example.com", "client@example.com", "admin").await;
    let nul = "a\u{0}b";
    let cases: Vec<(Method, String, Option<&str>, Option<Value>)> = vec![
        (
            Method::POST,
            "/v1/auth/sign-up".into(),
            None,
            Some(json!({"email": format!("{nul}@example.com"), "password": PASSWORD})),
        ),
        (
            Method::POST,
            "/v1/auth/sign-up".into(),
            None,
            Some(json!({"email": "n1@example.com", "password": format!("{PASSWORD}{nul}")})),
        ),
        (
            Method::POST,
            "/v1/auth/sign-up".into(),
            None,
            Some(json!({"email": "n2@example.com", "password": PASSWORD, "name": nul})),
        ),
        (
            Method::POST,
            "/v1/auth/sign-in".into(),
            None,
            Some(json!({"email": format!("agency@example.com{nul}"), "password": PASSWORD})),
        ),
        (
            Method::POST,
            "/v1/shared-accounts".into(),
            Some(&agency),
            Some(json!({"email": format!("x{nul}@example.com"), "role": "admin"})),
        ),
        (
            Method::POST,
            "/v1/shared-accounts".into(),
            Some(&agency),
            Some(json!({"email": "x@example.com", "role": format!("admin{nul}")})),
        ),
        (Method::GET, format!("/v1/shared-accounts?q={}", "%00"), Some(&agency), None),
        (Method::GET, format!("/v1/shared-accounts?cursor={}", "%00"), Some(&agency), None),
        (Method::GET, format!("/v1/shared-accounts/{row}/websites?q=%00"), Some(&agency), None),
        (
            Method::POST,
            format!("/v1/accounts/{client_id}/websites"),
            Some(&client),
            Some(json!({"domain": format!("sh{nul}op.example.com")})),
        ),
        (Method::GET, format!("/v1/accounts/{client_id}/websites?q=%00"), Some(&client), None),
        (Method::GET, "/v1/access-requests/by-token/%00".into(), None, None),
        (
            Method::POST,
            "/v1/shared-accounts".into(),
            Some(&agency),
            Some(json!({"email": "y@example.com", "role": "admin", nul: 1})),
        ),
    ];
    for (method, path, token, body) in cases {
        let r = app.call(method.clone(), &path, token, body.clone()).await;
        r.assert_problem_4xx(&format!("{method} {path} {body:?}"));
    }
    // Settings documents are free-form JSON: a NUL inside is stored and returned, or
    // refused, but never a 500 (PostgreSQL refuses \u0000 in text and jsonb).
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/accounts/{client_id}/settings"),
            Some(&client),
            Some(json!({"k": nul, nul: "v"})),
        )
        .await;
    assert!(r.status.is_success() || r.status.is_client_error(), "settings with NUL: {r:?}");
    if r.status.is_success() {
        assert_eq!(
            app.get(&format!("/v1/accounts/{client_id}/settings"), &client).await.body,
            json!({"k": nul, nul: "v"})
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn four_byte_utf8_is_stored_intact_or_refused_never_500() {
    let app = spawn_app().await;
    let name = "Agence 😀 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎";
    let r = app
        .call(
            Method::POST,
            "/v1/auth/sign-up",
            None,
            Some(json!({"email": "emoji@example.com", "password": "🔑🔑🔑🔑🔑🔑🔑🔑", "name": name})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/me", &token).await.body["name"], name);
    let r = app
        .call(
            Method::POST,
            "/v1/auth/sign-in",
            None,
            Some(json!({"email": "emoji@example.com", "password": "🔑🔑🔑🔑🔑🔑🔑🔑"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "the 4-byte password works: {r:?}");
    for (method, path, body) in [
        (Method::POST, "/v1/shared-accounts".to_owned(), Some(json!({"email": "😀@example.com", "role": "admin"}))),
        (Method::POST, "/v1/shared-accounts".to_owned(), Some(json!({"email": "a@😀.example.com", "role": "admin"}))),
        (Method::GET, "/v1/shared-accounts?q=%F0%9F%98%80".to_owned(), None),
        (Method::GET, "/v1/access-requests/by-token/%F0%9F%98%80%F0%9F%98%80".to_owned(), None),
    ] {
        let r = app.call(method.clone(), &path, Some(&token), body.clone()).await;
        assert!(!r.status.is_server_error(), "{method} {path}: {r:?}");
        if !r.status.is_success() {
            r.assert_problem_4xx(&path);
        }
    }
    let me = app.get("/v1/me", &token).await;
    let id = me.body["id"].as_str().unwrap();
    let r = app.post(&format!("/v1/accounts/{id}/websites"), &token, json!({"domain": "😀.example.com"})).await;
    assert!(r.status.is_client_error() || r.status == StatusCode::CREATED, "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn emails_longer_than_254_characters_are_refused_everywhere() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    for len in [255, 300, 320, 1_000] {
        let email = format!("{}@example.com", "a".repeat(len - "@example.com".len()));
        let body = json!({"email": email, "password": PASSWORD});
        let r = app.call(Method::POST, "/v1/auth/sign-up", None, Some(body.clone())).await;
        r.assert_problem_4xx(&format!("sign-up {len}"));
        let r = app.call(Method::POST, "/v1/auth/sign-in", None, Some(body)).await;
        r.assert_problem_4xx(&format!("sign-in {len}"));
        let r = app.post("/v1/shared-accounts", &agency, json!({"email": email, "role": "admin"})).await;
        r.assert_problem_4xx(&format!("request {len}"));
        let r = app
            .post("/v1/shared-accounts/bulk", &agency, json!({"requests": [{"email": email, "role": "admin"}]}))
            .await;
        assert!(
            r.status == StatusCode::OK && r.body["results"][0]["outcome"] == "rejected" || r.status.is_client_error(),
            "{r:?}"
        );
    }
    // A long local part (over 64) in a short address is refused too.
    let r = app
        .post(
            "/v1/shared-accounts",
            &agency,
            json!({"email": format!("{}@example.com", "b".repeat(65)), "role": "admin"}),
        )
        .await;
    r.assert_problem_4xx("local part over 64");
    assert_eq!(app.get("/v1/shared-accounts", &agency).await.body["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn bad_json_and_wrong_content_types_are_4xx_problem_json() {
    let app = spawn_app().await;
    let (routes, _, _) = body_routes(&app).await;
    for (method, path, token, _) in &routes {
        for (label, content_type, body) in [
            ("bad json", Some("application/json"), "{\"email\": "),
            ("trailing garbage", Some("application/json"), "{} {}"),
            ("array", Some("application/json"), "[]"),
            ("wrong type", Some("application/json"), "{\"email\": 1, \"role\": true, \"password\": []}"),
            ("empty", Some("application/json"), ""),
            ("text", Some("text/plain"), "hello"),
            ("form", Some("application/x-www-form-urlencoded"), "email=a%40b.c&role=admin"),
            ("xml", Some("application/xml"), "<a/>"),
            ("no content type", None, "{}"),
        ] {
            let mut req = app.req(method.clone(), path, token.as_deref()).body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let r = app.send(req).await;
            r.assert_problem_4xx(&format!("{method} {path} {label}"));
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn html_and_line_breaks_in_an_agency_name_are_escaped_in_email_and_kept_out_of_headers() {
    let app = spawn_app().await;
    // Control characters (CR, LF) are refused outright.
    let r = app
        .call(
            Method::POST,
            "/v1/auth/sign-up",
            None,
            Some(json!({"email": "crlf@example.com", "password": PASSWORD, "name": "Acme\r\nBcc: evil@example.com"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{r:?}");
    // Markup and Unicode line separators are kept as text.
    let name = "<script>alert(1)</script> & \"Co\" \u{2028}Bcc: evil@example.com";
    let (agency, _) = app.sign_up("agency@example.com", Some(name)).await;
    app.request(&agency, "client@example.com", "admin").await;
    let mail = app.wait_emails("client@example.com", "access_requested", 1).await.remove(0);
    assert!(!mail.html.contains("<script>"), "{}", mail.html);
    assert!(mail.html.contains("&lt;script&gt;"), "{}", mail.html);
    assert!(mail.text.contains("<script>alert(1)</script>"), "the text part is plain: {}", mail.text);
    let headers = mail.raw.split("\r\n\r\n").next().unwrap();
    assert!(!headers.lines().any(|l| l.to_lowercase().starts_with("bcc:")), "{headers}");
    assert!(crate::support::emails_to(&app.mail_dir, "evil@example.com").is_empty());
    app.stop().await;
}
