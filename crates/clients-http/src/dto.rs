//! Request and response bodies of the v1 API, and their conversion from domain types.
//! Request bodies reject unknown fields; server-set fields are read-only.

use chrono::{DateTime, Utc};
use clients_domain::ports::Page;
use clients_domain::{
    Account, AnalyticsSummary, AuditEvent, AuditKind, Delivery, Health, Invoice, InvoiceStatus, Member, Plan,
    RequestState, Role, RowAction, SharedAccountRow, SharedAccountStatus, SlotUsage, Website,
};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident <=> $domain:ty { $first:ident $(, $variant:ident)* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
        #[oai(rename_all = "snake_case")]
        pub enum $name { #[default] $first $(, $variant)* }

        impl From<$domain> for $name {
            fn from(v: $domain) -> Self {
                match v { <$domain>::$first => Self::$first $(, <$domain>::$variant => Self::$variant)* }
            }
        }

        impl From<$name> for $domain {
            fn from(v: $name) -> Self {
                match v { $name::$first => Self::$first $(, $name::$variant => Self::$variant)* }
            }
        }
    };
}

wire_enum!(
    /// The role an agency holds: `biller`, `developer` or `admin`.
    RoleDto <=> Role { Biller, Developer, Admin }
);
wire_enum!(
    /// Subscription plan.
    PlanDto <=> Plan { Free, Basic, Plus, Pro, Scale }
);
wire_enum!(
    /// Lifecycle state of an access request.
    StateDto <=> RequestState { Requested, Approved, Declined, Removed, Revoked, Left }
);
wire_enum!(
    /// Derived health of a shared account.
    StatusDto <=> SharedAccountStatus { NoData, MajorIssue, NotConnected, AllGood }
);
wire_enum!(
    /// An action a row offers.
    ActionDto <=> RowAction { Resend, Remove, ViewWebsites, LogInAs }
);
wire_enum!(
    /// Delivery of the newest request email.
    DeliveryDto <=> Delivery { Queued, Sent, Failed }
);
wire_enum!(
    /// Health a website reports.
    HealthDto <=> Health { Ok, Warning, MajorIssue }
);
wire_enum!(
    /// Where an invoice stands.
    InvoiceStatusDto <=> InvoiceStatus { Open, Paid, Void }
);

/// A JSON string and nothing else. poem-openapi's `String` also accepts numbers and
/// booleans (`"email": false` became `"false"`); request bodies use this instead, so a
/// wrong type is a 400 like the schema says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl poem_openapi::types::Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        <String as poem_openapi::types::Type>::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl poem_openapi::types::ParseFromJSON for Text {
    fn parse_from_json(value: Option<serde_json::Value>) -> poem_openapi::types::ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(s)) => Ok(Self(s)),
            other => Err(poem_openapi::types::ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl poem_openapi::types::ToJSON for Text {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

/// An account as its owner sees it.
#[derive(Debug, Clone, Default, Object)]
pub struct AccountDto {
    /// Account id.
    #[oai(read_only)]
    pub id: Uuid,
    /// Sign-in email (lower-cased).
    #[oai(read_only)]
    pub email: String,
    /// Whether a grant link proved the mailbox.
    #[oai(read_only)]
    pub email_verified: bool,
    /// Display name.
    #[oai(read_only)]
    #[oai(nullable)]
    pub name: Option<String>,
    /// Plan.
    #[oai(read_only)]
    pub plan: PlanDto,
}

impl From<&Account> for AccountDto {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.as_uuid(),
            email: a.email.to_string(),
            email_verified: a.email_verified,
            name: a.name.as_ref().map(ToString::to_string),
            plan: a.plan.into(),
        }
    }
}

/// `POST /v1/auth/sign-up`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct SignUpBody {
    /// Email to sign in with (ASCII, at most 254 characters).
    #[oai(validator(max_length = 254, custom = "&crate::patterns::EMAIL"))]
    pub email: Text,
    /// 8 to 128 characters.
    #[oai(validator(min_length = 8, max_length = 128, custom = "&crate::patterns::PASSWORD"))]
    pub password: Text,
    /// Display name shown to clients (agencies: your company): up to 100 characters,
    /// not blank, no control characters.
    #[oai(nullable, validator(max_length = 100, custom = "&crate::patterns::NAME"))]
    pub name: Option<Text>,
    /// The `token` of a grant link sent to this email: verifies the email.
    #[oai(nullable, validator(max_length = 200))]
    pub grant_token: Option<Text>,
}

