//! Rendering: templates (minijinja, HTML auto-escaped) and the RFC 5322 message.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use clients_domain::{Notification, OutgoingEmail, Role};
use mail_builder::MessageBuilder;
use minijinja::{Environment, context};

use crate::OutgoingEmail as _Outgoing;

/// What every email needs besides its notification.
#[derive(Debug, Clone)]
pub struct MailContext {
    /// Base URL of the web app (`CLIENTS_PUBLIC_URL`); grant links are built from it
    /// and from nothing else (never from request headers).
    pub public_url: String,
    /// Sender address (`CLIENTS_MAIL_FROM`).
    pub from: String,
    /// Product name shown in emails.
    pub product: String,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Recipient.
    pub to: String,
    /// Subject, without CR or LF.
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
}

/// A template failed to render (a bug: templates are compiled in).
#[derive(Debug, thiserror::Error)]
#[error("template {template}: {source}")]
pub struct RenderError {
    template: String,
    #[source]
    source: minijinja::Error,
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // HTML templates auto-escape (minijinja's default for `.html`); text ones do not.
        macro_rules! add {
            ($($name:literal),*) => {
                $(
                    env.add_template(concat!($name, ".subject.txt"), include_str!(concat!("../templates/", $name, ".subject.txt"))).ok();
                    env.add_template(concat!($name, ".txt"), include_str!(concat!("../templates/", $name, ".txt"))).ok();
                    env.add_template(concat!($name, ".html"), include_str!(concat!("../templates/", $name, ".html"))).ok();
                )*
            };
        }
        env.add_template("layout.html", include_str!("../templates/layout.html")).ok();
        add!(
            "access_requested",
            "access_request_resent",
            "request_approved",
            "request_declined",
            "access_revoked",
            "agency_left",
            "impersonation_started"
        );
        env
    })
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Biller => "Biller",
        Role::Developer => "Developer",
        Role::Admin => "Admin",
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%-d %B %Y, %H:%M UTC").to_string()
}

/// The grant link: `{public_url}/grant-access?token=…`.
pub fn grant_link(public_url: &str, token: &str) -> String {
    format!("{}/grant-access?token={token}", public_url.trim_end_matches('/'))
}

/// Renders an outbox email.
///
/// # Errors
/// [`RenderError`] when a template fails (a bug).
pub fn render(email: &OutgoingEmail, ctx: &MailContext) -> Result<Rendered, RenderError> {
    let product = ctx.product.as_str();
    let values = match &email.notification {
        Notification::AccessRequested { agency_name, agency_email, role, token, expires_at, .. } => context! {
            product, agency_name, agency_email => agency_email.as_str(), role => role_label(*role),
            role_summary => role.summary(), // Trusted: the operator's URL and a base64url token; escaping would mangle `/`.
            link => minijinja::Value::from_safe_string(grant_link(&ctx.public_url, token.expose())),
            expires_at => when(*expires_at),
        },
        Notification::RequestApproved { client_email, role } => {
            context! { product, client_email => client_email.as_str(), role => role_label(*role) }
        }
        Notification::RequestDeclined { client_email } | Notification::AccessRevoked { client_email } => {
            context! { product, client_email => client_email.as_str() }
        }
        Notification::AgencyLeft { agency_name, agency_email } => {
            context! { product, agency_name, agency_email => agency_email.as_str() }
        }
        Notification::ImpersonationStarted { agency_name, agency_email, role, expires_at } => context! {
            product, agency_name, agency_email => agency_email.as_str(), role => role_label(*role),
            expires_at => when(*expires_at),
        },
    };
    let name = email.notification.template();
    let get = |suffix: &str| {
        let template = format!("{name}.{suffix}");
        env().get_template(&template).and_then(|t| t.render(&values)).map_err(|source| RenderError { template, source })
    };
    // Headers never carry CR/LF, whatever a name contains.
    let subject: String = get("subject.txt")?.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    Ok(Rendered { to: email.to.to_string(), subject, html: get("html")?, text: get("txt")? })
}

