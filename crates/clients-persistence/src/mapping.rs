//! Rows to domain types and back. Every text column that holds an enum is parsed with
//! the domain's own parser, so a value the domain does not know is reported as corrupt
//! data instead of being guessed at.

use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};
use clients_domain::{
    AccessRequest, AccessRequestId, AccessRequestRecord, Account, AccountId, AuditEvent, AuditEventId, AuditKind,
    Delivery, DisplayName, DomainName, Email, GrantToken, Health, IssuedGrant, Member, MembershipId, Notification,
    OutboxMessageId, OutgoingEmail, PasswordHash, Plan, RequestState, ResendWindow, Role, Session, SessionId,
    SessionKind, TokenHash, Website, WebsiteId,
};
use sea_orm::ActiveValue::Set;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::entities::{access_request, account, audit_event, membership, outbox_message, session, website};
use crate::errors::Failure;
use crate::seal::OutboxKey;

/// PostgreSQL keeps microseconds; SQLite would keep nanoseconds. Writing every instant
/// at microsecond precision makes both backends return exactly what was stored.
pub(crate) fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn corrupt(table: &str, id: impl std::fmt::Display, what: impl std::fmt::Display) -> Failure {
    Failure::Internal(format!("corrupt {table} row {id}: {what}"))
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn uncount(table: &str, id: Uuid, n: i32) -> Result<u32, Failure> {
    u32::try_from(n).map_err(|_| corrupt(table, id, "negative counter"))
}

fn email(table: &str, id: Uuid, s: &str) -> Result<Email, Failure> {
    Email::parse(s).map_err(|_| corrupt(table, id, "invalid email"))
}

fn role(table: &str, id: Uuid, s: &str) -> Result<Role, Failure> {
    s.parse().map_err(|_| corrupt(table, id, "unknown role"))
}

fn token_hash(table: &str, id: Uuid, bytes: &[u8]) -> Result<TokenHash, Failure> {
    <[u8; 32]>::try_from(bytes).map(TokenHash::from_bytes).map_err(|_| corrupt(table, id, "token hash is not 32 bytes"))
}

// ----- accounts -------------------------------------------------------------------

pub(crate) fn account_from(m: &account::Model) -> Result<Account, Failure> {
    const T: &str = "accounts";
    Ok(Account {
        id: AccountId::from_uuid(m.id),
        email: email(T, m.id, &m.email)?,
        email_verified: m.email_verified,
        name: m.name.as_deref().map(DisplayName::parse).transpose().map_err(|_| corrupt(T, m.id, "invalid name"))?,
        plan: m.plan.parse::<Plan>().map_err(|_| corrupt(T, m.id, "unknown plan"))?,
        created_at: m.created_at,
    })
}

pub(crate) fn account_row(a: &Account, password: &PasswordHash) -> account::ActiveModel {
    account::ActiveModel {
        id: Set(a.id.as_uuid()),
        email: Set(a.email.as_str().to_owned()),
        email_verified: Set(a.email_verified),
        name: Set(a.name.as_ref().map(|n| n.as_str().to_owned())),
        plan: Set(a.plan.as_str().to_owned()),
        password_hash: Set(password.as_str().to_owned()),
        created_at: Set(ts(a.created_at)),
        websites_total: Set(0),
        websites_major_issue: Set(0),
        websites_not_connected: Set(0),
    }
}

// ----- sessions -------------------------------------------------------------------

pub(crate) fn session_from(m: &session::Model) -> Result<Session, Failure> {
    const T: &str = "sessions";
    let kind = match (m.kind.as_str(), m.client_id, m.role.as_deref()) {
        ("personal", None, None) => SessionKind::Personal,
        ("impersonation", Some(client), Some(r)) => {
            SessionKind::Impersonation { client: AccountId::from_uuid(client), role: role(T, m.id, r)? }
        }
        _ => return Err(corrupt(T, m.id, "inconsistent kind")),
    };
    Ok(Session {
        id: SessionId::from_uuid(m.id),
        token_hash: token_hash(T, m.id, &m.token_hash)?,
        account_id: AccountId::from_uuid(m.account_id),
        kind,
        created_at: m.created_at,
        expires_at: m.expires_at,
    })
}

pub(crate) fn session_row(s: &Session) -> session::ActiveModel {
    let (kind, client_id, role) = match s.kind {
        SessionKind::Personal => ("personal", None, None),
        SessionKind::Impersonation { client, role } => {
            ("impersonation", Some(client.as_uuid()), Some(role.as_str().to_owned()))
        }
    };
    session::ActiveModel {
        id: Set(s.id.as_uuid()),
        token_hash: Set(s.token_hash.as_bytes().to_vec()),
        account_id: Set(s.account_id.as_uuid()),
        kind: Set(kind.to_owned()),
        client_id: Set(client_id),
        role: Set(role),
        created_at: Set(ts(s.created_at)),
        expires_at: Set(ts(s.expires_at)),
    }
}

// ----- access requests ----------------------------------------------------------------

pub(crate) fn request_from(m: &access_request::Model) -> Result<AccessRequest, Failure> {
    const T: &str = "access_requests";
    let grant = match (&m.token_hash, m.grant_issued_at, m.grant_expires_at) {
        (Some(h), Some(issued_at), Some(expires_at)) => {
            Some(IssuedGrant { hash: token_hash(T, m.id, h)?, issued_at, expires_at })
        }
        (None, None, None) => None,
        _ => return Err(corrupt(T, m.id, "partial grant")),
    };
    let record = AccessRequestRecord {
        id: AccessRequestId::from_uuid(m.id),
        agency_id: AccountId::from_uuid(m.agency_id),
        email: email(T, m.id, &m.email)?,
        role: role(T, m.id, &m.role)?,
        state: RequestState::parse(&m.state).ok_or_else(|| corrupt(T, m.id, "unknown state"))?,
        grant,
        client_id: m.client_id.map(AccountId::from_uuid),
        sends: uncount(T, m.id, m.sends)?,
        last_sent_at: m.last_sent_at,
        resend_window: ResendWindow {
            started_at: m.resend_window_started_at,
            count: uncount(T, m.id, m.resend_window_count)?,
        },
        delivery: Delivery::parse(&m.delivery).ok_or_else(|| corrupt(T, m.id, "unknown delivery"))?,
        slot_blocked_at: m.slot_blocked_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    };
    AccessRequest::restore(record).map_err(|e| Failure::Internal(e.to_string()))
}

pub(crate) fn request_row(r: &AccessRequest) -> access_request::ActiveModel {
    let r = r.record();
    access_request::ActiveModel {
        id: Set(r.id.as_uuid()),
        agency_id: Set(r.agency_id.as_uuid()),
        email: Set(r.email.as_str().to_owned()),
        role: Set(r.role.as_str().to_owned()),
        state: Set(r.state.as_str().to_owned()),
        token_hash: Set(r.grant.map(|g| g.hash.as_bytes().to_vec())),
        grant_issued_at: Set(r.grant.map(|g| ts(g.issued_at))),
        grant_expires_at: Set(r.grant.map(|g| ts(g.expires_at))),
        client_id: Set(r.client_id.map(|c| c.as_uuid())),
        sends: Set(count(r.sends)),
        last_sent_at: Set(ts(r.last_sent_at)),
        resend_window_started_at: Set(r.resend_window.started_at.map(ts)),
        resend_window_count: Set(count(r.resend_window.count)),
        delivery: Set(r.delivery.as_str().to_owned()),
        slot_blocked_at: Set(r.slot_blocked_at.map(ts)),
        created_at: Set(ts(r.created_at)),
        updated_at: Set(ts(r.updated_at)),
    }
}

// ----- memberships ----------------------------------------------------------------

pub(crate) fn member_from(m: &membership::Model) -> Result<Member, Failure> {
    const T: &str = "memberships";
    Ok(Member {
        id: MembershipId::from_uuid(m.id),
        account_id: AccountId::from_uuid(m.agency_id),
        email: email(T, m.id, &m.email)?,
        role: role(T, m.id, &m.role)?,
        origin: AccessRequestId::from_uuid(m.origin_request_id),
        since: m.since,
    })
}

pub(crate) fn member_row(client: AccountId, m: &Member) -> membership::ActiveModel {
    membership::ActiveModel {
        id: Set(m.id.as_uuid()),
        client_id: Set(client.as_uuid()),
        agency_id: Set(m.account_id.as_uuid()),
        email: Set(m.email.as_str().to_owned()),
        role: Set(m.role.as_str().to_owned()),
        origin_request_id: Set(m.origin.as_uuid()),
        since: Set(ts(m.since)),
    }
}

// ----- websites -------------------------------------------------------------------

pub(crate) fn website_from(m: &website::Model) -> Result<Website, Failure> {
    const T: &str = "websites";
    Ok(Website {
        id: WebsiteId::from_uuid(m.id),
        account_id: AccountId::from_uuid(m.account_id),
        domain: DomainName::parse(&m.domain).map_err(|_| corrupt(T, m.id, "invalid domain"))?,
        connected: m.connected,
        health: Health::parse(&m.health).ok_or_else(|| corrupt(T, m.id, "unknown health"))?,
        created_at: m.created_at,
    })
}

pub(crate) fn website_row(w: &Website) -> website::ActiveModel {
    website::ActiveModel {
        id: Set(w.id.as_uuid()),
        account_id: Set(w.account_id.as_uuid()),
        domain: Set(w.domain.as_str().to_owned()),
        connected: Set(w.connected),
        health: Set(w.health.as_str().to_owned()),
        created_at: Set(ts(w.created_at)),
        updated_at: Set(ts(w.created_at)),
    }
}

// ----- JSON helpers -----------------------------------------------------------------

fn instant(t: DateTime<Utc>) -> Value {
    Value::String(ts(t).to_rfc3339_opts(SecondsFormat::Micros, true))
}

struct Fields<'a> {
    table: &'static str,
    id: Uuid,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn of(table: &'static str, id: Uuid, v: &'a Value) -> Result<Self, Failure> {
        let map = v.as_object().ok_or_else(|| corrupt(table, id, "details are not an object"))?;
        Ok(Self { table, id, map })
    }

    fn str(&self, key: &str) -> Result<&'a str, Failure> {
        self.map.get(key).and_then(Value::as_str).ok_or_else(|| corrupt(self.table, self.id, format!("missing {key}")))
    }

    fn role(&self, key: &str) -> Result<Role, Failure> {
        role(self.table, self.id, self.str(key)?)
    }

    fn plan(&self, key: &str) -> Result<Plan, Failure> {
        self.str(key)?.parse().map_err(|_| corrupt(self.table, self.id, "unknown plan"))
    }

    fn email(&self, key: &str) -> Result<Email, Failure> {
        email(self.table, self.id, self.str(key)?)
    }

    fn uuid(&self, key: &str) -> Result<Uuid, Failure> {
        Uuid::try_parse(self.str(key)?).map_err(|_| corrupt(self.table, self.id, "invalid id"))
    }

    fn instant(&self, key: &str) -> Result<DateTime<Utc>, Failure> {
        DateTime::parse_from_rfc3339(self.str(key)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt(self.table, self.id, "invalid instant"))
    }
}

