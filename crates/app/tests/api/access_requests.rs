//! The client's side: grant links, the approval pop-up, approve, decline.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_with};

#[tokio::test]
async fn a_grant_link_says_who_asks_and_whether_to_sign_in_or_up_and_changes_nothing() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", Some("Acme")).await;
    app.request(&agency, "new@example.com", "biller").await;
    app.sign_up("old@example.com", None).await;
    app.request(&agency, "old@example.com", "admin").await;
    let new = app.grant_tokens("new@example.com", 1).await.remove(0);
    let old = app.grant_tokens("old@example.com", 1).await.remove(0);
    let r = app.call(Method::GET, &format!("/v1/access-requests/by-token/{new}"), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!((r.body["agency_name"].as_str(), r.body["role"].as_str()), (Some("Acme"), Some("biller")));
    assert_eq!((r.body["email"].as_str(), r.body["next"].as_str()), (Some("new@example.com"), Some("sign_up")));
    let r = app.call(Method::GET, &format!("/v1/access-requests/by-token/{old}"), None, None).await;
    assert_eq!(r.body["next"], "sign_in");
    // HEAD and repeated GETs (mail scanners) do not consume the link.
    let head = app.client.head(format!("{}/v1/access-requests/by-token/{new}", app.base)).send().await.unwrap();
    assert!(head.status().is_success() || head.status() == StatusCode::METHOD_NOT_ALLOWED);
    let again = app.call(Method::GET, &format!("/v1/access-requests/by-token/{new}"), None, None).await;
    assert_eq!(again.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn invalid_links_all_answer_the_same() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "biller").await;
    let token = app.grant_tokens("client@example.com", 1).await.remove(0);
    app.call(Method::DELETE, &format!("/v1/shared-accounts/{id}"), Some(&agency), None).await;
    let removed = app.call(Method::GET, &format!("/v1/access-requests/by-token/{token}"), None, None).await;
    let unknown = app
        .call(Method::GET, "/v1/access-requests/by-token/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", None, None)
        .await;
    let malformed = app.call(Method::GET, "/v1/access-requests/by-token/short", None, None).await;
    for r in [&removed, &unknown, &malformed] {
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "invalid_link"), "{r:?}");
        assert_eq!(r.body, removed.body);
    }
    app.stop().await;
}

#[tokio::test]
async fn approving_through_the_link_verifies_the_email_and_adds_the_member() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "developer").await;
    let token = app.grant_tokens("client@example.com", 1).await.remove(0);
    // The client signs up without the link: unverified, and the pop-up shows nothing.
    let (client, _) = app.sign_up("client@example.com", None).await;
    let inbox = app.get("/v1/access-requests", &client).await;
    assert_eq!(inbox.body["items"], json!([]), "{inbox:?}");
    let r = app.post(&format!("/v1/access-requests/{id}/approve"), &client, json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "email_not_verified"), "{r:?}");
    // Following the link approves and verifies.
    let r = app.post(&format!("/v1/access-requests/by-token/{token}/approve"), &client, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!((r.body["email"].as_str(), r.body["role"].as_str()), (Some("agency@example.com"), Some("developer")));
    assert_eq!(app.get("/v1/me", &client).await.body["email_verified"], true);
    // Single use.
    let again = app.post(&format!("/v1/access-requests/by-token/{token}/approve"), &client, json!({})).await;
    assert_eq!((again.status, again.code()), (StatusCode::NOT_FOUND, "invalid_link"), "{again:?}");
    // Double-click by id: same member, no second membership.
    let twice = app.post(&format!("/v1/access-requests/{id}/approve"), &client, json!({})).await;
    assert_eq!(twice.body["id"], r.body["id"], "{twice:?}");
    app.wait_emails("agency@example.com", "request_approved", 1).await;
    app.stop().await;
}

#[tokio::test]
async fn only_the_invited_email_can_approve() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "admin").await;
    let token = app.grant_tokens("client@example.com", 1).await.remove(0);
    let (other, _) = app.sign_up("someone-else@example.com", None).await;
    let r = app.post(&format!("/v1/access-requests/by-token/{token}/approve"), &other, json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "email_mismatch"), "{r:?}");
    let r = app.post(&format!("/v1/access-requests/{id}/approve"), &other, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    // The agency cannot approve its own request either: approving is the client's alone.
    let r = app.post(&format!("/v1/access-requests/{id}/approve"), &agency, json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{r:?}");
    assert_eq!(app.get(&format!("/v1/shared-accounts/{id}"), &agency).await.body["state"], "requested");
    app.stop().await;
}

#[tokio::test]
async fn approval_without_a_free_slot_is_refused_with_used_and_limit() {
    let app = spawn_app().await;
    let (a1, _) = app.sign_up("one@agency.example", None).await;
    let (a2, _) = app.sign_up("two@agency.example", None).await;
    app.request(&a1, "client@example.com", "admin").await;
    let second = app.request(&a2, "client@example.com", "biller").await;
    // The free plan has one slot: the first approval (the first agency's, by its link) takes it.
    let first = app.grant_tokens("client@example.com", 2).await.remove(0);
    let (client, client_id) = app.sign_up_with_link("client@example.com", &first).await;
    let r = app.post(&format!("/v1/access-requests/by-token/{first}/approve"), &client, json!({})).await;
    assert_eq!((r.status, r.body["email"].as_str()), (StatusCode::OK, Some("one@agency.example")), "{r:?}");
    let inbox = app.get("/v1/access-requests", &client).await;
    assert_eq!(inbox.body["slots"], json!({"used": 1, "limit": 1}));
    assert_eq!(inbox.body["items"].as_array().unwrap().len(), 1);
    let r = app.post(&format!("/v1/access-requests/{second}/approve"), &client, json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "no_free_team_slots"), "{r:?}");
    assert_eq!((r.body["used"].as_u64(), r.body["limit"].as_u64()), (Some(1), Some(1)));
    // The second agency's row stays requested and says the client is blocked on slots.
    let row = app.get(&format!("/v1/shared-accounts/{second}"), &a2).await;
    assert_eq!((row.body["state"].as_str(), row.body["blocked_on_slots"].as_bool()), (Some("requested"), Some(true)));
    // Upgrading makes room; approving again works.
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/accounts/{client_id}/subscription"),
            Some(&client),
            Some(json!({"plan": "plus"})),
        )
        .await;
    assert_eq!(r.body["slots"], json!({"used": 1, "limit": 3}), "{r:?}");
    let r = app.post(&format!("/v1/access-requests/{second}/approve"), &client, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn declining_keeps_the_row_tagged_and_tells_the_agency() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "admin").await;
    let token = app.grant_tokens("client@example.com", 1).await.remove(0);
    let (client, _) = app.sign_up_with_link("client@example.com", &token).await;
    let r = app.call(Method::POST, &format!("/v1/access-requests/{id}/decline"), Some(&client), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let row = app.get(&format!("/v1/shared-accounts/{id}"), &agency).await;
    assert_eq!((row.body["state"].as_str(), row.body["requested"].as_bool()), (Some("declined"), Some(true)));
    assert_eq!(row.body["actions"], json!(["resend", "remove"]));
    app.wait_emails("agency@example.com", "request_declined", 1).await;
    let r = app.call(Method::POST, &format!("/v1/access-requests/{id}/decline"), Some(&client), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    app.stop().await;
}
