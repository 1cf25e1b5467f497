//! Authorization (catalogue 1, 2, 14, 15): another tenant's ids answer 404 exactly like
//! ids that do not exist and change nothing; client-only actions refuse the agency;
//! the API takes no ambient credentials and never redirects.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{SERVICE_TOKEN, all_emails, spawn_app};

/// Ids an attacker would try around a real one: the next and previous UUIDv7, and a
/// random one.
fn probes(id: &str) -> Vec<String> {
    let n = uuid::Uuid::parse_str(id).unwrap().as_u128();
    vec![
        uuid::Uuid::from_u128(n.wrapping_add(1)).to_string(),
        uuid::Uuid::from_u128(n.wrapping_sub(1)).to_string(),
        uuid::Uuid::now_v7().to_string(),
    ]
}

#[tokio::test]
async fn idor_another_agencys_row_ids_are_404_on_every_agency_route_and_change_nothing() {
    let app = spawn_app().await;
    let (owner, approved, client, client_id) = app.approved("agency@example.com", "client@example.com", "admin").await;
    let pending = app.request(&owner, "pending@example.com", "biller").await;
    let (intruder, _) = app.sign_up("intruder@example.com", None).await;
    app.settle().await;

    let snapshot = || async {
        (
            app.get(&format!("/v1/shared-accounts/{approved}"), &owner).await.body,
            app.get(&format!("/v1/shared-accounts/{pending}"), &owner).await.body,
            app.get(&format!("/v1/accounts/{client_id}/team"), &client).await.body,
            app.get(&format!("/v1/accounts/{client_id}/audit-log"), &client).await.body,
            all_emails(&app.mail_dir),
        )
    };
    let before = snapshot().await;
    let nowhere = app.get(&format!("/v1/shared-accounts/{}", uuid::Uuid::now_v7()), &intruder).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);

    let mut ids = vec![approved.clone(), pending.clone()];
    ids.extend(probes(&approved));
    ids.extend(probes(&pending));
    for id in &ids {
        for (method, path) in [
            (Method::GET, format!("/v1/shared-accounts/{id}")),
            (Method::POST, format!("/v1/shared-accounts/{id}/resend")),
            (Method::DELETE, format!("/v1/shared-accounts/{id}")),
            (Method::GET, format!("/v1/shared-accounts/{id}/websites")),
            (Method::POST, format!("/v1/shared-accounts/{id}/log-in-as")),
            (Method::POST, format!("/v1/shared-accounts/{id}/leave")),
        ] {
            let r = app.call(method.clone(), &path, Some(&intruder), None).await;
            assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}: {r:?}");
            assert_eq!(r.body, nowhere.body, "{method} {path}: another tenant's id answers like no id at all");
        }
    }
    app.settle().await;
    assert_eq!(snapshot().await, before, "nothing changed");
    app.stop().await;
}

#[tokio::test]
async fn idor_another_accounts_ids_are_404_on_every_account_route() {
    let app = spawn_app().await;
    let (_, _, client, client_id) = app.approved("agency@example.com", "client@example.com", "admin").await;
    let (stranger, _) = app.sign_up("stranger@example.com", None).await;
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    let member = team.body["members"][0]["id"].as_str().unwrap().to_owned();
    let site =
        app.post(&format!("/v1/accounts/{client_id}/websites"), &client, json!({"domain": "shop.example.com"})).await;
    assert_eq!(site.status, StatusCode::CREATED, "{site:?}");

    for (method, path, body) in [
        (Method::GET, format!("/v1/accounts/{client_id}/team"), None),
        (Method::PATCH, format!("/v1/accounts/{client_id}/team/members/{member}"), Some(json!({"role": "biller"}))),
        (Method::DELETE, format!("/v1/accounts/{client_id}/team/members/{member}"), None),
        (Method::GET, format!("/v1/accounts/{client_id}/websites"), None),
        (Method::POST, format!("/v1/accounts/{client_id}/websites"), Some(json!({"domain": "evil.example.com"}))),
        (Method::GET, format!("/v1/accounts/{client_id}/subscription"), None),
        (Method::PUT, format!("/v1/accounts/{client_id}/subscription"), Some(json!({"plan": "free"}))),
        (Method::GET, format!("/v1/accounts/{client_id}/audit-log"), None),
        (Method::GET, format!("/v1/accounts/{client_id}/invoices"), None),
        (Method::GET, format!("/v1/accounts/{client_id}/settings"), None),
        (Method::GET, format!("/v1/accounts/{client_id}/analytics"), None),
    ] {
        let r = app.call(method.clone(), &path, Some(&stranger), body).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}: {r:?}");
    }
    let after = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    assert_eq!(after.body, team.body, "the team is untouched");
    let sites = app.get(&format!("/v1/accounts/{client_id}/websites"), &client).await;
    assert_eq!(sites.body["items"].as_array().unwrap().len(), 1, "no website was added");
    app.stop().await;
}