// ----- audit events -----------------------------------------------------------------

fn audit_details(kind: &AuditKind) -> Value {
    match kind {
        AuditKind::AccessRequested { role } => json!({ "role": role.as_str() }),
        AuditKind::RequestResent
        | AuditKind::RequestRemoved
        | AuditKind::RequestDeclined
        | AuditKind::EmailVerified => json!({}),
        AuditKind::RequestApproved { role, member } => {
            json!({ "role": role.as_str(), "member": member.to_string() })
        }
        AuditKind::RoleChanged { member, from, to } => {
            json!({ "member": member.to_string(), "from": from.as_str(), "to": to.as_str() })
        }
        AuditKind::MemberRemoved { member, role } => json!({ "member": member.to_string(), "role": role.as_str() }),
        AuditKind::AgencyLeft { member } => json!({ "member": member.to_string() }),
        AuditKind::ImpersonationStarted { session, role, expires_at } => {
            json!({ "session": session.to_string(), "role": role.as_str(), "expires_at": instant(*expires_at) })
        }
        AuditKind::PlanChanged { from, to } => json!({ "from": from.as_str(), "to": to.as_str() }),
    }
}

fn audit_kind(id: Uuid, name: &str, details: &Value) -> Result<AuditKind, Failure> {
    let f = Fields::of("audit_events", id, details)?;
    let member = |f: &Fields<'_>| f.uuid("member").map(MembershipId::from_uuid);
    Ok(match name {
        "access_requested" => AuditKind::AccessRequested { role: f.role("role")? },
        "request_resent" => AuditKind::RequestResent,
        "request_removed" => AuditKind::RequestRemoved,
        "request_approved" => AuditKind::RequestApproved { role: f.role("role")?, member: member(&f)? },
        "request_declined" => AuditKind::RequestDeclined,
        "role_changed" => AuditKind::RoleChanged { member: member(&f)?, from: f.role("from")?, to: f.role("to")? },
        "member_removed" => AuditKind::MemberRemoved { member: member(&f)?, role: f.role("role")? },
        "agency_left" => AuditKind::AgencyLeft { member: member(&f)? },
        "impersonation_started" => AuditKind::ImpersonationStarted {
            session: SessionId::from_uuid(f.uuid("session")?),
            role: f.role("role")?,
            expires_at: f.instant("expires_at")?,
        },
        "plan_changed" => AuditKind::PlanChanged { from: f.plan("from")?, to: f.plan("to")? },
        "email_verified" => AuditKind::EmailVerified,
        _ => return Err(corrupt("audit_events", id, "unknown kind")),
    })
}

