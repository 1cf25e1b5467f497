//! Probes, the spec, the docs, and the error format of framework-level failures.

use reqwest::{Method, StatusCode};

use crate::helpers::{reply, spawn_app};

#[tokio::test]
async fn probes_spec_and_docs_are_served() {
    let app = spawn_app().await;
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.body["status"], "ok");
    assert_eq!(app.call(Method::GET, "/readyz", None, None).await.body["status"], "ok");
    let spec = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.status, StatusCode::OK);
    let paths = spec.body["paths"].as_object().unwrap();
    for p in [
        "/v1/auth/sign-up",
        "/v1/auth/sign-in",
        "/v1/auth/sign-out",
        "/v1/me",
        "/v1/shared-accounts",
        "/v1/shared-accounts/bulk",
        "/v1/shared-accounts/{id}",
        "/v1/shared-accounts/{id}/resend",
        "/v1/shared-accounts/{id}/websites",
        "/v1/shared-accounts/{id}/log-in-as",
        "/v1/shared-accounts/{id}/leave",
        "/v1/access-requests",
        "/v1/access-requests/by-token/{token}",
        "/v1/access-requests/{id}/approve",
        "/v1/access-requests/{id}/decline",
        "/v1/access-requests/by-token/{token}/approve",
        "/v1/accounts/{account_id}/team",
        "/v1/accounts/{account_id}/team/members/{member_id}",
        "/v1/accounts/{account_id}/websites",
        "/v1/internal/websites/{website_id}/status",
        "/v1/accounts/{account_id}/subscription",
        "/v1/accounts/{account_id}/audit-log",
        "/v1/accounts/{account_id}/invoices",
        "/v1/accounts/{account_id}/settings",
        "/v1/accounts/{account_id}/analytics",
        "/v1/internal/accounts/{account_id}/invoices",
    ] {
        assert!(paths.contains_key(p), "spec lacks {p}");
    }
    let create = &spec.body["paths"]["/v1/shared-accounts"]["post"]["responses"];
    for status in ["201", "400", "401", "403", "404", "409", "422", "429", "503"] {
        assert!(create.get(status).is_some(), "POST /v1/shared-accounts documents {status}");
    }
    let docs = app.client.get(format!("{}/docs/", app.base)).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().to_lowercase().contains("swagger"));
    app.stop().await;
}

#[tokio::test]
async fn framework_errors_are_problem_json_never_500() {
    let app = spawn_app().await;
    let (token, _) = app.sign_up("agency@example.com", None).await;
    let url = format!("{}/v1/shared-accounts", app.base);
    let cases = [
        (
            "bad json",
            app.client.post(&url).bearer_auth(&token).header("content-type", "application/json").body("{not json"),
        ),
        ("wrong type", app.client.post(&url).bearer_auth(&token).header("content-type", "text/plain").body("hi")),
        (
            "nul byte",
            app.client
                .post(&url)
                .bearer_auth(&token)
                .json(&serde_json::json!({"email": "a\u{0}@example.com", "role": "admin"})),
        ),
        (
            "4-byte utf8",
            app.client
                .post(&url)
                .bearer_auth(&token)
                .json(&serde_json::json!({"email": "😀😀@example.com😀", "role": "admin"})),
        ),
        (
            "long email",
            app.client
                .post(&url)
                .bearer_auth(&token)
                .json(&serde_json::json!({"email": format!("{}@example.com", "a".repeat(300)), "role": "admin"})),
        ),
        (
            "oversized",
            app.client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(vec![b' '; 200_000]),
        ),
        ("unknown route", app.client.get(format!("{}/v1/nope", app.base))),
        ("bad uuid", app.client.get(format!("{url}/not-a-uuid")).bearer_auth(&token)),
    ];
    for (name, req) in cases {
        let r = reply(req.send().await.unwrap()).await;
        assert!(r.status.is_client_error(), "{name}: {r:?}");
        assert!(r.content_type.starts_with("application/problem+json"), "{name}: {r:?}");
        assert!(!r.code().is_empty(), "{name}: {r:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_and_metrics_are_exported() {
    let app = spawn_app().await;
    let mine =
        app.client.get(format!("{}/healthz", app.base)).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(mine.headers().get("x-request-id").unwrap(), "trace-abc-123");
    let fresh = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    let id = fresh.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    // A walk through the flow, then the numbers.
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    app.request(&agency, "client@example.com", "admin").await;
    app.client_approves("client@example.com").await;
    app.wait_emails("agency@example.com", "request_approved", 1).await;
    let mut text = String::new();
    for _ in 0..50 {
        text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
        if text.contains("clients_emails_sent_total") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for metric in [
        "clients_http_requests_total{operation=\"requestAccess\",method=\"POST\",status=\"201\"}",
        "clients_http_request_duration_seconds_bucket",
        "clients_approvals_total",
        "clients_emails_sent_total",
        "clients_outbox_pending_messages",
        "clients_outbox_oldest_pending_age_seconds",
        "clients_db_pool_connections{state=\"open\"}",
    ] {
        assert!(text.contains(metric), "/metrics lacks {metric}:\n{text}");
    }
    app.stop().await;
}
