//! Grant and session tokens (catalogue 6-13, 17): strong, stored only as hashes,
//! single use, expiring, rotated by resend, never shown to the agency, one answer for
//! every dead link, and inert under GET and HEAD.

use std::collections::HashSet;

use base64::Engine as _;
use clients_domain::ports::Entropy as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{SecApp, all_emails, logs, random_token, spawn_app, spawn_with};

fn bits_of(token: &str) -> usize {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap().len() * 8
}

#[tokio::test]
async fn grant_tokens_carry_at_least_128_bits_and_10k_samples_are_unique() {
    // The production entropy source and token type, as the service draws them.
    let samples: Vec<String> = (0..10_000)
        .map(|_| clients_domain::GrantToken::from_random(app::wiring::OsEntropy.token_bytes()).expose().to_owned())
        .collect();
    let unique: HashSet<_> = samples.iter().collect();
    assert_eq!(unique.len(), 10_000, "no duplicates in 10k samples");
    assert!(samples.iter().all(|t| bits_of(t) >= 128));
    // Every bit position is a fair coin (10k samples: 5 sigma is ±2.5 %).
    let mut ones = [0u32; 256];
    for t in &samples {
        for (i, byte) in base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).unwrap().iter().enumerate() {
            for b in 0..8 {
                ones[i * 8 + b] += u32::from((byte >> b) & 1);
            }
        }
    }
    assert!(ones.iter().all(|&n| (4_750..=5_250).contains(&n)), "biased bits: {ones:?}");

    // And the tokens the service actually emails.
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let requests: Vec<Value> =
        (0..10).map(|i| json!({"email": format!("c{i}@example.com"), "role": "biller"})).collect();
    let r = app.post("/v1/shared-accounts/bulk", &agency, json!({"requests": requests})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let mut emailed = HashSet::new();
    for i in 0..10 {
        let t = app.grant_token(&format!("c{i}@example.com"), 1).await;
        assert!(bits_of(&t) >= 128, "{t}");
        emailed.insert(t);
    }
    assert_eq!(emailed.len(), 10);
    app.stop().await;
}

