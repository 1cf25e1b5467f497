//! The agency's "Shared accounts": request, bulk, list, row, resend, remove, websites,
//! log in as, leave.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PUBLIC_URL, SERVICE_TOKEN, spawn_app, spawn_with};

#[tokio::test]
async fn request_access_creates_a_requested_row_and_emails_a_grant_link() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", Some("Acme <Agency>")).await;
    let r = app.post("/v1/shared-accounts", &agency, json!({"email": "Client@Example.com", "role": "developer"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["email"], "client@example.com");
    assert_eq!(r.body["requested"], true);
    assert_eq!(r.body["state"], "requested");
    assert_eq!(r.body["role"], "developer");
    assert_eq!(r.body["status"], "no_data");
    assert_eq!(r.body["websites_count"], 0);
    assert_eq!(r.body["actions"], json!(["resend", "remove"]));
    assert_eq!(r.body["delivery"], "queued");
    assert!(r.body.get("token").is_none(), "tokens never reach the agency");

    let mail = app.wait_emails("client@example.com", "access_requested", 1).await;
    assert!(mail[0].text.contains(&format!("{PUBLIC_URL}/grant-access?token=")), "{}", mail[0].text);
    assert!(mail[0].html.contains("Acme &lt;Agency&gt;"));
    assert!(mail[0].subject.contains("Acme <Agency>"));
    // The row reports the email as sent once the worker delivered it.
    let id = r.body["id"].as_str().unwrap();
    let mut delivery = String::new();
    for _ in 0..100 {
        delivery =
            app.get(&format!("/v1/shared-accounts/{id}"), &agency).await.body["delivery"].as_str().unwrap().to_owned();
        if delivery == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(delivery, "sent");
    app.stop().await;
}

#[tokio::test]
async fn request_access_errors_follow_the_rules() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    app.request(&agency, "client@example.com", "admin").await;
    for (body, status, code) in [
        (json!({"email": "CLIENT@example.com", "role": "biller"}), StatusCode::CONFLICT, "conflict"),
        (
            json!({"email": "agency@example.com", "role": "biller"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (json!({"email": "nope", "role": "biller"}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"email": "x@example.com", "role": "owner"}), StatusCode::BAD_REQUEST, "validation_failed"),
        (
            json!({"email": "x@example.com", "role": "admin", "state": "approved"}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
    ] {
        let r = app.post("/v1/shared-accounts", &agency, body.clone()).await;
        assert_eq!((r.status, r.code()), (status, code), "{body} -> {r:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn request_access_answers_the_same_for_existing_and_unknown_emails() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    app.sign_up("existing@example.com", None).await;
    let a = app.post("/v1/shared-accounts", &agency, json!({"email": "existing@example.com", "role": "admin"})).await;
    let b = app.post("/v1/shared-accounts", &agency, json!({"email": "unknown@example.com", "role": "admin"})).await;
    assert_eq!(a.status, b.status);
    let strip = |mut v: serde_json::Value| {
        for k in ["id", "email", "requested_at", "last_sent_at"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    assert_eq!(strip(a.body), strip(b.body));
    app.stop().await;
}

#[tokio::test]
async fn bulk_request_answers_each_email_independently() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    app.request(&agency, "dup@example.com", "admin").await;
    let body = json!({"requests": [
        {"email": "one@example.com", "role": "biller"},
        {"email": "not-an-email", "role": "biller"},
        {"email": "dup@example.com", "role": "biller"},
        {"email": "two@example.com", "role": "admin"},
        {"email": "three@example.com", "role": "admin"},
        {"email": "three@example.com", "role": "biller"},
    ]});
    let r = app.post("/v1/shared-accounts/bulk", &agency, body).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let outcomes: Vec<_> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["outcome"].as_str().unwrap().to_owned(), x["code"].as_str().map(str::to_owned)))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("created".into(), None),
            ("rejected".into(), Some("validation_failed".into())),
            ("rejected".into(), Some("conflict".into())),
            ("created".into(), None),
            // Made together, decided in order: the repeat finds the first.
            ("created".into(), None),
            ("rejected".into(), Some("conflict".into())),
        ]
    );
    let list = app.get("/v1/shared-accounts?q=three", &agency).await;
    let roles: Vec<_> = list.body["items"].as_array().unwrap().iter().map(|x| x["role"].clone()).collect();
    assert_eq!(roles, [json!("admin")], "{list:?}");
    let too_many: Vec<_> = (0..101).map(|i| json!({"email": format!("c{i}@example.com"), "role": "biller"})).collect();
    let r = app.post("/v1/shared-accounts/bulk", &agency, json!({"requests": too_many})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn list_searches_filters_and_pages() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    for i in 0..5 {
        app.request(&agency, &format!("client{i}@shop.example"), "developer").await;
    }
    app.request(&agency, "other@elsewhere.example", "biller").await;
    let page1 = app.get("/v1/shared-accounts?limit=4", &agency).await;
    assert_eq!(page1.body["items"].as_array().unwrap().len(), 4, "{page1:?}");
    let cursor = page1.body["next_cursor"].as_str().unwrap();
    let page2 = app.get(&format!("/v1/shared-accounts?limit=4&cursor={cursor}"), &agency).await;
    assert_eq!(page2.body["items"].as_array().unwrap().len(), 2);
    assert!(page2.body["next_cursor"].is_null());
    // Newest first, no overlap.
    let emails: Vec<_> = [&page1, &page2]
        .iter()
        .flat_map(|p| p.body["items"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(emails[0], "other@elsewhere.example");
    assert_eq!(emails.len(), 6);
    let found = app.get("/v1/shared-accounts?q=SHOP", &agency).await;
    assert_eq!(found.body["items"].as_array().unwrap().len(), 5);
    let none = app.get("/v1/shared-accounts?status=all_good", &agency).await;
    assert_eq!(none.body["items"].as_array().unwrap().len(), 0);
    let no_data = app.get("/v1/shared-accounts?status=no_data", &agency).await;
    assert_eq!(no_data.body["items"].as_array().unwrap().len(), 6);
    for bad in ["limit=0", "limit=101", "status=fine", "cursor=garbage"] {
        let r = app.get(&format!("/v1/shared-accounts?{bad}"), &agency).await;
        assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
        assert_eq!(r.code(), "validation_failed");
    }
    app.stop().await;
}

#[tokio::test]
async fn another_agencys_rows_are_not_found_and_untouched() {
    let app = spawn_app().await;
    let (owner, _) = app.sign_up("agency@example.com", None).await;
    let (intruder, _) = app.sign_up("intruder@example.com", None).await;
    let id = app.request(&owner, "client@example.com", "admin").await;
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
    }
    let still = app.get(&format!("/v1/shared-accounts/{id}"), &owner).await;
    assert_eq!(still.body["state"], "requested");
    app.stop().await;
}

#[tokio::test]
async fn resend_rotates_the_link_and_is_rate_limited() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "biller").await;
    let first = app.grant_tokens("client@example.com", 1).await.remove(0);
    let r = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/resend"), Some(&agency), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let tokens = app.grant_tokens("client@example.com", 2).await;
    let second = tokens.last().unwrap().clone();
    assert_ne!(first, second);
    let old = app.call(Method::GET, &format!("/v1/access-requests/by-token/{first}"), None, None).await;
    assert_eq!((old.status, old.code()), (StatusCode::NOT_FOUND, "invalid_link"));
    let new = app.call(Method::GET, &format!("/v1/access-requests/by-token/{second}"), None, None).await;
    assert_eq!(new.status, StatusCode::OK, "{new:?}");
    // Five resends a day.
    for _ in 0..4 {
        let r = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/resend"), Some(&agency), None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    let r = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/resend"), Some(&agency), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{r:?}");
    assert!(r.retry_after.unwrap().parse::<u64>().unwrap() > 80_000);
    app.stop().await;
}

#[tokio::test]
async fn resend_inside_the_cooldown_is_429_with_retry_after() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "biller").await;
    let r = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/resend"), Some(&agency), None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    let wait: u64 = r.retry_after.unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(r.body["retry_after"], wait);
    app.stop().await;
}

#[tokio::test]
async fn remove_works_until_approval_then_is_a_conflict() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let gone = app.request(&agency, "gone@example.com", "biller").await;
    let r = app.call(Method::DELETE, &format!("/v1/shared-accounts/{gone}"), Some(&agency), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/v1/shared-accounts/{gone}"), &agency).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "removed rows leave the list");
    let kept = app.request(&agency, "client@example.com", "biller").await;
    app.client_approves("client@example.com").await;
    let r = app.call(Method::DELETE, &format!("/v1/shared-accounts/{kept}"), Some(&agency), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "invalid_state"), "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn approved_rows_show_websites_status_and_log_in_as() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "developer").await;
    let r = app.get(&format!("/v1/shared-accounts/{id}/websites"), &agency).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "invalid_state"),
        "view websites is inactive until approved"
    );
    let (client, client_id) = app.client_approves("client@example.com").await;
    let row = app.get(&format!("/v1/shared-accounts/{id}"), &agency).await;
    assert_eq!(row.body["requested"], false);
    assert_eq!(row.body["actions"], json!(["view_websites", "log_in_as"]));
    assert_eq!(row.body["status"], "no_data", "no websites yet");

    let mut site_ids = vec![];
    for domain in ["shop.example.com", "blog.example.com"] {
        let r = app.post(&format!("/v1/accounts/{client_id}/websites"), &client, json!({"domain": domain})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        site_ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let status = |connected: bool, health: &str| json!({"connected": connected, "health": health});
    let put = |site: &str, body| {
        app.call(Method::PUT, format!("/v1/internal/websites/{site}/status"), Some(SERVICE_TOKEN), Some(body))
    };
    assert_eq!(app.get(&format!("/v1/shared-accounts/{id}"), &agency).await.body["status"], "not_connected");
    put(&site_ids[0], status(true, "ok")).await;
    put(&site_ids[1], status(true, "warning")).await;
    let row = app.get(&format!("/v1/shared-accounts/{id}"), &agency).await;
    assert_eq!((row.body["status"].as_str(), row.body["websites_count"].as_u64()), (Some("all_good"), Some(2)));
    put(&site_ids[1], status(true, "major_issue")).await;
    assert_eq!(app.get(&format!("/v1/shared-accounts/{id}"), &agency).await.body["status"], "major_issue");
    let filtered = app.get("/v1/shared-accounts?status=major_issue", &agency).await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);

    let sites = app.get(&format!("/v1/shared-accounts/{id}/websites?q=SHOP"), &agency).await;
    let domains: Vec<_> = sites.body["items"].as_array().unwrap().iter().map(|s| s["domain"].clone()).collect();
    assert_eq!(domains, [json!("shop.example.com")]);

    let r = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/log-in-as"), Some(&agency), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!((r.body["account_id"].as_str(), r.body["role"].as_str()), (Some(client_id.as_str()), Some("developer")));
    let acting = r.body["token"].as_str().unwrap().to_owned();
    // Developer inside the client: websites yes, team and billing no, agency routes no.
    assert_eq!(app.get(&format!("/v1/accounts/{client_id}/websites"), &acting).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/accounts/{client_id}/team"), &acting).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&format!("/v1/accounts/{client_id}/subscription"), &acting).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/shared-accounts", &acting).await.status, StatusCode::FORBIDDEN);
    let nested = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/log-in-as"), Some(&acting), None).await;
    assert_eq!(nested.status, StatusCode::FORBIDDEN, "no nested log in as");
    // The client sees it in its audit log and got an email.
    let log = app.get(&format!("/v1/accounts/{client_id}/audit-log"), &client).await;
    assert!(log.body["items"].as_array().unwrap().iter().any(|e| e["kind"] == "impersonation_started"), "{log:?}");
    app.wait_emails("client@example.com", "impersonation_started", 1).await;
    app.stop().await;
}

