//! Races (catalogue 18-21): requests released at the same instant end in exactly one
//! consistent outcome, on SQLite and (with `CLIENTS_TEST_API_BACKEND=postgres`) on
//! PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{SecApp, all_at_once, spawn_app, spawn_with};

/// A verified client (signed up through a first agency's link) and its id.
async fn verified_client(app: &SecApp, email: &str) -> (String, String) {
    let (first, _) = app.sign_up(&format!("first-{email}"), None).await;
    app.request(&first, email, "biller").await;
    let link = app.grant_token(email, 1).await;
    app.sign_up_with_link(email, &link).await
}

fn statuses(replies: &[crate::support::Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status.as_u16()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_approvals_for_the_last_slot_let_exactly_one_win() {
    const N: usize = 8;
    let app = spawn_app().await;
    let (client, client_id) = verified_client(&app, "client@example.com").await;
    let mut rows = vec![];
    for i in 0..N {
        let (agency, _) = app.sign_up(&format!("agency{i}@example.com"), None).await;
        rows.push((agency.clone(), app.request(&agency, "client@example.com", "admin").await));
    }
    // The free plan has one slot; N approvals for it start together.
    let replies = all_at_once(
        rows.iter()
            .map(|(_, row)| app.req(Method::POST, &format!("/v1/access-requests/{row}/approve"), Some(&client)))
            .collect(),
    )
    .await;
    let won = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    let full = replies.iter().filter(|r| r.code() == "no_free_team_slots").count();
    assert_eq!((won, full), (1, N - 1), "{:?}", statuses(&replies));
    for r in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!((r.body["used"].as_u64(), r.body["limit"].as_u64()), (Some(1), Some(1)), "{r:?}");
    }
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    assert_eq!(team.body["members"].as_array().unwrap().len(), 1, "{team:?}");
    assert_eq!(team.body["slots"]["used"], 1);
    let mut approved = 0;
    for (agency, row) in &rows {
        let r = app.get(&format!("/v1/shared-accounts/{row}"), agency).await;
        approved += usize::from(r.body["state"] == "approved");
    }
    assert_eq!(approved, 1, "exactly one row is approved; the others stay requested");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_double_approve_makes_one_membership_and_the_same_answer() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "developer").await;
    let link = app.grant_token("client@example.com", 1).await;
    let (client, client_id) = app.sign_up_with_link("client@example.com", &link).await;
    let replies = all_at_once(
        (0..5).map(|_| app.req(Method::POST, &format!("/v1/access-requests/{row}/approve"), Some(&client))).collect(),
    )
    .await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK), "{:?}", statuses(&replies));
    assert!(replies.iter().all(|r| r.body == replies[0].body), "every click gets the same member");
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    assert_eq!(team.body["members"].as_array().unwrap().len(), 1, "{team:?}");
    let log = app.get(&format!("/v1/accounts/{client_id}/audit-log"), &client).await;
    let approvals = log.body["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "request_approved").count();
    assert_eq!(approvals, 1, "approved once in the audit log");
    app.wait_emails("agency@example.com", "request_approved", 1).await;
    app.settle().await;
    let mails = crate::support::emails_to(&app.mail_dir, "agency@example.com");
    assert_eq!(mails.iter().filter(|m| m.template == "request_approved").count(), 1, "one email to the agency");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_racing_remove_ends_in_one_consistent_outcome() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    for round in 0..4 {
        let email = format!("client{round}@example.com");
        let row = app.request(&agency, &email, "admin").await;
        let link = app.grant_token(&email, 1).await;
        let (client, client_id) = app.sign_up_with_link(&email, &link).await;
        let replies = all_at_once(vec![
            app.req(Method::POST, &format!("/v1/access-requests/{row}/approve"), Some(&client)),
            app.req(Method::DELETE, &format!("/v1/shared-accounts/{row}"), Some(&agency)),
        ])
        .await;
        let (approve, remove) = (&replies[0], &replies[1]);
        let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
        let members = team.body["members"].as_array().unwrap().len();
        let state = app.get(&format!("/v1/shared-accounts/{row}"), &agency).await;
        match (approve.status, remove.status) {
            (StatusCode::OK, StatusCode::CONFLICT) => {
                assert_eq!(remove.code(), "invalid_state");
                assert_eq!((members, state.body["state"].as_str()), (1, Some("approved")), "round {round}");
            }
            (s, StatusCode::NO_CONTENT) if s.is_client_error() => {
                approve.assert_problem_4xx("approve after remove");
                assert_eq!((members, state.status), (0, StatusCode::NOT_FOUND), "round {round}");
            }
            other => panic!("round {round}: inconsistent outcome {other:?}: {approve:?} {remove:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_racing_resend_never_approves_on_a_rotated_link() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    for round in 0..4 {
        let email = format!("client{round}@example.com");
        let row = app.request(&agency, &email, "admin").await;
        let old = app.grant_token(&email, 1).await;
        let (client, client_id) = app.sign_up_with_link(&email, &old).await;
        let replies = all_at_once(vec![
            app.req(Method::POST, &format!("/v1/access-requests/by-token/{old}/approve"), Some(&client))
                .json(&json!({})),
            app.req(Method::POST, &format!("/v1/shared-accounts/{row}/resend"), Some(&agency)),
        ])
        .await;
        let (approve, resend) = (&replies[0], &replies[1]);
        let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
        let members = team.body["members"].as_array().unwrap().len();
        match (approve.status, resend.status) {
            (StatusCode::OK, StatusCode::CONFLICT) => {
                assert_eq!(resend.code(), "invalid_state");
                assert_eq!(members, 1, "round {round}");
            }
            (StatusCode::NOT_FOUND, StatusCode::ACCEPTED) => {
                assert_eq!(approve.code(), "invalid_link");
                assert_eq!(members, 0, "round {round}");
                // Only the new link works.
                let new = app.grant_token(&email, 2).await;
                let r = app.post(&format!("/v1/access-requests/by-token/{new}/approve"), &client, json!({})).await;
                assert_eq!(r.status, StatusCode::OK, "{r:?}");
            }
            other => panic!("round {round}: inconsistent outcome {other:?}: {approve:?} {resend:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removal_racing_log_in_as_leaves_no_live_session() {
    let app = spawn_with(|c| c.plans = "free=10,basic=10,plus=10,pro=10,scale=unlimited".to_owned()).await;
    let (client, client_id) = verified_client(&app, "client@example.com").await;
    for round in 0..4 {
        let (agency, _) = app.sign_up(&format!("agency{round}@example.com"), None).await;
        let row = app.request(&agency, "client@example.com", "admin").await;
        let r = app.post_empty(&format!("/v1/access-requests/{row}/approve"), &client).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let member = r.body["id"].as_str().unwrap().to_owned();
        let replies = all_at_once(vec![
            app.req(Method::DELETE, &format!("/v1/accounts/{client_id}/team/members/{member}"), Some(&client)),
            app.req(Method::POST, &format!("/v1/shared-accounts/{row}/log-in-as"), Some(&agency)),
        ])
        .await;
        let (removed, started) = (&replies[0], &replies[1]);
        assert_eq!(removed.status, StatusCode::NO_CONTENT, "round {round}: {removed:?}");
        if started.status == StatusCode::CREATED {
            let token = started.body["token"].as_str().unwrap();
            let r = app.get(&format!("/v1/accounts/{client_id}/websites"), token).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "session_ended"), "round {round}: {r:?}");
        } else {
            started.assert_problem_4xx("log in as after removal");
        }
    }
    app.stop().await;
}
