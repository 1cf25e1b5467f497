//! Pages inside one account (one's own, or the client's while "Log in as"): Websites,
//! Team Management (members, roles, slots, plan) and the access (audit) log.

use std::collections::HashMap;
use std::sync::Arc;

use clients_domain::ports::{AccountRepository as _, Limit, PageRequest};
use clients_domain::service::{AccountError, Ports};
use clients_domain::{Account, AccountId, DomainName, MembershipId, Permission, Plan, Principal, Role};
use minijinja::context;
use poem::http::StatusCode;
use poem::{Request, Response};
use serde::Deserialize;

use super::{
    Frame, Inbox, Section, go, go_with, not_allowed, principal_or_sign_in, query, read_form, render, unavailable,
};
use crate::Web;
use crate::cookies::FlashKind;
use crate::csrf::local_path;
use crate::session::Visitor;
use crate::views::{self, AuditView, MemberView, SlotsView, WebsiteView, plan_label, role_label};

/// The principal and the account the page is about.
fn scope(v: &Visitor, req: &Request) -> Result<(Principal, Account), Response> {
    let p = principal_or_sign_in(v, req)?;
    let account = v.current_account().cloned().ok_or_else(|| go(v, "/sign-in"))?;
    Ok((p, account))
}

async fn permissions<P: Ports>(web: &Web<P>, p: &Principal, account: AccountId) -> clients_domain::Permissions {
    web.service.permissions_in(p, account).await.unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SearchQuery {
    q: String,
    cursor: String,
}

fn search_query(req: &Request) -> SearchQuery {
    serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default()
}

/// `GET /websites`: the current account's websites.
pub(crate) async fn websites_page<P: Ports>(web: Arc<Web<P>>, req: Request) -> Response {
    let mut v = Visitor::resolve(&web, &req).await;
    let (p, account) = match scope(&v, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = search_query(&req);
    let search = Some(q.q.trim().to_owned()).filter(|s| !s.is_empty());
    let page = PageRequest { limit: Limit::new(Limit::MAX).unwrap_or_default(), cursor: None };
    let (items, allowed) = match web.service.websites(&p, account.id, search, &page).await {
        Ok(list) => (list.items.iter().map(WebsiteView::of).collect::<Vec<_>>(), true),
        Err(AccountError::Denied(_)) => (vec![], false),
        Err(e) => return unavailable(&web, &mut v, &req, &e).await,
    };
    let can_add = permissions(&web, &p, account.id).await.contains(Permission::WebsitesManage);
    let role = v
        .acting
        .as_ref()
        .map(|a| context! { label => role_label(a.session.started_as), summary => a.session.started_as.summary() });
    let frame = Frame::new("Websites", Section::Websites, Inbox::Open, &req);
    let ctx = context! {
        account_email => account.email.as_str(),
        own => v.acting.is_none(),
        items, allowed, can_add, role, q => q.q,
    };
    render(&web, &mut v, StatusCode::OK, "websites.html", &frame, ctx).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WebsiteForm {
    domain: String,
}

/// `POST /websites`: adds a website (`websites.manage`).
pub(crate) async fn add_website<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, WebsiteForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (p, account) = match scope(&v, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(domain) = DomainName::parse(&f.domain) else {
        return go_with(&web, &mut v, "/websites", FlashKind::Error, "Enter a domain name, like shop.example.com.");
    };
    match web.service.add_website(&p, account.id, domain).await {
        Ok(w) => {
            let text = format!("Added {}. It shows as not connected until it reports in.", w.domain.as_str());
            go_with(&web, &mut v, "/websites", FlashKind::Notice, &text)
        }
        Err(AccountError::DuplicateWebsite) => {
            go_with(&web, &mut v, "/websites", FlashKind::Error, "This account has that website already.")
        }
        Err(AccountError::Denied(_)) => not_allowed(&web, &mut v, &req).await,
        Err(e) => unavailable(&web, &mut v, &req, &e).await,
    }
}

/// `GET /team`: Team Management.
pub(crate) async fn team_page<P: Ports>(web: Arc<Web<P>>, req: Request) -> Response {
    let mut v = Visitor::resolve(&web, &req).await;
    let (p, account) = match scope(&v, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let team = match web.service.team(&p, account.id).await {
        Ok(team) => team,
        Err(AccountError::Denied(_) | AccountError::NotFound) => return not_allowed(&web, &mut v, &req).await,
        Err(e) => return unavailable(&web, &mut v, &req, &e).await,
    };
    let can_change_plan = permissions(&web, &p, account.id).await.contains(Permission::BillingManage);
    let frame = Frame::new("Team Management", Section::Team, Inbox::Notice, &req);
    let ctx = context! {
        owner_email => account.email.as_str(),
        own => v.acting.is_none(),
        plan => plan_label(account.plan),
        slots => SlotsView::of(team.slots),
        members => team.members.iter().map(MemberView::of).collect::<Vec<_>>(),
        roles => views::roles(),
        plans => views::plans(&web.service.policy().plans, account.plan),
        can_change_plan,
    };
    render(&web, &mut v, StatusCode::OK, "team.html", &frame, ctx).await
}

fn team_error(e: &AccountError) -> Option<String> {
    Some(match e {
        AccountError::NotFound => "That member is no longer in the team.".to_owned(),
        AccountError::Team(t) => format!("Not possible: {t}."),
        AccountError::PlanTooSmall(t) => format!("Not possible: {t}. Remove a member first."),
        AccountError::Denied(_) => "Your role does not include this.".to_owned(),
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MemberForm {
    member: String,
    role: String,
}

/// `POST /team/role`.
pub(crate) async fn change_role<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, MemberForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (p, account) = match scope(&v, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (Ok(member), Ok(role)) = (f.member.parse::<MembershipId>(), f.role.parse::<Role>()) else {
        return go_with(&web, &mut v, "/team", FlashKind::Error, "Choose a member and a role.");
    };
    match web.service.change_role(&p, account.id, member, role).await {
        Ok(m) => {
            let text = format!("{} is now {} in this account.", m.email.as_str(), role_label(m.role));
            go_with(&web, &mut v, "/team", FlashKind::Notice, &text)
        }
        Err(e) => match team_error(&e) {
            Some(text) => go_with(&web, &mut v, "/team", FlashKind::Error, &text),
            None => unavailable(&web, &mut v, &req, &e).await,
        },
    }
}

/// `POST /team/remove`: removes a member, revoking its access and freeing its slot.
pub(crate) async fn remove_member<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, MemberForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (p, account) = match scope(&v, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(member) = f.member.parse::<MembershipId>() else {
        return go_with(&web, &mut v, "/team", FlashKind::Error, "That member is no longer in the team.");
    };
    let email = match web.service.team(&p, account.id).await {
        Ok(t) => t.members.iter().find(|m| m.id == member).map(|m| m.email.as_str().to_owned()),
        Err(_) => None,
    };
    match web.service.remove_member(&p, account.id, member).await {
        Ok(()) => {
            let text = format!(
                "Removed {} from the team: its access has ended and its slot is free.",
                email.as_deref().unwrap_or("the member")
            );
            go_with(&web, &mut v, "/team", FlashKind::Notice, &text)
        }
        Err(e) => match team_error(&e) {
            Some(text) => go_with(&web, &mut v, "/team", FlashKind::Error, &text),
            None => unavailable(&web, &mut v, &req, &e).await,
        },
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PlanForm {
    plan: String,
    next: String,
}

/// `POST /team/plan`: changes the plan (upgrading frees slots).
pub(crate) async fn change_plan<P: Ports>(web: Arc<Web<P>>, mut req: Request) -> Response {
    let (mut v, f) = match read_form::<P, PlanForm>(&web, &mut req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (p, account) = match scope(&v, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = local_path(&f.next).unwrap_or("/team").to_owned();
    let Ok(plan) = f.plan.parse::<Plan>() else {
        return go_with(&web, &mut v, &back, FlashKind::Error, "Choose a plan.");
    };
    match web.service.change_plan(&p, account.id, plan).await {
        Ok((plan, slots)) => {
            let text = format!("Your plan is now {}: {}.", plan_label(plan), SlotsView::of(slots).usage);
            go_with(&web, &mut v, &back, FlashKind::Notice, &text)
        }
        Err(e) => match team_error(&e) {
            Some(text) => go_with(&web, &mut v, &back, FlashKind::Error, &text),
            None => unavailable(&web, &mut v, &req, &e).await,
        },
    }
}

/// `GET /access-log`: the account's audit log, newest first.
pub(crate) async fn access_log_page<P: Ports>(web: Arc<Web<P>>, req: Request) -> Response {
    let mut v = Visitor::resolve(&web, &req).await;
    let (p, account) = match scope(&v, &req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = search_query(&req);
    let page = PageRequest {
        limit: Limit::new(50).unwrap_or_default(),
        cursor: Some(q.cursor.clone()).filter(|c| !c.is_empty()),
    };
    let events = match web.service.audit_log(&p, account.id, &page).await {
        Ok(events) => events,
        Err(AccountError::InvalidCursor) => return go(&v, "/access-log"),
        Err(AccountError::Denied(_) | AccountError::NotFound) => return not_allowed(&web, &mut v, &req).await,
        Err(e) => return unavailable(&web, &mut v, &req, &e).await,
    };
    let mut names: HashMap<AccountId, String> = HashMap::new();
    let mut name = async |id: Option<AccountId>, none: &str| -> String {
        let Some(id) = id else { return none.to_owned() };
        if let Some(n) = names.get(&id) {
            return n.clone();
        }
        let n = match web.service.ports().accounts().find(id).await {
            Ok(Some(a)) => a.email.as_str().to_owned(),
            _ => "a deleted account".to_owned(),
        };
        names.insert(id, n.clone());
        n
    };
    let mut rows = Vec::with_capacity(events.items.len());
    for e in &events.items {
        let agency = name(e.agency, "an agency").await;
        let actor = name(e.actor, "the service").await;
        rows.push(AuditView::of(e, &agency, &actor));
    }
    let next_page = events.next_cursor.as_deref().map(|c| format!("/access-log{}", query(&[("cursor", c)])));
    let frame = Frame::new("Access log", Section::AccessLog, Inbox::Notice, &req);
    let ctx = context! {
        account_email => account.email.as_str(),
        rows,
        next_page,
        first_page => (!q.cursor.is_empty()).then_some("/access-log"),
    };
    render(&web, &mut v, StatusCode::OK, "access_log.html", &frame, ctx).await
}