#[tokio::test]
async fn leaving_frees_the_clients_slot() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let id = app.request(&agency, "client@example.com", "admin").await;
    let r = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/leave"), Some(&agency), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "invalid_state"), "only approved rows can be left");
    let (client, client_id) = app.client_approves("client@example.com").await;
    let r = app.call(Method::POST, &format!("/v1/shared-accounts/{id}/leave"), Some(&agency), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    assert_eq!(team.body["slots"]["used"], 0);
    assert_eq!(app.get(&format!("/v1/shared-accounts/{id}"), &agency).await.status, StatusCode::NOT_FOUND);
    app.wait_emails("client@example.com", "agency_left", 1).await;
    app.stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer_once() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let send = |email: &str| {
        app.client
            .post(format!("{}/v1/shared-accounts", app.base))
            .bearer_auth(&agency)
            .header("Idempotency-Key", "invite-42")
            .json(&json!({"email": email, "role": "admin"}))
            .send()
    };
    let first = crate::helpers::reply(send("client@example.com").await.unwrap()).await;
    let again = send("client@example.com").await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let again = crate::helpers::reply(again).await;
    assert_eq!((first.status, again.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first.body, again.body, "same response");
    let other = crate::helpers::reply(send("other@example.com").await.unwrap()).await;
    assert_eq!((other.status, other.code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    let list = app.get("/v1/shared-accounts", &agency).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "one row");
    app.wait_emails("client@example.com", "access_requested", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(crate::helpers::emails_to(&app.mail_dir, "client@example.com").len(), 1, "one email");
    app.stop().await;
}

#[tokio::test]
async fn the_list_is_served_again_while_current_and_fresh_after_any_change() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    app.request(&agency, "client@example.com", "developer").await;
    let (client, client_id) = app.client_approves("client@example.com").await;
    let list = || app.get("/v1/shared-accounts", &agency);
    let first = list().await;
    assert_eq!(first.body, list().await.body, "unchanged: the same page");
    assert_eq!(first.body["items"][0]["websites_count"], 0);

    // Writes from anyone (the client, the health service, the agency) show at once.
    let r =
        app.post(&format!("/v1/accounts/{client_id}/websites"), &client, json!({"domain": "shop.example.com"})).await;
    let site = r.body["id"].as_str().unwrap().to_owned();
    let row = &list().await.body["items"][0];
    assert_eq!((row["websites_count"].as_u64(), row["status"].as_str()), (Some(1), Some("not_connected")));
    list().await;
    let body = json!({"connected": true, "health": "major_issue"});
    let path = format!("/v1/internal/websites/{site}/status");
    assert_eq!(app.call(Method::PUT, path, Some(SERVICE_TOKEN), Some(body)).await.status, StatusCode::OK);
    assert_eq!(list().await.body["items"][0]["status"], "major_issue");
    app.request(&agency, "other@example.com", "biller").await;
    assert_eq!(list().await.body["items"].as_array().unwrap().len(), 2);
    let filtered = app.get("/v1/shared-accounts?status=major_issue", &agency).await;
    assert_eq!(filtered.body, app.get("/v1/shared-accounts?status=major_issue", &agency).await.body);
    // (Whether a page was served again is the unit and contract tests' concern: on
    // PostgreSQL, tests on other databases of the server may hold its horizon back.)
    app.stop().await;
}