/// The RFC 5322 message for `rendered` (multipart/alternative, text and HTML).
pub fn to_eml(email: &_Outgoing, rendered: &Rendered, ctx: &MailContext) -> Vec<u8> {
    let mut message = MessageBuilder::new()
        .from(ctx.from.as_str())
        .to(rendered.to.as_str())
        .subject(rendered.subject.as_str())
        .message_id(format!("{}@clients", email.id))
        .date(email.created_at.timestamp())
        .text_body(rendered.text.as_str())
        .html_body(rendered.html.as_str());
    message =
        message.header("X-Clients-Template", mail_builder::headers::text::Text::new(email.notification.template()));
    message.write_to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use clients_domain::{Email, GrantToken, OutboxMessageId};
    use uuid::Uuid;

    use super::*;

    fn ctx() -> MailContext {
        MailContext {
            public_url: "https://app.example.com/".into(),
            from: "Clients <no-reply@example.com>".into(),
            product: "NitroPack".into(),
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    fn email(notification: Notification) -> OutgoingEmail {
        OutgoingEmail {
            id: OutboxMessageId::from_uuid(Uuid::from_u128(42)),
            to: Email::parse("client@example.com").unwrap(),
            notification,
            request: None,
            created_at: at(),
        }
    }

    /// An agency name an attacker controls: HTML, quotes and an attempted header.
    const EVIL: &str = "Acme <script>alert(1)</script> & \"Co\"";

    fn every_notification() -> Vec<Notification> {
        let agency_email = Email::parse("agency@example.com").unwrap();
        let client_email = Email::parse("client@example.com").unwrap();
        let token = GrantToken::from_random([7; 32]);
        vec![
            Notification::AccessRequested {
                agency_name: EVIL.into(),
                agency_email: agency_email.clone(),
                role: Role::Developer,
                token: token.clone(),
                expires_at: at() + TimeDelta::days(7),
                resent: false,
            },
            Notification::AccessRequested {
                agency_name: "Acme Agency".into(),
                agency_email: agency_email.clone(),
                role: Role::Admin,
                token,
                expires_at: at() + TimeDelta::days(7),
                resent: true,
            },
            Notification::RequestApproved { client_email: client_email.clone(), role: Role::Biller },
            Notification::RequestDeclined { client_email: client_email.clone() },
            Notification::AccessRevoked { client_email },
            Notification::AgencyLeft { agency_name: "Acme Agency".into(), agency_email: agency_email.clone() },
            Notification::ImpersonationStarted {
                agency_name: "Acme Agency".into(),
                agency_email,
                role: Role::Admin,
                expires_at: at() + TimeDelta::minutes(60),
            },
        ]
    }

    #[test]
    fn every_template_renders_as_its_snapshot() {
        for n in every_notification() {
            let name = n.template();
            let r = render(&email(n), &ctx()).unwrap();
            insta::assert_snapshot!(format!("{name}.subject"), r.subject);
            insta::assert_snapshot!(format!("{name}.txt"), r.text);
            insta::assert_snapshot!(format!("{name}.html"), r.html);
        }
    }

    #[test]
    fn user_text_is_escaped_in_html_and_plain_in_text() {
        let r = render(&email(every_notification().remove(0)), &ctx()).unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains(EVIL));
    }

    #[test]
    fn the_grant_link_is_built_from_the_public_url_only() {
        let token = GrantToken::from_random([7; 32]);
        let r = render(&email(every_notification().remove(0)), &ctx()).unwrap();
        let link = format!("https://app.example.com/grant-access?token={}", token.expose());
        assert!(r.text.contains(&link), "{}", r.text);
        assert!(r.html.contains(&format!("href=\"{link}\"")));
    }

    #[test]
    fn subjects_never_carry_line_breaks() {
        let n = Notification::AgencyLeft {
            agency_name: "Acme\r\nBcc: victim@example.com".into(),
            agency_email: Email::parse("agency@example.com").unwrap(),
        };
        let r = render(&email(n), &ctx()).unwrap();
        assert!(!r.subject.contains('\r') && !r.subject.contains('\n'), "{:?}", r.subject);
        let eml = to_eml(&email(every_notification().remove(5)), &r, &ctx());
        let parsed = mail_parser::MessageParser::default().parse(&eml).unwrap();
        assert!(parsed.bcc().is_none());
    }

    #[test]
    fn the_eml_is_a_multipart_message_with_both_parts() {
        let e = email(every_notification().remove(0));
        let r = render(&e, &ctx()).unwrap();
        let eml = to_eml(&e, &r, &ctx());
        let parsed = mail_parser::MessageParser::default().parse(&eml).unwrap();
        assert_eq!(parsed.subject(), Some(r.subject.as_str()));
        assert_eq!(parsed.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("client@example.com"));
        assert_eq!(parsed.message_id(), Some(format!("{}@clients", e.id).as_str()));
        assert_eq!(parsed.body_text(0).unwrap().replace("\r\n", "\n").trim(), r.text.trim());
        assert!(parsed.body_html(0).unwrap().contains("Grant access"));
    }
}
