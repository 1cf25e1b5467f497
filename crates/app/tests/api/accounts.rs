//! Inside a client account: team, websites, subscription, audit log, and the live
//! checks on "Log in as".

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{SERVICE_TOKEN, spawn_app};

#[tokio::test]
async fn team_management_changes_roles_and_removes_members() {
    let app = spawn_app().await;
    let (agency, agency_id) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "developer").await;
    let (client, client_id) = app.client_approves("client@example.com").await;
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    assert_eq!(team.status, StatusCode::OK, "{team:?}");
    assert_eq!(team.body["slots"], json!({"used": 1, "limit": 1}));
    let member = team.body["members"][0].clone();
    assert_eq!((member["account_id"].as_str(), member["role"].as_str()), (Some(agency_id.as_str()), Some("developer")));
    assert_eq!(member["origin"], "access_request");
    let member_id = member["id"].as_str().unwrap();

    // Log in as Developer, then the client downgrades to Biller: the live session narrows to nothing and ends.
    let acting = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/log-in-as"), Some(&agency), None).await;
    let acting = acting.body["token"].as_str().unwrap().to_owned();
    let path = format!("/v1/accounts/{client_id}/team/members/{member_id}");
    let r = app.call(Method::PATCH, &path, Some(&client), Some(json!({"role": "biller"}))).await;
    assert_eq!((r.status, r.body["role"].as_str()), (StatusCode::OK, Some("biller")), "{r:?}");
    assert_eq!(app.get(&format!("/v1/shared-accounts/{id}"), &agency).await.body["role"], "biller");
    let r = app.get(&format!("/v1/accounts/{client_id}/websites"), &acting).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "session_ended"), "{r:?}");

    // Removing the member revokes access: the row leaves the agency's list.
    let r = app.call(Method::DELETE, &path, Some(&client), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(app.get(&format!("/v1/shared-accounts/{id}"), &agency).await.status, StatusCode::NOT_FOUND);
    app.wait_emails("agency@example.com", "access_revoked", 1).await;
    let r = app.call(Method::DELETE, &path, Some(&client), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_manages_the_team_but_not_its_own_role() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    app.request(&agency, "client@example.com", "admin").await;
    let (_, client_id) = app.client_approves("client@example.com").await;
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &agency).await;
    assert_eq!(team.status, StatusCode::OK, "members act by role: {team:?}");
    let me = team.body["members"][0]["id"].as_str().unwrap();
    let r = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{client_id}/team/members/{me}"),
            Some(&agency),
            Some(json!({"role": "biller"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn strangers_get_404_and_members_by_role() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let (stranger, _) = app.sign_up("stranger@example.com", None).await;
    app.request(&agency, "client@example.com", "biller").await;
    let (_, client_id) = app.client_approves("client@example.com").await;
    for path in ["team", "websites", "subscription", "audit-log"] {
        let r = app.get(&format!("/v1/accounts/{client_id}/{path}"), &stranger).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {r:?}");
    }
    // A Biller member: subscription yes; websites, team, audit log no.
    assert_eq!(app.get(&format!("/v1/accounts/{client_id}/subscription"), &agency).await.status, StatusCode::OK);
    for path in ["team", "websites", "audit-log"] {
        let r = app.get(&format!("/v1/accounts/{client_id}/{path}"), &agency).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {r:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn websites_are_listed_searched_and_reported_by_internal_services() {
    let app = spawn_app().await;
    let (owner, owner_id) = app.sign_up("owner@example.com", None).await;
    let add = |d: &str| app.post(format!("/v1/accounts/{owner_id}/websites"), &owner, json!({"domain": d}));
    let site = add("Shop.Example.com").await;
    assert_eq!(
        (site.status, site.body["domain"].as_str()),
        (StatusCode::CREATED, Some("shop.example.com")),
        "{site:?}"
    );
    assert_eq!((site.body["connected"].as_bool(), site.body["health"].as_str()), (Some(false), Some("ok")));
    assert_eq!(add("shop.example.com").await.status, StatusCode::CONFLICT);
    assert_eq!(add("https://x").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    add("blog.example.org").await;
    let list = app.get(&format!("/v1/accounts/{owner_id}/websites?q=org"), &owner).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let site_id = site.body["id"].as_str().unwrap();
    let path = format!("/v1/internal/websites/{site_id}/status");
    let body = json!({"connected": true, "health": "major_issue"});
    assert_eq!(app.call(Method::PUT, &path, Some(&owner), Some(body.clone())).await.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::PUT, &path, Some(SERVICE_TOKEN), Some(body.clone())).await;
    assert_eq!((r.status, r.body["health"].as_str()), (StatusCode::OK, Some("major_issue")), "{r:?}");
    let missing = format!("/v1/internal/websites/{}/status", uuid::Uuid::now_v7());
    assert_eq!(app.call(Method::PUT, &missing, Some(SERVICE_TOKEN), Some(body)).await.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn plan_changes_are_refused_below_the_member_count_and_audited() {
    let app = spawn_app().await;
    let (client, client_id) = app.sign_up("client@example.com", None).await;
    let sub = |plan: &str| {
        app.call(
            Method::PUT,
            format!("/v1/accounts/{client_id}/subscription"),
            Some(&client),
            Some(json!({"plan": plan})),
        )
    };
    assert_eq!(sub("pro").await.body["slots"], json!({"used": 0, "limit": 10}));
    let r = app.get(&format!("/v1/accounts/{client_id}/subscription"), &client).await;
    assert_eq!(r.body["plan"], "pro");
    assert_eq!(sub("scale").await.body["slots"]["limit"], serde_json::Value::Null, "unlimited");
    for i in 0..2 {
        let (agency, _) = app.sign_up(&format!("agency{i}@example.com"), None).await;
        let id = app.request(&agency, "client@example.com", "biller").await;
        if i == 0 {
            let token = app.grant_tokens("client@example.com", 1).await.remove(0);
            app.post(&format!("/v1/access-requests/by-token/{token}/approve"), &client, json!({})).await;
        } else {
            let r = app.post(&format!("/v1/access-requests/{id}/approve"), &client, json!({})).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
        }
    }
    let r = sub("free").await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "plan_too_small"), "{r:?}");
    assert_eq!((r.body["used"].as_u64(), r.body["limit"].as_u64()), (Some(2), Some(1)));
    let log = app.get(&format!("/v1/accounts/{client_id}/audit-log"), &client).await;
    let kinds: Vec<_> =
        log.body["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    assert!(kinds.contains(&"plan_changed".to_owned()) && kinds.contains(&"request_approved".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"access_requested".to_owned()), "requests from before sign-up are in the log: {kinds:?}");
    app.stop().await;
}

#[tokio::test]
async fn invoices_settings_and_analytics_follow_the_role_table() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "biller").await;
    let (client, client_id) = app.client_approves("client@example.com").await;

    // The billing system records an invoice; only the service token may.
    let body = json!({"number": "INV-2026-001", "period_start": "2026-10-01T00:00:00Z",
        "period_end": "2026-10-31T23:59:59Z", "amount_cents": 2100, "currency": "EUR", "status": "paid",
        "issued_at": "2026-11-01T00:00:00Z"});
    let path = format!("/v1/internal/accounts/{client_id}/invoices");
    assert_eq!(app.call(Method::POST, &path, Some(&client), Some(body.clone())).await.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::POST, &path, Some(SERVICE_TOKEN), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(app.call(Method::POST, &path, Some(SERVICE_TOKEN), Some(body)).await.status, StatusCode::CONFLICT);

    // Biller: invoices yes, settings and analytics no.
    let invoices = app.get(&format!("/v1/accounts/{client_id}/invoices"), &agency).await;
    assert_eq!(invoices.body["items"][0]["number"], "INV-2026-001", "{invoices:?}");
    for path in ["settings", "analytics"] {
        assert_eq!(app.get(&format!("/v1/accounts/{client_id}/{path}"), &agency).await.status, StatusCode::FORBIDDEN);
    }
    // The owner writes settings (a JSON object) and reads analytics.
    let settings = json!({"cache": {"ttl": 3600}, "minify": true});
    let put = app
        .call(Method::PUT, format!("/v1/accounts/{client_id}/settings"), Some(&client), Some(settings.clone()))
        .await;
    assert_eq!((put.status, &put.body), (StatusCode::OK, &settings), "{put:?}");
    assert_eq!(app.get(&format!("/v1/accounts/{client_id}/settings"), &client).await.body, settings);
    let not_object =
        app.call(Method::PUT, format!("/v1/accounts/{client_id}/settings"), Some(&client), Some(json!([1]))).await;
    assert_eq!(not_object.status, StatusCode::BAD_REQUEST);
    let analytics = app.get(&format!("/v1/accounts/{client_id}/analytics"), &client).await;
    assert_eq!(
        analytics.body,
        json!({"websites": 0, "connected": 0, "not_connected": 0, "major_issue": 0, "status": "no_data"})
    );
    // A Biller's "Log in as" session reads invoices too, and nothing else.
    let acting = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/log-in-as"), Some(&agency), None).await;
    let acting = acting.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/v1/accounts/{client_id}/invoices"), &acting).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/accounts/{client_id}/settings"), &acting).await.status, StatusCode::FORBIDDEN);
    app.stop().await;
}
