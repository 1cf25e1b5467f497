//! The client's side of a request: the grant link's landing (sign in or sign up, then
//! the approval pop-up), approving with the slot cost shown, and declining.

use std::sync::Arc;

use clients_domain::service::{ApproveError, GrantLink, GrantLinkError, Ports};
use clients_domain::{AccessRequestId, GrantToken, NoFreeTeamSlots};
use minijinja::context;
use poem::http::StatusCode;
use poem::{Request, Response};
use serde::Deserialize;

use super::{Frame, Inbox, Section, go, go_with, message, not_while_acting, query, read_form, render, unavailable};
use crate::Web;
use crate::cookies::FlashKind;
use crate::csrf::local_path;
use crate::session::{Personal, Visitor};
use crate::views::{self, SlotsView, role_label};

/// What to do when every slot is taken (rule 5).
pub(crate) fn no_free_slots_text(n: NoFreeTeamSlots) -> String {
    format!(
        "All {} of your team slots are in use ({} members). To approve, upgrade your plan or remove a member in \
         Team Management, then approve again.",
        n.limit, n.used
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GrantQuery {
    token: String,
}

async fn invalid_link<P: Ports>(web: &Web<P>, v: &mut Visitor, req: &Request) -> Response {
    let text = "This link does not open a request any more: it may have expired, been used, or been replaced by a \
                newer email. Ask the agency to send the request again.";
    message(web, v, req, StatusCode::NOT_FOUND, "This link is no longer valid", text, Some(("/", "Home"))).await
}

async fn wrong_account<P: Ports>(web: &Web<P>, v: &mut Visitor, req: &Request, link: &GrantLink) -> Response {
    let me = v.personal.as_ref().map_or(String::new(), |p| p.account.email.as_str().to_owned());
    let frame = Frame::new("Sign in with the invited email", Section::None, Inbox::Hidden, req);
    let ctx = context! {
        mismatch => context! { invited => link.email.as_str(), me },
        again => format!("/grant-access{}", query(&[("token", req_token(req).as_str())])),
    };
    render(web, v, StatusCode::FORBIDDEN, "grant.html", &frame, ctx).await
}

fn req_token(req: &Request) -> String {
    serde_urlencoded::from_str::<GrantQuery>(req.uri().query().unwrap_or("")).unwrap_or_default().token
}

/// The approval pop-up for one grant link.
async fn approval<P: Ports>(
    web: &Web<P>,
    v: &mut Visitor,
    req: &Request,
    me: &Personal,
    token: &str,
    link: &GrantLink,
    error: Option<String>,
) -> Response {
    let status = if error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
    let slots = match web.service.inbox(&me.principal).await {
        Ok(inbox) => inbox.slots,
        Err(e) => return unavailable(web, v, req, &e).await,
    };
    let frame = Frame::new("Approve access", Section::None, Inbox::Hidden, req);
    let ctx = context! {
        request => context! {
            token,
            id => link.request.to_string(),
            agency_name => link.agency_name.clone(),
            agency_email => link.agency_email.as_str(),
            role => role_label(link.role),
            role_summary => link.role.summary(),
        },
        verified => me.account.email_verified,
        slots => SlotsView::of(slots),
        plans => views::plans(&web.service.policy().plans, me.account.plan),
        error,
        here => format!("/grant-access{}", query(&[("token", token)])),
    };
    render(web, v, status, "grant.html", &frame, ctx).await
}

/// `GET /grant-access?token=…`: the email's "Grant access" button lands here.
pub(crate) async fn grant_page<P: Ports>(web: Arc<Web<P>>, req: Request) -> Response {
    let mut v = Visitor::resolve(&web, &req).await;
    let raw = req_token(&req);
    let Ok(token) = GrantToken::parse(&raw) else { return invalid_link(&web, &mut v, &req).await };
    let account = v.personal.as_ref().map(|p| p.account.id.as_uuid());
    if let Some(Err(secs)) = web.throttle.as_ref().map(|t| t.grant(v.ip, account)) {
        let text = format!("Too many attempts. Wait {secs} seconds, then open the link again.");
        return message(&web, &mut v, &req, StatusCode::TOO_MANY_REQUESTS, "Slow down", &text, None).await;
    }
    let link = match web.service.grant_link(&token).await {
        Ok(link) => link,
        Err(GrantLinkError::Invalid(_)) => return invalid_link(&web, &mut v, &req).await,
        Err(e) => return unavailable(&web, &mut v, &req, &e).await,
    };
    if v.acting.is_some() {
        return not_while_acting(&web, &mut v, &req).await;
    }
    let Some(me) = v.personal.clone() else {
        // The seed: existing users go to sign-in, everyone else to sign-up.
        let to = if link.account_exists { "/sign-in" } else { "/sign-up" };
        return go(&v, &format!("{to}{}", query(&[("grant", &raw)])));
    };
    if me.account.email != link.email {
        return wrong_account(&web, &mut v, &req, &link).await;
    }
    approval(&web, &mut v, &req, &me, &raw, &link, None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LinkForm {
    token: String,
}

/// `POST /grant-access`: "Approve" in the pop-up of a grant link (verifies the email).
pub(crate) async fn approve_by_link<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, LinkForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(token) = GrantToken::parse(&f.token) else { return invalid_link(&web, &mut v, &req).await };
    if v.acting.is_some() {
        return not_while_acting(&web, &mut v, &req).await;
    }
    let Some(me) = v.personal.clone() else {
        return go(&v, &format!("/sign-in{}", query(&[("grant", &f.token)])));
    };
    if let Some(Err(secs)) = web.throttle.as_ref().map(|t| t.grant(v.ip, Some(me.account.id.as_uuid()))) {
        let text = format!("Too many attempts. Wait {secs} seconds, then try again.");
        return message(&web, &mut v, &req, StatusCode::TOO_MANY_REQUESTS, "Slow down", &text, None).await;
    }
    // Read before approving: a used link no longer describes the request.
    let link = match web.service.grant_link(&token).await {
        Ok(link) => link,
        Err(GrantLinkError::Invalid(_)) => return invalid_link(&web, &mut v, &req).await,
        Err(e) => return unavailable(&web, &mut v, &req, &e).await,
    };
    match web.service.approve_by_token(&me.principal, &token).await {
        Ok(member) => {
            let text = format!(
                "You approved {} as {}. It now uses one of your team slots; change its role or remove it here at any time.",
                link.agency_name,
                role_label(member.role)
            );
            go_with(&web, &mut v, "/team", FlashKind::Notice, &text)
        }
        Err(ApproveError::NoFreeTeamSlots(n)) => {
            let error = Some(no_free_slots_text(n));
            approval(&web, &mut v, &req, &me, &f.token, &link, error).await
        }
        Err(ApproveError::InvalidGrant(_) | ApproveError::NotFound) => invalid_link(&web, &mut v, &req).await,
        Err(ApproveError::EmailMismatch) => wrong_account(&web, &mut v, &req, &link).await,
        Err(e) => answer_error(&web, &mut v, &req, &e, "/clients").await,
    }
}

async fn answer_error<P: Ports>(
    web: &Web<P>,
    v: &mut Visitor,
    req: &Request,
    e: &ApproveError,
    back: &str,
) -> Response {
    let text = match e {
        ApproveError::NoFreeTeamSlots(n) => no_free_slots_text(*n),
        ApproveError::NotFound | ApproveError::InvalidGrant(_) => "That request is no longer waiting.".to_owned(),
        ApproveError::EmailNotVerified => {
            "Open the link in the request email first: it proves this address is yours.".to_owned()
        }
        ApproveError::WrongState(state) => format!("That request is {state} already."),
        ApproveError::AlreadyMember => "That agency is a member of your team already.".to_owned(),
        ApproveError::EmailMismatch => "That request was sent to another email address.".to_owned(),
        ApproveError::Denied(_) => return not_while_acting(web, v, req).await,
        ApproveError::Store(_) => return unavailable(web, v, req, e).await,
    };
    go_with(web, v, back, FlashKind::Error, &text)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AnswerForm {
    id: String,
    next: String,
}

async fn answer_form<P: Ports>(
    web: &Web<P>,
    req: &mut Request,
) -> Result<(Visitor, Personal, AccessRequestId, String), Response> {
    let (mut v, f) = read_form::<P, AnswerForm>(web, req).await?;
    if v.acting.is_some() {
        return Err(not_while_acting(web, &mut v, req).await);
    }
    let Some(me) = v.personal.clone() else { return Err(go(&v, "/sign-in")) };
    let back = local_path(&f.next).unwrap_or("/clients").to_owned();
    match f.id.parse() {
        Ok(id) => Ok((v, me, id, back)),
        Err(_) => Err(go_with(web, &mut v, &back, FlashKind::Error, "That request is no longer waiting.")),
    }
}

/// `POST /requests/approve`: "Approve" in the pop-up listing requests to my email.
pub(crate) async fn approve<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, me, id, back) = match answer_form(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.service.approve(&me.principal, id).await {
        Ok(member) => {
            let text = format!(
                "You approved {} as {}. It now uses one of your team slots.",
                member.email.as_str(),
                role_label(member.role)
            );
            go_with(&web, &mut v, "/team", FlashKind::Notice, &text)
        }
        Err(e) => answer_error(&web, &mut v, &req, &e, &back).await,
    }
}

/// `POST /requests/decline`.
pub(crate) async fn decline<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, me, id, back) = match answer_form(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.service.decline(&me.principal, id).await {
        Ok(()) => go_with(&web, &mut v, &back, FlashKind::Notice, "You declined the request. The agency is told."),
        Err(e) => answer_error(&web, &mut v, &req, &e, &back).await,
    }
}
