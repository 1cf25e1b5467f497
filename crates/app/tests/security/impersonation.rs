//! "Log in as" (catalogue 33-36; rule 9): a session inside the client account with
//! exactly the live role's permissions, nothing outside it, checked on every request,
//! and audited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{SecApp, spawn_app};

async fn status_of(app: &SecApp, token: &str, method: Method, path: &str, body: Option<Value>) -> StatusCode {
    let r = app.call(method.clone(), path, Some(token), body).await;
    assert!(!r.status.is_server_error(), "{method} {path}: {r:?}");
    r.status
}

#[tokio::test]
async fn a_biller_session_is_403_on_developer_and_admin_routes() {
    let app = spawn_app().await;
    let (agency, row, client, client_id) = app.approved("agency@example.com", "client@example.com", "biller").await;
    let acting = app.log_in_as(&agency, &row).await;
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    let member = team.body["members"][0]["id"].as_str().unwrap().to_owned();
    let a = format!("/v1/accounts/{client_id}");
    // Billing is the Biller's.
    for path in [format!("{a}/invoices"), format!("{a}/subscription")] {
        assert_eq!(status_of(&app, &acting, Method::GET, &path, None).await, StatusCode::OK, "{path}");
    }
    // Developer's and Admin's routes are not.
    for (method, path, body) in [
        (Method::GET, format!("{a}/websites"), None),
        (Method::POST, format!("{a}/websites"), Some(json!({"domain": "x.example.com"}))),
        (Method::GET, format!("{a}/settings"), None),
        (Method::PUT, format!("{a}/settings"), Some(json!({"theme": "dark"}))),
        (Method::GET, format!("{a}/analytics"), None),
        (Method::GET, format!("{a}/team"), None),
        (Method::PATCH, format!("{a}/team/members/{member}"), Some(json!({"role": "admin"}))),
        (Method::DELETE, format!("{a}/team/members/{member}"), None),
        (Method::GET, format!("{a}/audit-log"), None),
    ] {
        assert_eq!(
            status_of(&app, &acting, method.clone(), &path, body).await,
            StatusCode::FORBIDDEN,
            "{method} {path}"
        );
    }
    let after = app.get(&format!("{a}/team"), &client).await;
    assert_eq!(after.body, team.body, "the Biller changed nothing in the team");
    app.stop().await;
}

#[tokio::test]
async fn a_log_in_as_session_reaches_no_agency_route_no_other_account_and_no_nested_log_in_as() {
    let app = spawn_app().await;
    let (agency, row, _, _) = app.approved("agency@example.com", "client@example.com", "admin").await;
    let agency_id = app.get("/v1/me", &agency).await.body["id"].as_str().unwrap().to_owned();
    let other_row = app.request(&agency, "other@example.com", "admin").await;
    let (_, _, _, other_id) = app.approved("agency2@example.com", "third@example.com", "admin").await;
    let acting = app.log_in_as(&agency, &row).await;

    for (method, path, body) in [
        (Method::GET, "/v1/shared-accounts".to_owned(), None),
        (Method::POST, "/v1/shared-accounts".to_owned(), Some(json!({"email": "x@example.com", "role": "admin"}))),
        (
            Method::POST,
            "/v1/shared-accounts/bulk".to_owned(),
            Some(json!({"requests": [{"email": "x@example.com", "role": "admin"}]})),
        ),
        (Method::GET, format!("/v1/shared-accounts/{row}"), None),
        (Method::POST, format!("/v1/shared-accounts/{other_row}/resend"), None),
        (Method::DELETE, format!("/v1/shared-accounts/{other_row}"), None),
        (Method::POST, format!("/v1/shared-accounts/{row}/leave"), None),
        (Method::POST, format!("/v1/shared-accounts/{row}/log-in-as"), None),
        (Method::GET, "/v1/access-requests".to_owned(), None),
    ] {
        let r = app.call(method.clone(), &path, Some(&acting), body).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{method} {path}: {r:?}");
    }
    // Other accounts, the agency's own included, do not exist for this session.
    for account in [&agency_id, &other_id] {
        for path in ["team", "websites", "subscription", "audit-log", "invoices"] {
            let r = app.get(&format!("/v1/accounts/{account}/{path}"), &acting).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{account}/{path}: {r:?}");
        }
    }
    let pending = app.get(&format!("/v1/shared-accounts/{other_row}"), &agency).await;
    assert_eq!(pending.body["state"], "requested", "nothing happened to the agency's rows");
    app.stop().await;
}