pub(crate) fn audit_row(e: &AuditEvent) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        id: Set(e.id.as_uuid()),
        at: Set(ts(e.at)),
        actor_id: Set(e.actor.map(|a| a.as_uuid())),
        via_session_id: Set(e.via_session.map(|s| s.as_uuid())),
        client_id: Set(e.client.map(|c| c.as_uuid())),
        client_email: Set(e.client_email.as_ref().map(|m| m.as_str().to_owned())),
        agency_id: Set(e.agency.map(|a| a.as_uuid())),
        request_id: Set(e.request.map(|r| r.as_uuid())),
        kind: Set(e.kind.name().to_owned()),
        details: Set(audit_details(&e.kind)),
    }
}

pub(crate) fn audit_from(m: &audit_event::Model) -> Result<AuditEvent, Failure> {
    const T: &str = "audit_events";
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(m.id),
        at: m.at,
        actor: m.actor_id.map(AccountId::from_uuid),
        via_session: m.via_session_id.map(SessionId::from_uuid),
        client: m.client_id.map(AccountId::from_uuid),
        client_email: m.client_email.as_deref().map(|e| email(T, m.id, e)).transpose()?,
        agency: m.agency_id.map(AccountId::from_uuid),
        request: m.request_id.map(AccessRequestId::from_uuid),
        kind: audit_kind(m.id, &m.kind, &m.details)?,
    })
}