/// `POST /v1/auth/sign-in`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct SignInBody {
    /// Email.
    #[oai(validator(max_length = 320))]
    pub email: Text,
    /// Password.
    #[oai(validator(max_length = 1024))]
    pub password: Text,
}

/// A new bearer session.
#[derive(Debug, Clone, Default, Object)]
pub struct SessionDto {
    /// Bearer token for `Authorization: Bearer …` (shown once).
    #[oai(read_only)]
    pub token: String,
    /// When it stops working.
    #[oai(read_only)]
    pub expires_at: DateTime<Utc>,
    /// The account.
    #[oai(read_only)]
    pub account: AccountDto,
}

/// `POST /v1/shared-accounts`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateSharedAccountBody {
    /// The client's email (the client may not have an account yet).
    #[oai(validator(max_length = 254, custom = "&crate::patterns::EMAIL"))]
    pub email: Text,
    /// The role you ask for.
    pub role: RoleDto,
}

/// One request of `POST /v1/shared-accounts/bulk`: its email is checked on its own,
/// so one bad address does not refuse the others.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct BulkItemBody {
    /// The client's email.
    #[oai(validator(max_length = 320))]
    pub email: Text,
    /// The role you ask for.
    pub role: RoleDto,
}

/// `POST /v1/shared-accounts/bulk`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct BulkBody {
    /// 1 to 100 requests, each handled independently.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub requests: Vec<BulkItemBody>,
}

/// Outcome of one email of a bulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum BulkOutcome {
    /// The request was created.
    Created,
    /// It was refused; see `code`.
    Rejected,
}

/// One result of a bulk request.
#[derive(Debug, Clone, Object)]
pub struct BulkResult {
    /// The email as sent.
    pub email: String,
    /// Created or rejected.
    pub outcome: BulkOutcome,
    /// The new row's id.
    #[oai(skip_serializing_if_is_none)]
    pub id: Option<Uuid>,
    /// Why it was rejected (a problem `code`).
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<String>,
}

/// `200` of the bulk request.
#[derive(Debug, Clone, Object)]
pub struct BulkResults {
    /// One result per request, in order.
    pub results: Vec<BulkResult>,
}

/// A row of the agency's "Shared accounts" list.
#[derive(Debug, Clone, Default, Object)]
pub struct SharedAccountDto {
    /// Row id (the access request).
    #[oai(read_only)]
    pub id: Uuid,
    /// The client's email.
    #[oai(read_only)]
    pub email: String,
    /// The "Requested" tag: shown until the client approves.
    #[oai(read_only)]
    pub requested: bool,
    /// Lifecycle state.
    #[oai(read_only)]
    pub state: StateDto,
    /// Your role (the access level).
    #[oai(read_only)]
    pub role: RoleDto,
    /// Websites of the client (0 until approved).
    #[oai(read_only)]
    pub websites_count: u32,
    /// Derived status.
    #[oai(read_only)]
    pub status: StatusDto,
    /// Actions this row offers.
    #[oai(read_only)]
    pub actions: Vec<ActionDto>,
    /// Delivery of the newest request email.
    #[oai(read_only)]
    pub delivery: DeliveryDto,
    /// The client tried to approve but has no free team slot.
    #[oai(read_only)]
    pub blocked_on_slots: bool,
    /// When the request was created.
    #[oai(read_only)]
    pub requested_at: DateTime<Utc>,
    /// When the newest email was queued.
    #[oai(read_only)]
    pub last_sent_at: DateTime<Utc>,
}

impl From<&SharedAccountRow> for SharedAccountDto {
    fn from(row: &SharedAccountRow) -> Self {
        let r = &row.request;
        Self {
            id: r.id().as_uuid(),
            email: r.email().to_string(),
            requested: row.requested(),
            state: r.state().into(),
            role: r.role().into(),
            websites_count: row.websites.total,
            status: row.status.into(),
            actions: row.actions.iter().map(|a| (*a).into()).collect(),
            delivery: r.delivery().into(),
            blocked_on_slots: row.blocked_on_slots,
            requested_at: r.created_at(),
            last_sent_at: r.last_sent_at(),
        }
    }
}