#[tokio::test]
async fn a_log_in_as_session_cannot_change_credentials_its_own_grant_or_approve_other_agencies() {
    let app = spawn_app().await;
    let (agency, row, client, client_id) = app.approved("agency@example.com", "client@example.com", "admin").await;
    let (agency2, _) = app.sign_up("agency2@example.com", None).await;
    let pending = app.request(&agency2, "client@example.com", "developer").await;
    let acting = app.log_in_as(&agency, &row).await;
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    let member = team.body["members"][0]["id"].as_str().unwrap().to_owned();
    let own = format!("/v1/accounts/{client_id}/team/members/{member}");

    // Its own grant: no upgrade, no removal (even as Admin).
    let r = app.call(Method::PATCH, &own, Some(&acting), Some(json!({"role": "biller"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app.call(Method::DELETE, &own, Some(&acting), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // The client's inbox: approving or declining other agencies.
    for action in ["approve", "decline"] {
        let r = app.post_empty(&format!("/v1/access-requests/{pending}/{action}"), &acting).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}: {r:?}");
    }
    let link = app.grant_token("client@example.com", 2).await;
    let r = app.post(&format!("/v1/access-requests/by-token/{link}/approve"), &acting, json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // Credentials: the API has no route that changes an email or a password, and the
    // identity routes do not take writes.
    let spec = app.call(Method::GET, "/openapi.json", None, None).await;
    let schemas = &spec.body["components"]["schemas"];
    for (path, item) in spec.body["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let body = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
            let name = body.as_str().unwrap_or("").rsplit('/').next().unwrap_or("");
            let has_password = schemas[name]["properties"].get("password").is_some();
            let credential = has_password || path.contains("password") || path.ends_with("/email") || path == "/v1/me";
            if method != "get" && credential {
                assert!(
                    path == "/v1/auth/sign-up" || path == "/v1/auth/sign-in",
                    "{method} {path} changes credentials: it must refuse \"Log in as\" sessions"
                );
            }
        }
    }
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let r = app.call(method.clone(), "/v1/me", Some(&acting), Some(json!({"email": "evil@example.com"}))).await;
        r.assert_problem_4xx("write on /v1/me");
    }
    assert_eq!(app.get("/v1/me", &agency).await.body["email"], "agency@example.com");
    let after = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    assert_eq!(after.body, team.body, "the grant is unchanged");
    assert_eq!(app.get(&format!("/v1/shared-accounts/{pending}"), &agency2).await.body["state"], "requested");
    app.stop().await;
}

#[tokio::test]
async fn downgrade_narrows_and_removal_ends_live_sessions_on_the_next_request() {
    let app = spawn_app().await;
    let (agency, row, client, client_id) = app.approved("agency@example.com", "client@example.com", "admin").await;
    let acting = app.log_in_as(&agency, &row).await;
    let a = format!("/v1/accounts/{client_id}");
    let team = app.get(&format!("{a}/team"), &client).await;
    let member = team.body["members"][0]["id"].as_str().unwrap().to_owned();
    let svc = &app;
    let set_role = |role: &'static str| {
        let (client, path) = (client.clone(), format!("{a}/team/members/{member}"));
        async move {
            let r = svc.call(Method::PATCH, &path, Some(&client), Some(json!({"role": role}))).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
        }
    };
    assert_eq!(status_of(&app, &acting, Method::GET, &format!("{a}/team"), None).await, StatusCode::OK);
    // Admin -> Developer: team management goes, websites stay.
    set_role("developer").await;
    assert_eq!(status_of(&app, &acting, Method::GET, &format!("{a}/team"), None).await, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, &acting, Method::GET, &format!("{a}/websites"), None).await, StatusCode::OK);
    // Developer -> Biller: the session keeps only what both the started and the live role allow.
    set_role("biller").await;
    assert_eq!(status_of(&app, &acting, Method::GET, &format!("{a}/websites"), None).await, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, &acting, Method::GET, &format!("{a}/invoices"), None).await, StatusCode::OK);
    // Back to Admin: the session regains at most the role it started with.
    set_role("admin").await;
    assert_eq!(status_of(&app, &acting, Method::GET, &format!("{a}/team"), None).await, StatusCode::OK);
    // Removal ends it.
    let r = app.call(Method::DELETE, &format!("{a}/team/members/{member}"), Some(&client), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    for path in ["team", "websites", "invoices"] {
        let r = app.get(&format!("{a}/{path}"), &acting).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "session_ended"), "{path}: {r:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_log_in_as_start_is_in_the_clients_audit_log() {
    let app = spawn_app().await;
    let (agency, row, client, client_id) = app.approved("agency@example.com", "client@example.com", "developer").await;
    let agency_id = app.get("/v1/me", &agency).await.body["id"].as_str().unwrap().to_owned();
    let mut started = vec![];
    for _ in 0..3 {
        let r = app.post_empty(&format!("/v1/shared-accounts/{row}/log-in-as"), &agency).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        started.push(r.body["expires_at"].as_str().unwrap().to_owned());
    }
    let log = app.get(&format!("/v1/accounts/{client_id}/audit-log"), &client).await;
    let entries: Vec<_> =
        log.body["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "impersonation_started").collect();
    assert_eq!(entries.len(), 3, "{log:?}");
    for e in &entries {
        assert_eq!(e["actor_id"], agency_id, "who: {e}");
        assert_eq!(e["agency_id"], agency_id, "{e}");
        assert_eq!(e["request_id"], row, "which grant: {e}");
        assert_eq!(e["role"], "developer", "{e}");
        assert!(e["session_id"].is_string() && e["at"].is_string(), "when and which session: {e}");
    }
    let mut logged: Vec<_> = entries.iter().map(|e| e["expires_at"].as_str().unwrap().to_owned()).collect();
    logged.sort();
    started.sort();
    let same = logged.iter().zip(&started).all(|(l, s)| {
        chrono::DateTime::parse_from_rfc3339(l).unwrap() == chrono::DateTime::parse_from_rfc3339(s).unwrap()
    });
    assert!(same, "{logged:?} vs {started:?}");
    app.wait_emails("client@example.com", "impersonation_started", 3).await;
    app.stop().await;
}