// ----- outbox -------------------------------------------------------------------------

/// The payload key holding the sealed grant token (erased once delivered or failed).
pub(crate) const SEALED_TOKEN: &str = "sealed_token";

fn notification_payload(id: Uuid, n: &Notification, key: &OutboxKey) -> Result<Value, Failure> {
    Ok(match n {
        Notification::AccessRequested { agency_name, agency_email, role, token, expires_at, resent: _ } => {
            let sealed = key
                .seal(token.expose(), id.as_bytes())
                .map_err(|e| Failure::Internal(format!("sealing the grant token of {id}: {e}")))?;
            json!({
                "agency_name": agency_name,
                "agency_email": agency_email.as_str(),
                "role": role.as_str(),
                SEALED_TOKEN: sealed,
                "expires_at": instant(*expires_at),
            })
        }
        Notification::RequestApproved { client_email, role } => {
            json!({ "client_email": client_email.as_str(), "role": role.as_str() })
        }
        Notification::RequestDeclined { client_email } | Notification::AccessRevoked { client_email } => {
            json!({ "client_email": client_email.as_str() })
        }
        Notification::AgencyLeft { agency_name, agency_email } => {
            json!({ "agency_name": agency_name, "agency_email": agency_email.as_str() })
        }
        Notification::ImpersonationStarted { agency_name, agency_email, role, expires_at } => json!({
            "agency_name": agency_name,
            "agency_email": agency_email.as_str(),
            "role": role.as_str(),
            "expires_at": instant(*expires_at),
        }),
    })
}