/// A page of the agency's list.
#[derive(Debug, Clone, Object)]
pub struct SharedAccountPage {
    /// Rows, newest first.
    pub items: Vec<SharedAccountDto>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl From<Page<SharedAccountRow>> for SharedAccountPage {
    fn from(p: Page<SharedAccountRow>) -> Self {
        Self { items: p.items.iter().map(Into::into).collect(), next_cursor: p.next_cursor }
    }
}

/// A website.
#[derive(Debug, Clone, Default, Object)]
pub struct WebsiteDto {
    /// Website id.
    #[oai(read_only)]
    pub id: Uuid,
    /// Host name.
    #[oai(read_only)]
    pub domain: String,
    /// Connected to the service.
    #[oai(read_only)]
    pub connected: bool,
    /// Latest reported health.
    #[oai(read_only)]
    pub health: HealthDto,
}

impl From<&Website> for WebsiteDto {
    fn from(w: &Website) -> Self {
        Self { id: w.id.as_uuid(), domain: w.domain.to_string(), connected: w.connected, health: w.health.into() }
    }
}

/// A page of websites.
#[derive(Debug, Clone, Object)]
pub struct WebsitePage {
    /// Websites by domain.
    pub items: Vec<WebsiteDto>,
    /// Pass as `cursor` for the next page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl From<Page<Website>> for WebsitePage {
    fn from(p: Page<Website>) -> Self {
        Self { items: p.items.iter().map(Into::into).collect(), next_cursor: p.next_cursor }
    }
}

/// `POST /v1/accounts/{account_id}/websites`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AddWebsiteBody {
    /// Host name, e.g. `shop.example.com` (ASCII; IDNs in their `xn--` form).
    #[oai(validator(max_length = 253, custom = "&crate::patterns::DOMAIN"))]
    pub domain: Text,
}

/// `PUT /v1/internal/websites/{website_id}/status`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WebsiteStatusBody {
    /// Whether the website is connected.
    pub connected: bool,
    /// `ok`, `warning` or `major_issue`.
    pub health: HealthDto,
}

/// A started "Log in as".
#[derive(Debug, Clone, Default, Object)]
pub struct ImpersonationDto {
    /// Bearer token acting inside the client account (shown once).
    #[oai(read_only)]
    pub token: String,
    /// When it stops working.
    #[oai(read_only)]
    pub expires_at: DateTime<Utc>,
    /// The client account.
    #[oai(read_only)]
    pub account_id: Uuid,
    /// The role it acts with.
    #[oai(read_only)]
    pub role: RoleDto,
}

/// Slots of a team.
#[derive(Debug, Clone, Object)]
pub struct SlotsDto {
    /// Members other than the owner.
    pub used: u32,
    /// The plan's slots; `null` when unlimited.
    #[oai(nullable)]
    pub limit: Option<u32>,
}

impl From<SlotUsage> for SlotsDto {
    fn from(s: SlotUsage) -> Self {
        Self { used: s.used, limit: s.limit.limit() }
    }
}

/// A request waiting for the client (the approval pop-up).
#[derive(Debug, Clone, Object)]
pub struct InboxItem {
    /// Request id (approve/decline it).
    pub id: Uuid,
    /// The agency's email.
    pub agency_email: String,
    /// The agency's name.
    pub agency_name: String,
    /// The role asked for.
    pub role: RoleDto,
    /// What that role allows.
    pub role_summary: String,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
}

/// `GET /v1/access-requests`.
#[derive(Debug, Clone, Object)]
pub struct InboxDto {
    /// Pending requests, oldest first.
    pub items: Vec<InboxItem>,
    /// Approving one uses one slot.
    pub slots: SlotsDto,
}

/// Whether the link's recipient should sign in or sign up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum NextStep {
    /// An account has the invited email.
    SignIn,
    /// No account has it yet.
    SignUp,
}

