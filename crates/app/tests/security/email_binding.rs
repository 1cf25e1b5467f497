//! Approval binds to the invited email (catalogue 3, 4, 5): only the signed-in owner of
//! the account whose verified email is the invited one, compared at approval time,
//! after trimming and lower-casing, and nothing else.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{SecApp, spawn_app};

/// Approves `row` by id and by link as `token`; returns both answers.
async fn try_approve(
    app: &SecApp,
    token: &str,
    row: &str,
    link: &str,
) -> (crate::support::Reply, crate::support::Reply) {
    let by_id = app.post_empty(&format!("/v1/access-requests/{row}/approve"), token).await;
    let by_link = app.post(&format!("/v1/access-requests/by-token/{link}/approve"), token, json!({})).await;
    (by_id, by_link)
}

async fn assert_still_pending(app: &SecApp, agency: &str, row: &str, link: &str) {
    let r = app.get(&format!("/v1/shared-accounts/{row}"), agency).await;
    assert_eq!((r.body["state"].as_str(), r.body["requested"].as_bool()), (Some("requested"), Some(true)), "{r:?}");
    let r = app.call(reqwest::Method::GET, &format!("/v1/access-requests/by-token/{link}"), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "the link still works: {r:?}");
}

#[tokio::test]
async fn approving_while_signed_in_with_a_different_email_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", Some("Acme")).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    let link = app.grant_token("client@example.com", 1).await;
    // Someone else, verified for their own address, holding the forwarded link.
    app.request(&agency, "other@example.com", "biller").await;
    let own = app.grant_token("other@example.com", 1).await;
    let (other, _) = app.sign_up_with_link("other@example.com", &own).await;

    let (by_id, by_link) = try_approve(&app, &other, &row, &link).await;
    assert_eq!((by_id.status, by_id.code()), (StatusCode::NOT_FOUND, "not_found"), "{by_id:?}");
    assert_eq!((by_link.status, by_link.code()), (StatusCode::FORBIDDEN, "email_mismatch"), "{by_link:?}");
    // Signing up with the link under another address does not verify anything.
    let r = app
        .call(
            reqwest::Method::POST,
            "/v1/auth/sign-up",
            None,
            Some(json!({"email": "third@example.com", "password": crate::support::PASSWORD, "grant_token": link})),
        )
        .await;
    assert_eq!((r.status, r.body["account"]["email_verified"].as_bool()), (StatusCode::CREATED, Some(false)), "{r:?}");
    assert_still_pending(&app, &agency, &row, &link).await;
    app.stop().await;
}

#[tokio::test]
async fn an_unverified_account_with_the_invited_email_cannot_approve_until_the_link_verifies_it() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    let link = app.grant_token("client@example.com", 1).await;
    // Claims the address without proving the mailbox.
    let (claimer, _) = app.sign_up("client@example.com", None).await;
    let r = app.post_empty(&format!("/v1/access-requests/{row}/approve"), &claimer).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "email_not_verified"), "{r:?}");
    let r = app.post_empty(&format!("/v1/access-requests/{row}/decline"), &claimer).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "email_not_verified"), "{r:?}");
    let inbox = app.get("/v1/access-requests", &claimer).await;
    assert_eq!(inbox.body["items"], json!([]), "an unproven claim shows nobody's requests: {inbox:?}");
    assert_still_pending(&app, &agency, &row, &link).await;
    // Following the link proves the mailbox: now it approves, and verifies.
    let r = app.post(&format!("/v1/access-requests/by-token/{link}/approve"), &claimer, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(app.get("/v1/me", &claimer).await.body["email_verified"], true);
    app.stop().await;
}

#[tokio::test]
async fn approval_checks_the_accounts_email_at_approval_time_after_it_changed() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    // The client verified its address through a first request, then declined it.
    let first = app.request(&agency, "client@example.com", "biller").await;
    let link1 = app.grant_token("client@example.com", 1).await;
    let (client, client_id) = app.sign_up_with_link("client@example.com", &link1).await;
    let r = app.post_empty(&format!("/v1/access-requests/{first}/decline"), &client).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let row = app.request(&agency, "client@example.com", "admin").await;
    let link = app.grant_token("client@example.com", 2).await;
    // The account's address changes (as support would do it: unverified again).
    let id = uuid::Uuid::parse_str(&client_id).unwrap();
    app.exec(
        "UPDATE accounts SET email = $1, email_verified = $2 WHERE id = $3",
        vec!["moved@example.com".into(), false.into(), id.into()],
    )
    .await;
    let (by_id, by_link) = try_approve(&app, &client, &row, &link).await;
    assert_eq!(by_id.status, StatusCode::NOT_FOUND, "{by_id:?}");
    assert_eq!((by_link.status, by_link.code()), (StatusCode::FORBIDDEN, "email_mismatch"), "{by_link:?}");
    assert_still_pending(&app, &agency, &row, &link).await;

    // Another account that now has the invited address, unverified, cannot approve by
    // id; the link (proof of the mailbox) is what lets it.
    let (newcomer, _) = app.sign_up("client@example.com", None).await;
    let r = app.post_empty(&format!("/v1/access-requests/{row}/approve"), &newcomer).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "email_not_verified"), "{r:?}");
    assert_still_pending(&app, &agency, &row, &link).await;
    app.stop().await;
}

#[tokio::test]
async fn case_and_whitespace_variants_match_but_plus_tags_and_homoglyphs_do_not() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "  Client@EXAMPLE.com ", "developer").await;
    let link = app.grant_token("client@example.com", 1).await;

    // Look-alike addresses: a +tag and a Cyrillic "с" are other mailboxes.
    for lookalike in ["client+agency@example.com", "\u{0441}lient@example.com"] {
        let r = app
            .call(
                reqwest::Method::POST,
                "/v1/auth/sign-up",
                None,
                Some(json!({"email": lookalike, "password": crate::support::PASSWORD, "grant_token": link})),
            )
            .await;
        if r.status == StatusCode::CREATED {
            assert_eq!(r.body["account"]["email_verified"], false, "{lookalike}: {r:?}");
            let token = r.body["token"].as_str().unwrap();
            let (by_id, by_link) = try_approve(&app, token, &row, &link).await;
            assert_eq!(by_id.status, StatusCode::NOT_FOUND, "{lookalike}: {by_id:?}");
            assert_eq!((by_link.status, by_link.code()), (StatusCode::FORBIDDEN, "email_mismatch"), "{lookalike}");
        } else {
            r.assert_problem_4xx(lookalike);
        }
    }
    assert_still_pending(&app, &agency, &row, &link).await;

    // The same address in another case, with spaces: the invited client.
    let body = json!({"email": "\tCLIENT@example.COM ", "password": crate::support::PASSWORD, "grant_token": link});
    let r = app.call(reqwest::Method::POST, "/v1/auth/sign-up", None, Some(body)).await;
    assert_eq!((r.status, r.body["account"]["email_verified"].as_bool()), (StatusCode::CREATED, Some(true)), "{r:?}");
    let client = r.body["token"].as_str().unwrap().to_owned();
    let r = app.post(&format!("/v1/access-requests/by-token/{link}/approve"), &client, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    app.stop().await;
}
