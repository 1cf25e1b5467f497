//! The agency's pages: "Shared accounts" (the Clients page) with its search, status
//! filter and pages, the "Invite client" pop-up, the "View websites" pop-up, the row
//! actions Resend, Remove and "Log in as", and leaving "Log in as".

use std::sync::Arc;

use clients_domain::ports::{Clock as _, Limit, PageRequest, SharedAccountQuery};
use clients_domain::service::{Ports, RequestAccessError, RowActionError, SharedAccountError};
use clients_domain::{AccessRequestId, Email, Principal, Role, SharedAccountStatus};
use minijinja::context;
use poem::http::StatusCode;
use poem::{Request, Response};
use serde::Deserialize;

use super::{
    Frame, Inbox, Section, go, go_with, not_while_acting, principal_or_sign_in, query, read_form, render, unavailable,
};
use crate::Web;
use crate::cookies::FlashKind;
use crate::csrf::local_path;
use crate::session::Visitor;
use crate::views::{self, RowView, WebsiteView, role_label};

/// Rows per page of the Shared accounts table.
const PAGE_SIZE: u32 = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ClientsQuery {
    q: String,
    status: String,
    cursor: String,
    invite: String,
    websites: String,
    wq: String,
}

/// The "Invite client" pop-up's state.
#[derive(Debug, Default)]
struct InviteState {
    open: bool,
    email: String,
    role: String,
    error: Option<String>,
}

/// `GET /clients`.
pub(crate) async fn clients_page<P: Ports>(web: Arc<Web<P>>, req: Request) -> Response {
    let mut v = Visitor::resolve(&web, &req).await;
    let q: ClientsQuery = serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let invite = InviteState { open: q.invite == "1", ..InviteState::default() };
    show(&web, &mut v, &req, &q, invite, StatusCode::OK).await
}