/// `GET /v1/access-requests/by-token/{token}`.
#[derive(Debug, Clone, Object)]
pub struct GrantLinkDto {
    /// Request id.
    pub id: Uuid,
    /// The agency's name.
    pub agency_name: String,
    /// The agency's email.
    pub agency_email: String,
    /// The role asked for.
    pub role: RoleDto,
    /// What that role allows.
    pub role_summary: String,
    /// The invited email (prefill the form with it).
    pub email: String,
    /// Sign in or sign up.
    pub next: NextStep,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// A team member (an agency).
#[derive(Debug, Clone, Default, Object)]
pub struct MemberDto {
    /// Membership id.
    #[oai(read_only)]
    pub id: Uuid,
    /// The agency's account id.
    #[oai(read_only)]
    pub account_id: Uuid,
    /// The agency's email.
    #[oai(read_only)]
    pub email: String,
    /// Its role.
    #[oai(read_only)]
    pub role: RoleDto,
    /// How it joined: `access_request`.
    #[oai(read_only)]
    pub origin: String,
    /// The access request it joined through.
    #[oai(read_only)]
    pub request_id: Uuid,
    /// Since when.
    #[oai(read_only)]
    pub since: DateTime<Utc>,
}

impl From<&Member> for MemberDto {
    fn from(m: &Member) -> Self {
        Self {
            id: m.id.as_uuid(),
            account_id: m.account_id.as_uuid(),
            email: m.email.to_string(),
            role: m.role.into(),
            origin: "access_request".to_owned(),
            request_id: m.origin.as_uuid(),
            since: m.since,
        }
    }
}

/// `GET /v1/accounts/{account_id}/team`.
#[derive(Debug, Clone, Object)]
pub struct TeamDto {
    /// Slots used and available.
    pub slots: SlotsDto,
    /// Members, oldest first.
    pub members: Vec<MemberDto>,
}

/// `PATCH …/team/members/{member_id}`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RoleBody {
    /// The new role.
    pub role: RoleDto,
}

/// `GET/PUT /v1/accounts/{account_id}/subscription`.
#[derive(Debug, Clone, Object)]
pub struct SubscriptionDto {
    /// Plan.
    pub plan: PlanDto,
    /// Its team slots and their use.
    pub slots: SlotsDto,
}

/// `PUT /v1/accounts/{account_id}/subscription`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct PlanBody {
    /// The new plan.
    pub plan: PlanDto,
}

/// One audit log entry.
#[derive(Debug, Clone, Object)]
pub struct AuditEventDto {
    /// Entry id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened (`access_requested`, `request_approved`, `impersonation_started`, …).
    pub kind: String,
    /// Who did it.
    #[oai(nullable)]
    pub actor_id: Option<Uuid>,
    /// The "Log in as" session it was done through, if any.
    #[oai(nullable)]
    pub via_session: Option<Uuid>,
    /// The agency concerned.
    #[oai(nullable)]
    pub agency_id: Option<Uuid>,
    /// The request concerned.
    #[oai(nullable)]
    pub request_id: Option<Uuid>,
    /// The client's email.
    #[oai(nullable)]
    pub client_email: Option<String>,
    /// Role involved (requested, approved, removed, or the new role).
    #[oai(nullable)]
    pub role: Option<RoleDto>,
    /// Previous role (`role_changed`).
    #[oai(nullable)]
    pub from_role: Option<RoleDto>,
    /// The membership concerned.
    #[oai(nullable)]
    pub member_id: Option<Uuid>,
    /// The "Log in as" session started (`impersonation_started`).
    #[oai(nullable)]
    pub session_id: Option<Uuid>,
    /// End of that session.
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Plans (`plan_changed`).
    #[oai(nullable)]
    pub from_plan: Option<PlanDto>,
    /// New plan (`plan_changed`).
    #[oai(nullable)]
    pub to_plan: Option<PlanDto>,
}

