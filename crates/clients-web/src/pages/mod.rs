//! The pages, and what they share: the layout (navigation, the "Acting as" banner, the
//! flash message, the approval pop-up), form reading with the CSRF check, and the
//! answers for "sign in first", "not allowed" and "try again".

pub(crate) mod account;
pub(crate) mod agency;
pub(crate) mod assets;
pub(crate) mod auth;
pub(crate) mod client;

use clients_domain::service::Ports;
use clients_domain::{Permission, Principal};
use minijinja::{Value, context};
use poem::Request;
use poem::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Web;
use crate::cookies::FlashKind;
use crate::render::{broken, html, redirect};
use crate::session::Visitor;
use crate::views::{self, PendingView, SlotsView};

/// The navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Clients,
    Websites,
    Team,
    AccessLog,
    None,
}

/// How the approval pop-up shows on a page that has requests waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbox {
    /// Opens by itself (the seed: "a pop-up will appear requiring them to approve").
    Open,
    /// A notice with a button (pages where the client makes room: Team Management).
    Notice,
    /// Not shown (sign-in pages, the grant page that has its own pop-up).
    Hidden,
}

/// What a page says about itself to the layout.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) title: String,
    pub(crate) section: Section,
    pub(crate) inbox: Inbox,
    /// This page's path and query (where forms in the layout come back to).
    pub(crate) here: String,
}

impl Frame {
    pub(crate) fn new(title: impl Into<String>, section: Section, inbox: Inbox, req: &Request) -> Self {
        let here = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Self { title: title.into(), section, inbox, here }
    }
}

#[derive(Debug, Serialize)]
struct NavItem {
    href: &'static str,
    label: &'static str,
    current: bool,
}

#[derive(Debug, Serialize)]
struct InboxView {
    items: Vec<PendingView>,
    slots: SlotsView,
    plans: Vec<views::PlanView>,
    open: bool,
}

async fn layout<P: Ports>(web: &Web<P>, v: &mut Visitor, frame: &Frame) -> Value {
    let csrf = v.csrf(web);
    let flash = v.flash.take().map(|(kind, text)| context! { kind, text });
    let user = v.personal.as_ref().map(|p| {
        context! { name => p.account.display_name(), email => p.account.email.as_str() }
    });
    let acting = v.acting.as_ref().map(|a| {
        context! {
            client_name => a.client.display_name(),
            client_email => a.client.email.as_str(),
            role => views::role_label(a.session.started_as),
        }
    });
    let item = |href, label, section| NavItem { href, label, current: frame.section == section };
    let nav = match (&v.acting, &v.personal) {
        (Some(a), _) => {
            let mut nav = vec![];
            if a.session.permissions.contains(Permission::WebsitesRead) {
                nav.push(item("/websites", "Websites", Section::Websites));
            }
            if a.session.permissions.contains(Permission::TeamManage) {
                nav.push(item("/team", "Team Management", Section::Team));
                nav.push(item("/access-log", "Access log", Section::AccessLog));
            }
            nav
        }
        (None, Some(_)) => vec![
            item("/clients", "Clients", Section::Clients),
            item("/websites", "Websites", Section::Websites),
            item("/team", "Team Management", Section::Team),
            item("/access-log", "Access log", Section::AccessLog),
        ],
        (None, None) => vec![],
    };
    let inbox = match (&v.acting, &v.personal, frame.inbox) {
        (None, Some(p), Inbox::Open | Inbox::Notice) => match web.service.inbox(&p.principal).await {
            Ok(inbox) if !inbox.items.is_empty() => Some(InboxView {
                items: inbox.items.iter().map(PendingView::of).collect(),
                slots: SlotsView::of(inbox.slots),
                plans: views::plans(&web.service.policy().plans, p.account.plan),
                open: frame.inbox == Inbox::Open,
            }),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "loading the approval pop-up failed");
                None
            }
        },
        _ => None,
    };
    context! { csrf, flash, user, acting, nav, inbox, here => frame.here.clone() }
}

/// Renders `template` inside the layout.
pub(crate) async fn render<P: Ports>(
    web: &Web<P>,
    v: &mut Visitor,
    status: StatusCode,
    template: &str,
    frame: &Frame,
    ctx: Value,
) -> poem::Response {
    let layout = layout(web, v, frame).await;
    let ctx = context! { layout, title => frame.title.clone(), ..ctx };
    match web.templates.render(template, ctx) {
        Ok(body) => html(status, body, &v.set_cookies),
        Err(e) => broken(&e),
    }
}