fn notification_from(m: &outbox_message::Model, key: &OutboxKey) -> Result<Notification, Failure> {
    const T: &str = "email_outbox";
    let f = Fields::of(T, m.id, &m.payload)?;
    let agency = |f: &Fields<'_>| -> Result<(String, Email), Failure> {
        Ok((f.str("agency_name")?.to_owned(), f.email("agency_email")?))
    };
    Ok(match m.template.as_str() {
        t @ ("access_requested" | "access_request_resent") => {
            let (agency_name, agency_email) = agency(&f)?;
            let sealed = f.str(SEALED_TOKEN)?;
            let raw = key.open(sealed, m.id.as_bytes()).map_err(|e| corrupt(T, m.id, e))?;
            let token = GrantToken::parse(&raw).map_err(|_| corrupt(T, m.id, "sealed token is malformed"))?;
            Notification::AccessRequested {
                agency_name,
                agency_email,
                role: f.role("role")?,
                token,
                expires_at: f.instant("expires_at")?,
                resent: t == "access_request_resent",
            }
        }
        "request_approved" => {
            Notification::RequestApproved { client_email: f.email("client_email")?, role: f.role("role")? }
        }
        "request_declined" => Notification::RequestDeclined { client_email: f.email("client_email")? },
        "access_revoked" => Notification::AccessRevoked { client_email: f.email("client_email")? },
        "agency_left" => {
            let (agency_name, agency_email) = agency(&f)?;
            Notification::AgencyLeft { agency_name, agency_email }
        }
        "impersonation_started" => {
            let (agency_name, agency_email) = agency(&f)?;
            Notification::ImpersonationStarted {
                agency_name,
                agency_email,
                role: f.role("role")?,
                expires_at: f.instant("expires_at")?,
            }
        }
        _ => return Err(corrupt(T, m.id, "unknown template")),
    })
}

pub(crate) fn outbox_row(e: &OutgoingEmail, key: &OutboxKey) -> Result<outbox_message::ActiveModel, Failure> {
    let id = e.id.as_uuid();
    Ok(outbox_message::ActiveModel {
        id: Set(id),
        recipient: Set(e.to.as_str().to_owned()),
        template: Set(e.notification.template().to_owned()),
        payload: Set(notification_payload(id, &e.notification, key)?),
        request_id: Set(e.request.map(|r| r.as_uuid())),
        created_at: Set(ts(e.created_at)),
        state: Set("pending".to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(ts(e.created_at)),
        claimed_until: Set(None),
        sent_at: Set(None),
        last_error: Set(None),
    })
}

pub(crate) fn outbox_from(m: &outbox_message::Model, key: &OutboxKey) -> Result<OutgoingEmail, Failure> {
    Ok(OutgoingEmail {
        id: OutboxMessageId::from_uuid(m.id),
        to: email("email_outbox", m.id, &m.recipient)?,
        notification: notification_from(m, key)?,
        request: m.request_id.map(AccessRequestId::from_uuid),
        created_at: m.created_at,
    })
}
