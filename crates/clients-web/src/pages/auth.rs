//! Sign in, sign up (both prefilled from a grant link) and sign out.

use std::sync::Arc;

use clients_domain::service::{GrantLink, Ports, SignInError, SignUp, SignUpError};
use clients_domain::{DisplayName, Email, GrantToken, Password};
use minijinja::context;
use poem::http::StatusCode;
use poem::{Request, Response};
use serde::Deserialize;

use super::{Frame, Inbox, Section, go, go_with, message, query, read_form, render, unavailable};
use crate::Web;
use crate::cookies::FlashKind;
use crate::csrf::local_path;
use crate::session::Visitor;
use crate::views::role_label;

/// `/`: the clients page when signed in (websites while acting), else sign-in.
pub(crate) async fn home<P: Ports>(web: Arc<Web<P>>, req: Request) -> Response {
    let v = Visitor::resolve(&web, &req).await;
    let to = match (&v.acting, &v.personal) {
        (Some(_), _) => "/websites",
        (None, Some(_)) => "/clients",
        (None, None) => "/sign-in",
    };
    go(&v, to)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthQuery {
    grant: String,
    next: String,
    email: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignInForm {
    email: String,
    password: String,
    grant: String,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignUpForm {
    name: String,
    email: String,
    password: String,
    grant: String,
    next: String,
}

/// Where to go once signed in: the grant link's approval, `next`, or the clients page.
fn after_sign_in(grant: &str, next: &str) -> String {
    if GrantToken::parse(grant).is_ok() {
        format!("/grant-access{}", query(&[("token", grant)]))
    } else {
        local_path(next).unwrap_or("/clients").to_owned()
    }
}

/// What a grant link says, to prefill and explain the sign-in and sign-up forms.
pub(crate) async fn grant_context<P: Ports>(web: &Web<P>, v: &Visitor, token: &str) -> Option<GrantLink> {
    let token = GrantToken::parse(token).ok()?;
    if let Some(t) = &web.throttle {
        t.grant(v.ip, None).ok()?;
    }
    web.service.grant_link(&token).await.ok()
}

fn grant_view(link: Option<&GrantLink>) -> minijinja::Value {
    link.map_or(minijinja::Value::UNDEFINED, |l| {
        context! {
            agency_name => l.agency_name.clone(),
            agency_email => l.agency_email.as_str(),
            role => role_label(l.role),
            role_summary => l.role.summary(),
        }
    })
}

struct AuthPage<'a> {
    template: &'static str,
    title: &'static str,
    email: &'a str,
    name: &'a str,
    grant: &'a str,
    next: &'a str,
    error: Option<String>,
}

async fn auth_page<P: Ports>(
    web: &Web<P>,
    v: &mut Visitor,
    req: &Request,
    status: StatusCode,
    page: AuthPage<'_>,
) -> Response {
    let link = if page.grant.is_empty() { None } else { grant_context(web, v, page.grant).await };
    let email = if page.email.is_empty() { link.as_ref().map_or("", |l| l.email.as_str()) } else { page.email };
    let frame = Frame::new(page.title, Section::None, Inbox::Hidden, req);
    let ctx = context! {
        email, name => page.name, next => page.next, error => page.error,
        grant_token => if link.is_some() { page.grant } else { "" },
        grant => grant_view(link.as_ref()),
        other_query => query(&[("grant", if link.is_some() { page.grant } else { "" }), ("next", page.next)]),
    };
    render(web, v, status, page.template, &frame, ctx).await
}

fn auth_query(req: &Request) -> AuthQuery {
    serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default()
}

/// `GET /sign-in`.
pub(crate) async fn sign_in_page<P: Ports>(web: Arc<Web<P>>, req: Request) -> Response {
    let mut v = Visitor::resolve(&web, &req).await;
    let q = auth_query(&req);
    if v.personal.is_some() {
        return go(&v, &after_sign_in(&q.grant, &q.next));
    }
    let page = AuthPage {
        template: "sign_in.html",
        title: "Sign in",
        email: &q.email,
        name: "",
        grant: &q.grant,
        next: &q.next,
        error: None,
    };
    auth_page(&web, &mut v, &req, StatusCode::OK, page).await
}

/// `POST /sign-in`.
pub(crate) async fn sign_in<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, SignInForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let email_key = f.email.trim().to_ascii_lowercase();
    if let Some(Err(secs)) = web.throttle.as_ref().map(|t| t.sign_in(&email_key, v.ip)) {
        return too_many(&web, &mut v, &req, secs).await;
    }
    let fail = |error: &str| AuthPage {
        template: "sign_in.html",
        title: "Sign in",
        email: &f.email,
        name: "",
        grant: &f.grant,
        next: &f.next,
        error: Some(error.to_owned()),
    };
    let wrong = "The email or password is not right.";
    let (Ok(email), Ok(password)) = (Email::parse(&f.email), Password::parse(&f.password)) else {
        return auth_page(&web, &mut v, &req, StatusCode::UNAUTHORIZED, fail(wrong)).await;
    };
    match web.service.sign_in(&email, &password).await {
        Ok(signed) => {
            v.start_session(&web, signed.token.expose());
            go(&v, &after_sign_in(&f.grant, &f.next))
        }
        Err(SignInError::InvalidCredentials) => {
            auth_page(&web, &mut v, &req, StatusCode::UNAUTHORIZED, fail(wrong)).await
        }
        Err(e) => unavailable(&web, &mut v, &req, &e).await,
    }
}

/// `GET /sign-up`.
pub(crate) async fn sign_up_page<P: Ports>(web: Arc<Web<P>>, req: Request) -> Response {
    let mut v = Visitor::resolve(&web, &req).await;
    let q = auth_query(&req);
    if v.personal.is_some() {
        return go(&v, &after_sign_in(&q.grant, &q.next));
    }
    let page = AuthPage {
        template: "sign_up.html",
        title: "Create your account",
        email: &q.email,
        name: "",
        grant: &q.grant,
        next: &q.next,
        error: None,
    };
    auth_page(&web, &mut v, &req, StatusCode::OK, page).await
}

/// `POST /sign-up`.
pub(crate) async fn sign_up<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, SignUpForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(Err(secs)) = web.throttle.as_ref().map(|t| t.sign_up(v.ip)) {
        return too_many(&web, &mut v, &req, secs).await;
    }
    let fail = |error: String| AuthPage {
        template: "sign_up.html",
        title: "Create your account",
        email: &f.email,
        name: &f.name,
        grant: &f.grant,
        next: &f.next,
        error: Some(error),
    };
    let Ok(email) = Email::parse(&f.email) else {
        let page = fail("Enter a valid email address, like name@example.com.".to_owned());
        return auth_page(&web, &mut v, &req, StatusCode::UNPROCESSABLE_ENTITY, page).await;
    };
    let password = match Password::parse(&f.password) {
        Ok(p) => p,
        Err(e) => {
            let page = fail(format!("Choose another password: the {e}."));
            return auth_page(&web, &mut v, &req, StatusCode::UNPROCESSABLE_ENTITY, page).await;
        }
    };
    let name = match f.name.trim() {
        "" => None,
        raw => match DisplayName::parse(raw) {
            Ok(n) => Some(n),
            Err(e) => {
                let page = fail(format!("Choose another name: the {e}."));
                return auth_page(&web, &mut v, &req, StatusCode::UNPROCESSABLE_ENTITY, page).await;
            }
        },
    };
    let grant_token = GrantToken::parse(&f.grant).ok();
    match web.service.sign_up(SignUp { email, password, name, grant_token }).await {
        Ok(signed) => {
            v.start_session(&web, signed.token.expose());
            go(&v, &after_sign_in(&f.grant, &f.next))
        }
        Err(SignUpError::EmailTaken) => {
            let page = fail("An account with this email exists already. Sign in instead.".to_owned());
            auth_page(&web, &mut v, &req, StatusCode::CONFLICT, page).await
        }
        Err(e) => unavailable(&web, &mut v, &req, &e).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignOutForm {
    next: String,
}

/// `POST /sign-out`: ends the acting session and the personal one.
pub(crate) async fn sign_out<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, SignOutForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let sessions = [v.acting.as_ref().map(|a| a.principal.clone()), v.personal.as_ref().map(|p| p.principal.clone())];
    for principal in sessions.into_iter().flatten() {
        if let Err(e) = web.service.sign_out(&principal).await {
            return unavailable(&web, &mut v, &req, &e).await;
        }
    }
    v.sign_out(&web);
    let to = local_path(&f.next).unwrap_or("/sign-in");
    go_with(&web, &mut v, to, FlashKind::Notice, "You are signed out.")
}

async fn too_many<P: Ports>(web: &Web<P>, v: &mut Visitor, req: &Request, secs: u64) -> Response {
    let text = format!("Too many attempts. Wait {secs} seconds, then try again.");
    message(web, v, req, StatusCode::TOO_MANY_REQUESTS, "Slow down", &text, Some(("/sign-in", "Back to sign in"))).await
}