/// Every byte the database keeps: the SQLite files (main, WAL, shared memory), or
/// every row of every table as text on PostgreSQL.
async fn database_bytes(app: &SecApp) -> Vec<u8> {
    if app.is_postgres() {
        use sea_orm::ConnectionTrait as _;
        let conn = app.sql().await;
        let backend = conn.get_database_backend();
        let tables = conn
            .query_all_raw(sea_orm::Statement::from_string(
                backend,
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'".to_owned(),
            ))
            .await
            .unwrap();
        let mut out = vec![];
        for t in tables {
            let name: String = t.try_get_by_index(0).unwrap();
            let sql = format!("SELECT row_to_json(t)::text FROM \"{name}\" t");
            for row in conn.query_all_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap() {
                let text: String = row.try_get_by_index(0).unwrap();
                out.extend_from_slice(text.as_bytes());
                out.push(b'\n');
            }
        }
        conn.close().await.unwrap();
        out
    } else {
        let mut out = vec![];
        for suffix in ["", "-wal", "-shm"] {
            let path = app.dir.join(format!("clients.db{suffix}"));
            out.extend(std::fs::read(&path).unwrap_or_default());
        }
        assert!(!out.is_empty(), "found the database files");
        out
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// SHA-256 of a token's text, as the service computes it (grant and session alike).
fn sha256(token: &str) -> [u8; 32] {
    *clients_domain::GrantToken::parse(token).unwrap().hash().as_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn only_hashes_of_grant_and_session_tokens_are_at_rest_in_the_database_and_logs() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let mut agency_signup = app.sign_up("agency@example.com", Some("Acme")).await.0;
    let agency = app.sign_in("agency@example.com").await;
    // A pending request whose link was rotated once: the first token is dead, the second live.
    let pending = app.request(&agency, "pending@example.com", "biller").await;
    let rotated = app.grant_token("pending@example.com", 1).await;
    let r = app.post_empty(&format!("/v1/shared-accounts/{pending}/resend"), &agency).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let live = app.grant_token("pending@example.com", 2).await;
    // An approved request and a "Log in as" session.
    let row = app.request(&agency, "client@example.com", "admin").await;
    let used = app.grant_token("client@example.com", 1).await;
    let (client, _) = app.sign_up_with_link("client@example.com", &used).await;
    let r = app.post(&format!("/v1/access-requests/by-token/{used}/approve"), &client, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let acting = app.log_in_as(&agency, &row).await;
    app.settle().await;

    let db = database_bytes(&app).await;
    let log = logs();
    let secrets = [
        ("rotated grant token", rotated.as_str()),
        ("live grant token", live.as_str()),
        ("used grant token", used.as_str()),
        ("sign-up session", agency_signup.as_str()),
        ("sign-in session", agency.as_str()),
        ("client session", client.as_str()),
        ("log-in-as session", acting.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(!contains(&db, secret.as_bytes()), "the {what} is stored in the clear");
        assert!(!log.contains(secret), "the {what} is in the logs");
    }
    // What is there is the SHA-256 (the lookup key): proof we read the right bytes.
    for (what, secret) in [("live grant token", live.as_str()), ("sign-in session", agency.as_str())] {
        let h = sha256(secret);
        assert!(contains(&db, &h) || contains(&db, hex(&h).as_bytes()), "the {what}'s hash is not stored");
    }
    // The email (the one place a raw grant token may go) did carry it.
    assert!(crate::support::emails_to(&app.mail_dir, "pending@example.com").iter().any(|e| e.text.contains(&live)));
    agency_signup.clear();
    app.stop().await;
}

async fn link_answer(app: &SecApp, token: &str, signed_in: &str) -> (crate::support::Reply, crate::support::Reply) {
    let get = app.call(Method::GET, &format!("/v1/access-requests/by-token/{token}"), None, None).await;
    let post = app.post(&format!("/v1/access-requests/by-token/{token}/approve"), signed_in, json!({})).await;
    (get, post)
}

fn assert_dead(what: &str, (get, post): &(crate::support::Reply, crate::support::Reply)) {
    assert_eq!((get.status, get.code()), (StatusCode::NOT_FOUND, "invalid_link"), "{what} GET: {get:?}");
    assert_eq!((post.status, post.code()), (StatusCode::NOT_FOUND, "invalid_link"), "{what} approve: {post:?}");
}

#[tokio::test]
async fn a_used_grant_link_cannot_be_replayed() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    let (client, _) = app.client_approves("client@example.com").await;
    let used = app.grant_token("client@example.com", 1).await;
    // The approving client, and anyone else, replaying it.
    let (other, _) = app.sign_up("other@example.com", None).await;
    assert_dead("replay by the client", &link_answer(&app, &used, &client).await);
    assert_dead("replay by another", &link_answer(&app, &used, &other).await);
    let team = app.get("/v1/shared-accounts", &agency).await;
    assert_eq!(team.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("/v1/shared-accounts/{row}"), &agency).await.body["state"], "approved");
    app.stop().await;
}

#[tokio::test]
async fn an_expired_grant_link_is_rejected_and_a_resend_issues_a_working_one() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    let old = app.grant_token("client@example.com", 1).await;
    let (client, _) = app.sign_up_with_link("client@example.com", &old).await;
    // Seven days pass for this link.
    let id = uuid::Uuid::parse_str(&row).unwrap();
    app.exec("UPDATE access_requests SET grant_expires_at = grant_issued_at WHERE id = $1", vec![id.into()]).await;
    assert_dead("expired", &link_answer(&app, &old, &client).await);
    assert_eq!(app.get(&format!("/v1/shared-accounts/{row}"), &agency).await.body["state"], "requested");
    let r = app.post_empty(&format!("/v1/shared-accounts/{row}/resend"), &agency).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let new = app.grant_token("client@example.com", 2).await;
    let r = app.post(&format!("/v1/access-requests/by-token/{new}/approve"), &client, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn resend_rotates_the_link_and_the_old_one_is_dead() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    let old = app.grant_token("client@example.com", 1).await;
    let r = app.post_empty(&format!("/v1/shared-accounts/{row}/resend"), &agency).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let new = app.grant_token("client@example.com", 2).await;
    assert_ne!(old, new);
    let (client, _) = app.sign_up_with_link("client@example.com", &new).await;
    assert_dead("rotated", &link_answer(&app, &old, &client).await);
    let r = app.post(&format!("/v1/access-requests/by-token/{new}/approve"), &client, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_removed_requests_link_is_dead() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    let link = app.grant_token("client@example.com", 1).await;
    let (client, _) = app.sign_up_with_link("client@example.com", &link).await;
    let r = app.call(Method::DELETE, &format!("/v1/shared-accounts/{row}"), Some(&agency), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_dead("removed", &link_answer(&app, &link, &client).await);
    let team = app.get("/v1/access-requests", &client).await;
    assert_eq!(team.body["slots"]["used"], 0);
    app.stop().await;
}

#[tokio::test]
async fn invalid_expired_used_rotated_and_removed_links_answer_identically() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let (signed_in, _) = app.sign_up("someone@example.com", None).await;
    let mut dead = vec![("unknown", random_token()), ("malformed", "not-a-token".to_owned())];

    let rotated_row = app.request(&agency, "rotated@example.com", "biller").await;
    let rotated = app.grant_token("rotated@example.com", 1).await;
    app.post_empty(&format!("/v1/shared-accounts/{rotated_row}/resend"), &agency).await;
    app.grant_tokens("rotated@example.com", 2).await;
    dead.push(("rotated", rotated));

    let expired_row = app.request(&agency, "expired@example.com", "biller").await;
    let id = uuid::Uuid::parse_str(&expired_row).unwrap();
    app.exec("UPDATE access_requests SET grant_expires_at = grant_issued_at WHERE id = $1", vec![id.into()]).await;
    dead.push(("expired", app.grant_token("expired@example.com", 1).await));

    let removed_row = app.request(&agency, "removed@example.com", "biller").await;
    app.call(Method::DELETE, &format!("/v1/shared-accounts/{removed_row}"), Some(&agency), None).await;
    dead.push(("removed", app.grant_token("removed@example.com", 1).await));

    app.request(&agency, "used@example.com", "biller").await;
    app.client_approves("used@example.com").await;
    dead.push(("used", app.grant_token("used@example.com", 1).await));

    let declined_row = app.request(&agency, "declined@example.com", "biller").await;
    let declined_link = app.grant_token("declined@example.com", 1).await;
    let (decliner, _) = app.sign_up_with_link("declined@example.com", &declined_link).await;
    let r = app.post_empty(&format!("/v1/access-requests/{declined_row}/decline"), &decliner).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    dead.push(("declined", declined_link));

    let mut answers = vec![];
    for (what, token) in &dead {
        let pair = link_answer(&app, token, &signed_in).await;
        assert_dead(what, &pair);
        answers.push((what, pair.0.body, pair.1.body));
    }
    for (what, get, post) in &answers {
        assert_eq!(get, &answers[0].1, "{what}: GET answers like an unknown link");
        assert_eq!(post, &answers[0].2, "{what}: approve answers like an unknown link");
    }
    app.stop().await;
}

#[tokio::test]
async fn tokens_never_appear_in_agency_facing_responses() {
    let app = spawn_with(|c| c.resend_cooldown_secs = 0).await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let mut seen = vec![];
    let r = app.post("/v1/shared-accounts", &agency, json!({"email": "client@example.com", "role": "admin"})).await;
    let row = r.body["id"].as_str().unwrap().to_owned();
    seen.push(r.text);
    let bulk = json!({"requests": [{"email": "b1@example.com", "role": "biller"}, {"email": "b2@example.com", "role": "admin"}]});
    seen.push(app.post("/v1/shared-accounts/bulk", &agency, bulk).await.text);
    seen.push(app.post_empty(&format!("/v1/shared-accounts/{row}/resend"), &agency).await.text);
    seen.push(app.get("/v1/shared-accounts", &agency).await.text);
    seen.push(app.get(&format!("/v1/shared-accounts/{row}"), &agency).await.text);
    let link = app.grant_token("client@example.com", 2).await;
    let (client, client_id) = app.sign_up_with_link("client@example.com", &link).await;
    let r = app.post(&format!("/v1/access-requests/by-token/{link}/approve"), &client, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    seen.push(app.get("/v1/shared-accounts", &agency).await.text);
    seen.push(app.get(&format!("/v1/shared-accounts/{row}/websites"), &agency).await.text);
    let r = app.post_empty(&format!("/v1/shared-accounts/{row}/log-in-as"), &agency).await;
    let acting = r.body["token"].as_str().unwrap().to_owned();
    seen.push(r.text);
    seen.push(app.get(&format!("/v1/accounts/{client_id}/audit-log"), &acting).await.text);
    seen.push(app.get(&format!("/v1/accounts/{client_id}/team"), &acting).await.text);
    seen.push(app.get("/v1/me", &agency).await.text);

    let mut secrets = app.grant_tokens("client@example.com", 2).await;
    secrets.extend(app.grant_tokens("b1@example.com", 1).await);
    secrets.extend(app.grant_tokens("b2@example.com", 1).await);
    secrets.push(client.clone());
    for body in &seen {
        assert!(!body.is_empty());
        for secret in &secrets {
            assert!(!body.contains(secret.as_str()), "a token leaked to the agency: {body}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn get_and_head_on_the_grant_link_change_nothing() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    let row = app.request(&agency, "client@example.com", "admin").await;
    let link = app.grant_token("client@example.com", 1).await;
    let (client, client_id) = app.sign_up("client@example.com", None).await;
    app.settle().await;
    let before = (app.get(&format!("/v1/shared-accounts/{row}"), &agency).await.body, all_emails(&app.mail_dir));
    // Mail scanners and link previewers fetch the link, signed in or not, again and again.
    for _ in 0..3 {
        for path in [format!("/v1/access-requests/by-token/{link}"), format!("/grant-access?token={link}")] {
            for method in [Method::GET, Method::HEAD] {
                for token in [None, Some(client.as_str())] {
                    let r = app.call(method.clone(), &path, token, None).await;
                    assert!(!r.status.is_server_error(), "{method} {path}: {r:?}");
                }
            }
        }
    }
    app.settle().await;
    let after = (app.get(&format!("/v1/shared-accounts/{row}"), &agency).await.body, all_emails(&app.mail_dir));
    assert_eq!(before, after, "the row and the mail folder are unchanged");
    assert_eq!(app.get("/v1/me", &client).await.body["email_verified"], false, "reading a link verifies nothing");
    let team = app.get(&format!("/v1/accounts/{client_id}/team"), &client).await;
    assert_eq!(team.body["members"], json!([]), "nobody was approved");
    let r = app.call(Method::GET, &format!("/v1/access-requests/by-token/{link}"), None, None).await;
    assert_eq!(r.status, StatusCode::OK, "the link still works: {r:?}");
    app.stop().await;
}

#[tokio::test]
async fn grant_link_answers_send_no_referrer_and_no_store() {
    let app = spawn_app().await;
    let (agency, _) = app.sign_up("agency@example.com", None).await;
    app.request(&agency, "client@example.com", "admin").await;
    let link = app.grant_token("client@example.com", 1).await;
    for token in [link.as_str(), "not-a-token"] {
        let r = app.call(Method::GET, &format!("/v1/access-requests/by-token/{token}"), None, None).await;
        let header = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(header("referrer-policy"), "no-referrer", "{r:?}");
        assert!(header("cache-control").contains("no-store"), "{r:?}");
    }
    app.stop().await;
}