/// A page with a title, a message and an optional link.
pub(crate) async fn message<P: Ports>(
    web: &Web<P>,
    v: &mut Visitor,
    req: &Request,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> poem::Response {
    let frame = Frame::new(title, Section::None, Inbox::Hidden, req);
    let link = link.map(|(href, label)| context! { href, label });
    render(web, v, status, "message.html", &frame, context! { text, link }).await
}

/// Redirects, carrying the visitor's cookies.
pub(crate) fn go(v: &Visitor, to: &str) -> poem::Response {
    redirect(to, &v.set_cookies)
}

/// Redirects with a message for the next page.
pub(crate) fn go_with<P: Ports>(
    web: &Web<P>,
    v: &mut Visitor,
    to: &str,
    kind: FlashKind,
    text: &str,
) -> poem::Response {
    v.flash_next(web, kind, text);
    redirect(to, &v.set_cookies)
}

/// Sends visitors without a session to sign in, coming back here afterwards.
pub(crate) fn sign_in_first(v: &Visitor, req: &Request) -> poem::Response {
    let here = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let query = serde_urlencoded::to_string([("next", here)]).unwrap_or_default();
    go(v, &format!("/sign-in?{query}"))
}

/// The answer when storage failed (logged by the caller's `Display`).
pub(crate) async fn unavailable<P: Ports>(
    web: &Web<P>,
    v: &mut Visitor,
    req: &Request,
    error: &(dyn std::fmt::Display + Sync),
) -> poem::Response {
    tracing::error!(error = %error, path = %req.uri().path(), "a page failed");
    let text = "The service could not finish this right now. Nothing was changed; please try again in a moment.";
    message(web, v, req, StatusCode::SERVICE_UNAVAILABLE, "Please try again", text, None).await
}

/// The answer to a "Log in as" session on a page it may not use.
pub(crate) async fn not_while_acting<P: Ports>(web: &Web<P>, v: &mut Visitor, req: &Request) -> poem::Response {
    let text = "You are working inside a client's account. Exit \"Log in as\" (in the banner above) to return to your own account.";
    message(web, v, req, StatusCode::FORBIDDEN, "Not available while acting as a client", text, None).await
}

/// The answer when the role does not include a page.
pub(crate) async fn not_allowed<P: Ports>(web: &Web<P>, v: &mut Visitor, req: &Request) -> poem::Response {
    let text = "Your role in this account does not include this page.";
    message(web, v, req, StatusCode::FORBIDDEN, "Not included in your role", text, None).await
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Reads a POSTed form after the CSRF check. `Err` is the answer to send instead:
/// 403 for a forged or stale form, 400 for a malformed one.
pub(crate) async fn read_form<P: Ports, T: DeserializeOwned>(
    web: &Web<P>,
    req: &mut Request,
) -> Result<(Visitor, T), poem::Response> {
    let mut v = Visitor::resolve(web, req).await;
    let body = match req.take_body().into_bytes_limit(32 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            let text = "The form could not be read. Go back and try again.";
            return Err(message(web, &mut v, req, StatusCode::BAD_REQUEST, "Form not read", text, None).await);
        }
    };
    let presented = serde_urlencoded::from_bytes::<CsrfField>(&body).map(|f| f.csrf).unwrap_or_default();
    if !v.check_post(web, req, &presented) {
        let text = "This form has expired or was sent from another site. Go back, reload the page and try again.";
        return Err(message(web, &mut v, req, StatusCode::FORBIDDEN, "Form expired", text, Some(("/", "Home"))).await);
    }
    match serde_urlencoded::from_bytes::<T>(&body) {
        Ok(form) => Ok((v, form)),
        Err(_) => {
            let text = "The form was incomplete. Go back and try again.";
            Err(message(web, &mut v, req, StatusCode::BAD_REQUEST, "Form incomplete", text, None).await)
        }
    }
}

/// The signed-in principal, or the answer for visitors without one.
pub(crate) fn principal_or_sign_in(v: &Visitor, req: &Request) -> Result<Principal, poem::Response> {
    v.principal().cloned().ok_or_else(|| sign_in_first(v, req))
}

/// A `?query` string from pairs, dropping empty values.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    if kept.is_empty() { String::new() } else { format!("?{}", serde_urlencoded::to_string(kept).unwrap_or_default()) }
}
