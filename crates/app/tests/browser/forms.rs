//! Forms over plain HTTP (no browser needed): a form without the CSRF token, with
//! another session's token, or posted from another site is refused; the session
//! cookie's attributes; pages carry a Content-Security-Policy.

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};

use crate::server::{PASSWORD, TestApp, spawn_with};

/// Signs in through the form like a browser; returns the cookie header to send.
async fn signed_in(app: &TestApp, email: &str) -> String {
    let page = app.http.get(app.url("/sign-in")).send().await.unwrap();
    let anon = cookie_pair(&page, "clients_anon");
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    let r = app
        .http
        .post(app.url("/sign-in"))
        .header(COOKIE, &anon)
        .header(ORIGIN, &app.base)
        .form(&[("csrf", csrf.as_str()), ("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signing in redirects");
    let session = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("clients_session="))
        .expect("a session cookie");
    assert!(
        session.contains("; HttpOnly") && session.contains("; SameSite=Lax") && session.contains("; Path=/"),
        "{session}"
    );
    assert!(!session.contains("; Secure"), "not Secure on an http public URL: {session}");
    session.split(';').next().unwrap().to_owned()
}

fn cookie_pair(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} field"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    let html = app.http.get(app.url("/clients")).header(COOKIE, cookie).send().await.unwrap().text().await.unwrap();
    hidden(&html, "csrf")
}

async fn invite(app: &TestApp, cookie: &str, csrf: &str, origin: Option<&str>) -> reqwest::Response {
    let mut req = app.http.post(app.url("/clients/invite")).header(COOKIE, cookie);
    if let Some(o) = origin {
        req = req.header(ORIGIN, o);
    }
    req.form(&[("csrf", csrf), ("email", "client@example.com"), ("role", "admin")]).send().await.unwrap()
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_or_from_another_site_are_refused() {
    let app = spawn_with(|_| {}).await;
    app.api_sign_up("a@agency.test", "A").await;
    app.api_sign_up("b@agency.test", "B").await;
    let a = signed_in(&app, "a@agency.test").await;
    let b = signed_in(&app, "b@agency.test").await;
    let a_token = csrf_of(&app, &a).await;
    let b_token = csrf_of(&app, &b).await;
    assert_ne!(a_token, b_token, "tokens are per session");

    for (why, token, origin) in [
        ("no token", "", Some(app.base.as_str())),
        ("another session's token", b_token.as_str(), Some(app.base.as_str())),
        ("a forged token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Some(app.base.as_str())),
        ("another site", a_token.as_str(), Some("https://evil.example")),
        ("a sandboxed frame", a_token.as_str(), Some("null")),
    ] {
        let r = invite(&app, &a, token, origin).await;
        assert_eq!(r.status(), 403, "{why}");
        assert!(r.text().await.unwrap().contains("Form expired"), "{why}");
    }
    let list = app.http.get(app.url("/clients")).header(COOKIE, &a).send().await.unwrap().text().await.unwrap();
    assert!(!list.contains("data-email=\"client@example.com\""), "nothing was created");

    // The same form with the session's token from the site itself goes through.
    let r = invite(&app, &a, &a_token, Some(&app.base)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/clients");
    app.stop().await;
}

#[tokio::test]
async fn pages_forbid_framing_and_foreign_scripts_and_need_a_session() {
    let app = spawn_with(|_| {}).await;
    let r = app.http.get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let anon = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(anon.starts_with("clients_anon=") && anon.contains("HttpOnly"), "{anon}");

    for page in ["/clients", "/team", "/websites", "/access-log"] {
        let r = app.http.get(app.url(page)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{page}");
        assert!(r.headers()[LOCATION].to_str().unwrap().starts_with("/sign-in?next="), "{page}");
    }
    for asset in ["/assets/app.css", "/assets/app.js", "/assets/icon.svg"] {
        assert_eq!(app.http.get(app.url(asset)).send().await.unwrap().status(), 200, "{asset}");
    }
    // The API keeps its own paths next to the pages.
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_session_cookie_is_cleared_and_the_visitor_sent_to_sign_in() {
    let app = spawn_with(|_| {}).await;
    let r = app.http.get(app.url("/clients")).header(COOKIE, "clients_session=not-a-real-token").send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cleared = r.headers().get_all(SET_COOKIE).iter().any(|c| c.to_str().unwrap().starts_with("clients_session=; "));
    assert!(cleared, "an unknown session cookie is cleared");
    app.stop().await;
}

#[tokio::test]
async fn sign_in_through_the_pages_spends_the_same_guessing_budget_as_the_api() {
    let app = spawn_with(|c| c.sign_in_email_burst = 2).await;
    app.api_sign_up("a@agency.test", "A").await;
    // One wrong password through the API, one through the page: the budget of 2 is spent.
    let wrong = serde_json::json!({"email": "a@agency.test", "password": "wrong password 1"});
    let r = app.http.post(app.url("/v1/auth/sign-in")).json(&wrong).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let page = app.http.get(app.url("/sign-in")).send().await.unwrap();
    let anon = cookie_pair(&page, "clients_anon");
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    let attempt = |password: &'static str| {
        app.http
            .post(app.url("/sign-in"))
            .header(COOKIE, &anon)
            .header(ORIGIN, &app.base)
            .form(&[("csrf", csrf.as_str()), ("email", "a@agency.test"), ("password", password)])
            .send()
    };
    let r = attempt("wrong password 2").await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("The email or password is not right."));
    // Even the right password now waits.
    let r = attempt(PASSWORD).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many attempts. Wait"));
    app.stop().await;
}