impl From<&AuditEvent> for AuditEventDto {
    fn from(e: &AuditEvent) -> Self {
        let mut dto = Self {
            id: e.id.as_uuid(),
            at: e.at,
            kind: e.kind.name().to_owned(),
            actor_id: e.actor.map(|a| a.as_uuid()),
            via_session: e.via_session.map(|s| s.as_uuid()),
            agency_id: e.agency.map(|a| a.as_uuid()),
            request_id: e.request.map(|r| r.as_uuid()),
            client_email: e.client_email.as_ref().map(ToString::to_string),
            role: None,
            from_role: None,
            member_id: None,
            session_id: None,
            expires_at: None,
            from_plan: None,
            to_plan: None,
        };
        match &e.kind {
            AuditKind::AccessRequested { role } => dto.role = Some((*role).into()),
            AuditKind::RequestApproved { role, member } | AuditKind::MemberRemoved { member, role } => {
                dto.role = Some((*role).into());
                dto.member_id = Some(member.as_uuid());
            }
            AuditKind::RoleChanged { member, from, to } => {
                dto.member_id = Some(member.as_uuid());
                dto.from_role = Some((*from).into());
                dto.role = Some((*to).into());
            }
            AuditKind::AgencyLeft { member } => dto.member_id = Some(member.as_uuid()),
            AuditKind::ImpersonationStarted { session, role, expires_at } => {
                dto.session_id = Some(session.as_uuid());
                dto.role = Some((*role).into());
                dto.expires_at = Some(*expires_at);
            }
            AuditKind::PlanChanged { from, to } => {
                dto.from_plan = Some((*from).into());
                dto.to_plan = Some((*to).into());
            }
            AuditKind::RequestResent
            | AuditKind::RequestRemoved
            | AuditKind::RequestDeclined
            | AuditKind::EmailVerified => {}
        }
        dto
    }
}

/// A page of the audit log.
#[derive(Debug, Clone, Object)]
pub struct AuditPage {
    /// Entries, newest first.
    pub items: Vec<AuditEventDto>,
    /// Pass as `cursor` for the next page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// `GET /healthz` and `/readyz`.
#[derive(Debug, Clone, Object)]
pub struct HealthStatus {
    /// `ok`, or what is not ready.
    pub status: String,
}

/// An invoice.
#[derive(Debug, Clone, Object)]
pub struct InvoiceDto {
    /// Invoice id.
    pub id: Uuid,
    /// Number, unique per account.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub number: String,
    /// Start of the billed period.
    pub period_start: DateTime<Utc>,
    /// End of the billed period.
    pub period_end: DateTime<Utc>,
    /// Amount in the currency's minor unit (cents).
    #[oai(validator(minimum(value = "0")))]
    pub amount_cents: i64,
    /// ISO 4217 code, e.g. `EUR`.
    #[oai(validator(min_length = 3, max_length = 3))]
    pub currency: String,
    /// `open`, `paid` or `void`.
    pub status: InvoiceStatusDto,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

impl From<&Invoice> for InvoiceDto {
    fn from(i: &Invoice) -> Self {
        Self {
            id: i.id.as_uuid(),
            number: i.number.clone(),
            period_start: i.period_start,
            period_end: i.period_end,
            amount_cents: i.amount_cents,
            currency: i.currency.clone(),
            status: i.status.into(),
            issued_at: i.issued_at,
        }
    }
}

/// A page of invoices.
#[derive(Debug, Clone, Object)]
pub struct InvoicePage {
    /// Invoices, newest first.
    pub items: Vec<InvoiceDto>,
    /// Pass as `cursor` for the next page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// `POST /v1/internal/accounts/{account_id}/invoices`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct InvoiceBody {
    /// Number, unique per account.
    #[oai(validator(min_length = 1, max_length = 64, custom = "&crate::patterns::NO_CONTROLS"))]
    pub number: Text,
    /// Start of the billed period.
    pub period_start: DateTime<Utc>,
    /// End of the billed period.
    pub period_end: DateTime<Utc>,
    /// Amount in the currency's minor unit.
    #[oai(validator(minimum(value = "0")))]
    pub amount_cents: i64,
    /// ISO 4217 code, upper case.
    #[oai(validator(min_length = 3, max_length = 3, custom = "&crate::patterns::CURRENCY"))]
    pub currency: Text,
    /// Status.
    pub status: InvoiceStatusDto,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// `GET /v1/accounts/{account_id}/analytics`.
#[derive(Debug, Clone, Object)]
pub struct AnalyticsDto {
    /// Websites.
    pub websites: u32,
    /// Connected websites.
    pub connected: u32,
    /// Websites not connected.
    pub not_connected: u32,
    /// Websites reporting a major issue.
    pub major_issue: u32,
    /// Overall status.
    pub status: StatusDto,
}

impl From<AnalyticsSummary> for AnalyticsDto {
    fn from(a: AnalyticsSummary) -> Self {
        Self {
            websites: a.websites,
            connected: a.connected,
            not_connected: a.not_connected,
            major_issue: a.major_issue,
            status: a.status.into(),
        }
    }
}
