//! Templates (embedded, HTML auto-escaped) and the responses pages send: HTML with a
//! strict Content-Security-Policy, and 303 redirects after forms.

use minijinja::{Environment, UndefinedBehavior};
use poem::http::{StatusCode, header};
use poem::{IntoResponse as _, Response};

/// Every template, embedded in the binary. Names end in `.html`, which turns on
/// minijinja's HTML auto-escaping for all of them.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    ("sign_up.html", include_str!("../templates/sign_up.html")),
    ("grant.html", include_str!("../templates/grant.html")),
    ("clients.html", include_str!("../templates/clients.html")),
    ("websites.html", include_str!("../templates/websites.html")),
    ("team.html", include_str!("../templates/team.html")),
    ("access_log.html", include_str!("../templates/access_log.html")),
    ("message.html", include_str!("../templates/message.html")),
];

/// Scripts and styles come from the app only; nothing may frame the pages.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                              form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The loaded templates.
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads the embedded templates.
    ///
    /// # Panics
    /// When an embedded template does not parse (a unit test renders every one).
    pub(crate) fn new() -> Self {
        let mut env = Environment::new();
        // A misspelt variable is an error (seen in tests), not silently empty text;
        // `{% if missing %}` stays allowed.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                panic!("embedded template {name} does not parse: {e:#}");
            }
        }
        Self { env }
    }

    /// Renders `name` with `ctx`.
    ///
    /// # Errors
    /// A template error (a bug: logged and shown as a plain 500).
    pub(crate) fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

/// An HTML response carrying `cookies`.
pub(crate) fn html(status: StatusCode, body: String, cookies: &[String]) -> Response {
    let mut builder = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::X_FRAME_OPTIONS, "DENY");
    for c in cookies {
        builder = builder.header(header::SET_COOKIE, c.as_str());
    }
    builder.body(body).into_response()
}

/// A 303 redirect to a local path, carrying `cookies`.
pub(crate) fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut builder = Response::builder().status(StatusCode::SEE_OTHER).header(header::LOCATION, to);
    for c in cookies {
        builder = builder.header(header::SET_COOKIE, c.as_str());
    }
    builder.finish()
}

/// A plain-text 500 for template bugs.
pub(crate) fn broken(e: &minijinja::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "rendering a page failed");
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .content_type("text/plain; charset=utf-8")
        .body("Something went wrong on our side. Please try again.")
        .into_response()
}

#[cfg(test)]
mod tests {
    use clients_domain::{Plan, PlanCatalogue, SlotUsage, TeamSlots};
    use minijinja::{Value, context};

    use super::*;
    use crate::views::{self, AuditView, MemberView, PendingView, RowView, SlotsView, WebsiteView};

    /// Text an agency or client controls (names, emails as typed, searches).
    const EVIL: &str = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>";
    const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;";

    fn layout(open_inbox: bool) -> Value {
        let inbox = context! {
            items => vec![PendingView {
                id: "r1".into(),
                agency_name: EVIL.into(),
                agency_email: EVIL.into(),
                role: "Admin",
                role_summary: "everything",
            }],
            slots => SlotsView::of(SlotUsage { used: 1, limit: TeamSlots::Limited(1) }),
            plans => views::plans(&PlanCatalogue::default(), Plan::Free),
            open => open_inbox,
        };
        context! {
            csrf => "token",
            flash => context! { kind => "notice", text => EVIL },
            user => context! { name => EVIL, email => EVIL },
            acting => context! { client_name => EVIL, client_email => EVIL, role => "Admin" },
            nav => vec![context! { href => "/clients", label => "Clients", current => true }],
            inbox,
            here => format!("/clients?q={EVIL}"),
        }
    }

    fn row(requested: bool) -> RowView {
        RowView {
            id: "r1".into(),
            email: EVIL.into(),
            requested,
            declined: false,
            role: "Developer",
            websites: 2,
            status: "no_data",
            status_label: "No data",
            blocked_on_slots: true,
            delivery_failed: true,
            can_view_websites: !requested,
            can_resend: requested,
            can_remove: requested,
            can_log_in_as: !requested,
        }
    }

    fn website() -> WebsiteView {
        WebsiteView { domain: EVIL.into(), connected: false, health: "not_connected", health_label: "Not connected" }
    }