#[tokio::test]
async fn idor_another_clients_request_ids_are_404_on_approve_and_decline() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    // A verified stranger: verified through a link of its own.
    app.request(&agency, "stranger@example.com", "biller").await;
    let link = app.grant_token("stranger@example.com", 1).await;
    let (stranger, _) = app.sign_up_with_link("stranger@example.com", &link).await;
    for action in ["approve", "decline"] {
        let r = app.post_empty(&format!("/v1/access-requests/{row}/{action}"), &stranger).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{action}: {r:?}");
    }
    let still = app.get(&format!("/v1/shared-accounts/{row}"), &agency).await;
    assert_eq!(still.body["state"], "requested");
    app.stop().await;
}

#[tokio::test]
async fn client_only_actions_by_the_agency_are_403() {
    let app = spawn_app().await;
    // Admin: the role that could do the most inside the client account.
    let (agency, _, client, client_id) = app.approved("agency@example.com", "client@example.com", "admin").await;
    // Another agency's request to the same (verified) client, still pending.
    let (agency2, _) = app.sign_up("agency2@example.com", None).await;
    let pending = app.request(&agency2, "client@example.com", "developer").await;

    // The requesting agency approving or declining its own request.
    for action in ["approve", "decline"] {
        let r = app.post_empty(&format!("/v1/access-requests/{pending}/{action}"), &agency2).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{action}: {r:?}");
    }
    // The member agency changing its own role or removing itself through Team Management.
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    let member = team.body["members"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/accounts/{client_id}/team/members/{member}");
    let r = app.call(Method::PATCH, &path, Some(&agency), Some(json!({"role": "developer"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "own role: {r:?}");
    let r = app.call(Method::DELETE, &path, Some(&agency), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "own removal: {r:?}");
    // The member agency approving another agency's request to its client.
    let r = app.post_empty(&format!("/v1/access-requests/{pending}/approve"), &agency).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not addressed to the agency: {r:?}");

    let after = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    assert_eq!(after.body, team.body, "the team is untouched");
    let still = app.get(&format!("/v1/shared-accounts/{pending}"), &agency2).await;
    assert_eq!(still.body["state"], "requested");
    app.stop().await;
}

#[tokio::test]
async fn cross_site_requests_carry_no_ambient_credentials_to_the_api() {
    let app = spawn_app().await;
    let (agency, row, _, _) = app.approved("agency@example.com", "client@example.com", "admin").await;
    // A browser on another site can send cookies and an Origin, never the bearer token.
    for (method, path) in [
        (Method::POST, format!("/v1/shared-accounts/{row}/log-in-as")),
        (Method::POST, "/v1/shared-accounts".to_owned()),
        (Method::GET, "/v1/me".to_owned()),
    ] {
        let r = app
            .send(
                app.req(method.clone(), &path, None)
                    .header("cookie", format!("session={agency}; token={agency}"))
                    .header("origin", "https://evil.example")
                    .json(&json!({"email": "x@example.com", "role": "admin"})),
            )
            .await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{method} {path}: {r:?}");
    }
    // The service token is not a session either.
    let r = app.get("/v1/me", SERVICE_TOKEN).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_api_never_redirects_whatever_next_or_redirect_parameters_say() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/auth/sign-in?next=https://evil.example&redirect_uri=//evil.example",
            Some(json!({"email": "agency@example.com", "password": crate::support::PASSWORD})),
        ),
        (
            Method::POST,
            "/v1/auth/sign-up?next=https://evil.example",
            Some(json!({"email": "new@example.com", "password": crate::support::PASSWORD})),
        ),
        (Method::GET, "/v1/me?next=//evil.example", None),
    ] {
        let mut req = no_redirects.request(method.clone(), app.url(path)).bearer_auth(&agency);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = crate::support::reply(req.send().await.unwrap()).await;
        assert!(!r.status.is_redirection(), "{method} {path}: {r:?}");
        assert!(r.headers.get("location").is_none(), "{method} {path}: {r:?}");
        assert!(!r.text.contains("evil.example"), "{method} {path}: {r:?}");
    }
    app.stop().await;
}