async fn show<P: Ports>(
    web: &Web<P>,
    v: &mut Visitor,
    req: &Request,
    q: &ClientsQuery,
    invite: InviteState,
    status: StatusCode,
) -> Response {
    let p = match principal_or_sign_in(v, req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if matches!(p, Principal::Impersonation(_)) {
        return not_while_acting(web, v, req).await;
    }
    let filter = SharedAccountStatus::parse(&q.status);
    let list = SharedAccountQuery {
        q: Some(q.q.trim().to_owned()).filter(|s| !s.is_empty()),
        status: filter,
        page: PageRequest {
            limit: Limit::new(PAGE_SIZE).unwrap_or_default(),
            cursor: Some(q.cursor.clone()).filter(|c| !c.is_empty()),
        },
    };
    let page = match web.service.shared_accounts(&p, &list).await {
        Ok(page) => page,
        Err(SharedAccountError::InvalidCursor) => return go(v, "/clients"),
        Err(e) => return unavailable(web, v, req, &e).await,
    };
    let websites = websites_dialog(web, &p, q).await;
    let status_param = filter.map_or("", SharedAccountStatus::as_str);
    let next_page = page
        .next_cursor
        .as_deref()
        .map(|c| format!("/clients{}", query(&[("q", &q.q), ("status", status_param), ("cursor", c)])));
    let first_page =
        (!q.cursor.is_empty()).then(|| format!("/clients{}", query(&[("q", &q.q), ("status", status_param)])));
    let statuses: Vec<_> = SharedAccountStatus::ALL
        .into_iter()
        .map(|s| context! { value => s.as_str(), label => views::status_label(s), selected => Some(s) == filter })
        .collect();
    let frame = Frame::new("Clients", Section::Clients, Inbox::Open, req);
    let ctx = context! {
        rows => page.items.iter().map(RowView::of).collect::<Vec<_>>(),
        q => q.q.clone(),
        statuses,
        filtered => !q.q.trim().is_empty() || filter.is_some(),
        next_page,
        first_page,
        roles => views::roles(),
        invite => context! {
            open => invite.open,
            email => invite.email,
            role => if invite.role.is_empty() { "developer".to_owned() } else { invite.role },
            error => invite.error,
        },
        websites,
    };
    render(web, v, status, "clients.html", &frame, ctx).await
}

/// The "View websites" pop-up, when the query asks for it.
async fn websites_dialog<P: Ports>(web: &Web<P>, p: &Principal, q: &ClientsQuery) -> minijinja::Value {
    let Ok(id) = q.websites.parse::<AccessRequestId>() else { return minijinja::Value::UNDEFINED };
    let Ok(row) = web.service.shared_account(p, id).await else { return minijinja::Value::UNDEFINED };
    let search = Some(q.wq.trim().to_owned()).filter(|s| !s.is_empty());
    let page = PageRequest { limit: Limit::new(Limit::MAX).unwrap_or_default(), cursor: None };
    let (items, note) = match web.service.shared_websites(p, id, search, &page).await {
        Ok(list) => (list.items.iter().map(WebsiteView::of).collect::<Vec<_>>(), None),
        Err(RowActionError::WrongState(_)) => {
            (vec![], Some("Websites are visible once the client approves your request."))
        }
        Err(e) => {
            tracing::warn!(error = %e, "loading a client's websites failed");
            (vec![], Some("The websites could not be loaded. Try again in a moment."))
        }
    };
    context! { id => id.to_string(), email => row.request.email().as_str(), items, note, wq => q.wq.clone() }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InviteForm {
    email: String,
    role: String,
}

/// `POST /clients/invite`: the "Invite client" pop-up's "Send invitation".
pub(crate) async fn invite<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, InviteForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(p) = v.personal.as_ref().map(|p| p.principal.clone()) else {
        return go(&v, "/sign-in");
    };
    if v.acting.is_some() {
        return not_while_acting(&web, &mut v, &req).await;
    }
    let again = |error: &str| InviteState {
        open: true,
        email: f.email.clone(),
        role: f.role.clone(),
        error: Some(error.to_owned()),
    };
    let q = ClientsQuery::default();
    let Ok(email) = Email::parse(&f.email) else {
        let state = again("Enter the client's email address, like name@example.com.");
        return show(&web, &mut v, &req, &q, state, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let Ok(role) = f.role.parse::<Role>() else {
        let state = again("Choose the role you ask for: Biller, Developer or Admin.");
        return show(&web, &mut v, &req, &q, state, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let refused = match web.service.request_access(&p, email.clone(), role).await {
        Ok(_) => {
            let text = format!(
                "Invitation sent to {}. They appear below, tagged Requested, until they approve.",
                email.as_str()
            );
            return go_with(&web, &mut v, "/clients", FlashKind::Notice, &text);
        }
        Err(RequestAccessError::OwnAccount) => "That is your own account: invite a client's email address.".to_owned(),
        Err(RequestAccessError::AlreadyRequested) => {
            format!("You have already asked {} for access. Use Resend in the list to send it again.", email.as_str())
        }
        Err(RequestAccessError::RecipientRateLimited(_)) => {
            format!("{} has received too many requests today. Try again tomorrow.", email.as_str())
        }
        Err(RequestAccessError::Denied(_)) => return not_while_acting(&web, &mut v, &req).await,
        Err(e) => return unavailable(&web, &mut v, &req, &e).await,
    };
    let status = StatusCode::CONFLICT;
    show(&web, &mut v, &req, &q, again(&refused), status).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RowForm {
    id: String,
    next: String,
}

/// Reads a row action's form: the agency's own principal and the row id.
async fn row_form<P: Ports>(
    web: &Web<P>,
    req: &mut Request,
) -> Result<(Visitor, Principal, AccessRequestId, String), Response> {
    let (mut v, f) = read_form::<P, RowForm>(web, req).await?;
    if v.acting.is_some() {
        return Err(not_while_acting(web, &mut v, req).await);
    }
    let Some(p) = v.personal.as_ref().map(|p| p.principal.clone()) else { return Err(go(&v, "/sign-in")) };
    let back = local_path(&f.next).filter(|n| n.starts_with("/clients")).unwrap_or("/clients").to_owned();
    match f.id.parse() {
        Ok(id) => Ok((v, p, id, back)),
        Err(_) => Err(go_with(web, &mut v, &back, FlashKind::Error, "That client is no longer in your list.")),
    }
}

fn row_error(e: &RowActionError, what: &str) -> Option<String> {
    Some(match e {
        RowActionError::NotFound => "That client is no longer in your list.".to_owned(),
        RowActionError::WrongState(state) => format!("{what} is not possible while the request is {state}."),
        RowActionError::RateLimited(r) => {
            format!("The request was sent recently. You can resend it in {} seconds.", r.retry_after.num_seconds())
        }
        RowActionError::Denied(_) => "Not available while acting as a client.".to_owned(),
        _ => return None,
    })
}

/// `POST /clients/resend`.
pub(crate) async fn resend<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, p, id, back) = match row_form(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.service.resend(&p, id).await {
        Ok(row) => {
            let text = format!("Sent the request to {} again, with a new link.", row.request.email().as_str());
            go_with(&web, &mut v, &back, FlashKind::Notice, &text)
        }
        Err(e) => match row_error(&e, "Resend") {
            Some(text) => go_with(&web, &mut v, &back, FlashKind::Error, &text),
            None => unavailable(&web, &mut v, &req, &e).await,
        },
    }
}

/// `POST /clients/remove`.
pub(crate) async fn remove<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, p, id, back) = match row_form(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let email = web.service.shared_account(&p, id).await.map(|r| r.request.email().as_str().to_owned());
    match web.service.remove(&p, id).await {
        Ok(()) => {
            let text = format!("Removed the request to {}.", email.as_deref().unwrap_or("the client"));
            go_with(&web, &mut v, &back, FlashKind::Notice, &text)
        }
        Err(e) => match row_error(&e, "Remove") {
            Some(text) => go_with(&web, &mut v, &back, FlashKind::Error, &text),
            None => unavailable(&web, &mut v, &req, &e).await,
        },
    }
}

/// `POST /clients/log-in-as`: starts acting inside the client's account.
pub(crate) async fn log_in_as<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, p, id, back) = match row_form(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match web.service.log_in_as(&p, id).await {
        Ok(started) => {
            let ttl = (started.session.expires_at - web.service.ports().clock().now()).num_seconds();
            v.start_acting(&web, started.token.expose(), ttl);
            let text = format!(
                "You are working inside your client's account as {} until {}.",
                role_label(started.role),
                views::when(started.session.expires_at)
            );
            go_with(&web, &mut v, "/websites", FlashKind::Notice, &text)
        }
        Err(e) => match row_error(&e, "\"Log in as\"") {
            Some(text) => go_with(&web, &mut v, &back, FlashKind::Error, &text),
            None => unavailable(&web, &mut v, &req, &e).await,
        },
    }
}

#[derive(Debug, Default, Deserialize)]
struct EmptyForm {}

/// `POST /acting/exit`: ends "Log in as" and returns to the agency's own account.
pub(crate) async fn exit_acting<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, EmptyForm {}) = match read_form::<P, EmptyForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(acting) = v.acting.take() {
        // Ends the session server-side too: a copied cookie stops working.
        if let Err(e) = web.service.sign_out(&acting.principal).await {
            return unavailable(&web, &mut v, &req, &e).await;
        }
    }
    v.stop_acting(&web);
    go_with(&web, &mut v, "/clients", FlashKind::Notice, "You are back in your own account.")
}