    fn pages() -> Vec<(&'static str, Value)> {
        let grant = context! { agency_name => EVIL, agency_email => EVIL, role => "Biller", role_summary => "billing" };
        let slots_full = SlotsView::of(SlotUsage { used: 1, limit: TeamSlots::Limited(1) });
        vec![
            ("message.html", context! { text => EVIL, link => context! { href => "/", label => EVIL } }),
            (
                "sign_in.html",
                context! { email => EVIL, name => "", next => EVIL, error => EVIL, grant_token => "t", grant, other_query => "?grant=t" },
            ),
            (
                "sign_up.html",
                context! { email => EVIL, name => EVIL, next => EVIL, error => EVIL, grant_token => "t", grant, other_query => "" },
            ),
            (
                "grant.html",
                context! {
                    request => context! { token => "t", id => "r1", agency_name => EVIL, agency_email => EVIL, role => "Admin", role_summary => "all" },
                    verified => true, slots => slots_full, plans => views::plans(&PlanCatalogue::default(), Plan::Free),
                    error => EVIL, here => "/grant-access?token=t",
                },
            ),
            (
                "grant.html",
                context! { mismatch => context! { invited => EVIL, me => EVIL }, again => "/grant-access?token=t" },
            ),
            (
                "clients.html",
                context! {
                    rows => vec![row(true), row(false)], q => EVIL,
                    statuses => vec![context! { value => "no_data", label => "No data", selected => true }],
                    filtered => true, next_page => "/clients?cursor=x", first_page => "/clients", roles => views::roles(),
                    invite => context! { open => true, email => EVIL, role => "admin", error => EVIL },
                    websites => context! { id => "r1", email => EVIL, items => vec![website()], note => (), wq => EVIL },
                },
            ),
            (
                "websites.html",
                context! {
                    account_email => EVIL, own => false, items => vec![website()], allowed => true, can_add => true,
                    role => context! { label => "Developer", summary => "dev things" }, q => EVIL,
                },
            ),
            (
                "team.html",
                context! {
                    owner_email => EVIL, own => false, plan => "Free", slots => SlotsView::of(SlotUsage { used: 1, limit: TeamSlots::Limited(1) }),
                    members => vec![MemberView { id: "m1".into(), email: EVIL.into(), role: "Admin", role_value: "admin", since: "2026-01-01".into() }],
                    roles => views::roles(), plans => views::plans(&PlanCatalogue::default(), Plan::Free), can_change_plan => true,
                },
            ),
            (
                "access_log.html",
                context! {
                    account_email => EVIL,
                    rows => vec![AuditView { when: "now".into(), kind: "request_approved", what: format!("Approved {EVIL} as Admin"), by: EVIL.into(), via_log_in_as: true }],
                    next_page => "/access-log?cursor=x", first_page => "/access-log",
                },
            ),
        ]
    }

    fn render_page(name: &str, ctx: Value, open_inbox: bool) -> String {
        let ctx = context! { layout => layout(open_inbox), title => EVIL, ..ctx };
        Templates::new().render(name, ctx).unwrap_or_else(|e| panic!("{name}: {e:#}"))
    }

    #[test]
    fn every_page_renders_with_every_variable_it_uses() {
        for (name, ctx) in pages() {
            for open in [true, false] {
                let html = render_page(name, ctx.clone(), open);
                assert!(html.starts_with("<!doctype html>"), "{name}");
                assert!(html.contains("</html>"), "{name}");
            }
        }
    }

    #[test]
    fn user_text_is_html_escaped_on_every_page() {
        for (name, ctx) in pages() {
            let html = render_page(name, ctx, true);
            assert!(!html.contains("<script>alert"), "{name} shows raw markup");
            assert!(!html.contains("<img src=x"), "{name} shows raw markup");
            assert!(html.contains(ESCAPED), "{name} does not show the escaped text");
        }
    }

    #[test]
    fn agency_names_are_escaped_in_the_approval_pop_up_and_the_banner() {
        let html = render_page("message.html", context! { text => "x", link => () }, true);
        let dialog = &html[html.find("id=\"approval-dialog\"").expect("the pop-up")..];
        assert!(dialog.contains(&format!("<strong>{ESCAPED}")), "agency name in the pop-up");
        let banner = &html[html.find("class=\"acting\"").expect("the banner")..];
        assert!(banner.contains(&format!("Acting as <strong>{ESCAPED}")), "client name in the banner");
    }

    #[test]
    fn every_form_carries_the_csrf_token() {
        for (name, ctx) in pages() {
            let html = render_page(name, ctx, true);
            let posts = html.matches("method=\"post\"").count();
            let tokens = html.matches("name=\"csrf\" value=\"token\"").count();
            assert!(posts > 0, "{name} has forms");
            assert_eq!(posts, tokens, "{name}: every POST form has the token");
        }
    }

    #[test]
    fn pages_load_nothing_from_other_sites() {
        for (name, ctx) in pages() {
            let html = render_page(name, ctx, true);
            for needle in ["http://", "https://", "//cdn", "<script>"] {
                assert!(!html.contains(needle), "{name} contains {needle}");
            }
        }
    }
}
