//! What templates see: plain serialisable views of domain values, with the product's
//! words for roles, statuses, slots and audit events.

use chrono::{DateTime, Utc};
use clients_domain::ports::PendingRequest;
use clients_domain::{
    AuditEvent, AuditKind, Health, Member, Plan, PlanCatalogue, RequestState, Role, RowAction, SharedAccountRow,
    SharedAccountStatus, SlotUsage, TeamSlots, Website,
};
use serde::Serialize;

/// "Biller", "Developer", "Admin".
#[must_use]
pub(crate) fn role_label(role: Role) -> &'static str {
    match role {
        Role::Biller => "Biller",
        Role::Developer => "Developer",
        Role::Admin => "Admin",
    }
}

/// The status badge's words (rule 6).
#[must_use]
pub(crate) fn status_label(status: SharedAccountStatus) -> &'static str {
    match status {
        SharedAccountStatus::AllGood => "All good",
        SharedAccountStatus::MajorIssue => "Major issue",
        SharedAccountStatus::NoData => "No data",
        SharedAccountStatus::NotConnected => "Not connected",
    }
}

/// "Free", "Plus", …
#[must_use]
pub(crate) fn plan_label(plan: Plan) -> &'static str {
    match plan {
        Plan::Free => "Free",
        Plan::Basic => "Basic",
        Plan::Plus => "Plus",
        Plan::Pro => "Pro",
        Plan::Scale => "Scale",
    }
}

/// A date and time people read (UTC).
#[must_use]
pub(crate) fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A role choice with what it allows.
#[derive(Debug, Serialize)]
pub(crate) struct RoleView {
    pub(crate) value: &'static str,
    pub(crate) label: &'static str,
    pub(crate) summary: &'static str,
}

/// Every role, for pickers.
#[must_use]
pub(crate) fn roles() -> Vec<RoleView> {
    Role::ALL.into_iter().map(|r| RoleView { value: r.as_str(), label: role_label(r), summary: r.summary() }).collect()
}

/// A plan choice with its slots.
#[derive(Debug, Serialize)]
pub(crate) struct PlanView {
    pub(crate) value: &'static str,
    pub(crate) label: &'static str,
    pub(crate) slots: String,
    pub(crate) current: bool,
    /// More slots than the current plan.
    pub(crate) upgrade: bool,
}

fn slots_words(slots: TeamSlots) -> String {
    match slots {
        TeamSlots::Limited(1) => "1 team slot".to_owned(),
        TeamSlots::Limited(n) => format!("{n} team slots"),
        TeamSlots::Unlimited => "unlimited team slots".to_owned(),
    }
}

/// Orders slot counts; unlimited is the most.
fn slot_rank(slots: TeamSlots) -> u64 {
    slots.limit().map_or(u64::MAX, u64::from)
}

/// Every plan with its slots, marking the current one and those with more slots.
#[must_use]
pub(crate) fn plans(catalogue: &PlanCatalogue, current: Plan) -> Vec<PlanView> {
    let now = slot_rank(catalogue.slots(current));
    Plan::ALL
        .into_iter()
        .map(|p| PlanView {
            value: p.as_str(),
            label: plan_label(p),
            slots: slots_words(catalogue.slots(p)),
            current: p == current,
            upgrade: slot_rank(catalogue.slots(p)) > now,
        })
        .collect()
}

/// Team slots in words.
#[derive(Debug, Serialize)]
pub(crate) struct SlotsView {
    pub(crate) used: u32,
    pub(crate) limit: Option<u32>,
    pub(crate) has_free: bool,
    /// "1 of 3 team slots used" / "2 team slots used (unlimited)".
    pub(crate) usage: String,
    /// What approving costs: "Approving uses 1 of your 3 team slots (2 free)."
    pub(crate) cost: String,
}

impl SlotsView {
    pub(crate) fn of(s: SlotUsage) -> Self {
        let (usage, cost) = match s.limit {
            TeamSlots::Limited(limit) => {
                let slots = if limit == 1 { "slot" } else { "slots" };
                let free = s.free().unwrap_or(0);
                (
                    format!("{} of {limit} team {slots} used", s.used),
                    format!("Approving uses 1 of your {limit} team {slots} ({free} free)."),
                )
            }
            TeamSlots::Unlimited => (
                format!("{} team {} used (unlimited)", s.used, if s.used == 1 { "slot" } else { "slots" }),
                "Approving uses 1 of your team slots; your plan has unlimited slots.".to_owned(),
            ),
        };
        Self { used: s.used, limit: s.limit.limit(), has_free: s.has_free_slot(), usage, cost }
    }
}

/// A request waiting for the client's answer (the approval pop-up).
#[derive(Debug, Serialize)]
pub(crate) struct PendingView {
    pub(crate) id: String,
    pub(crate) agency_name: String,
    pub(crate) agency_email: String,
    pub(crate) role: &'static str,
    pub(crate) role_summary: &'static str,
}

impl PendingView {
    pub(crate) fn of(p: &PendingRequest) -> Self {
        Self {
            id: p.request.id().to_string(),
            agency_name: p.agency.display_name().to_owned(),
            agency_email: p.agency.email.as_str().to_owned(),
            role: role_label(p.request.role()),
            role_summary: p.request.role().summary(),
        }
    }
}

/// One row of the agency's "Shared accounts" table.
#[derive(Debug, Serialize)]
pub(crate) struct RowView {
    pub(crate) id: String,
    pub(crate) email: String,
    /// The "Requested" tag.
    pub(crate) requested: bool,
    pub(crate) declined: bool,
    pub(crate) role: &'static str,
    pub(crate) websites: u32,
    pub(crate) status: &'static str,
    pub(crate) status_label: &'static str,
    pub(crate) blocked_on_slots: bool,
    pub(crate) delivery_failed: bool,
    pub(crate) can_view_websites: bool,
    pub(crate) can_resend: bool,
    pub(crate) can_remove: bool,
    pub(crate) can_log_in_as: bool,
}

impl RowView {
    pub(crate) fn of(row: &SharedAccountRow) -> Self {
        let state = row.request.state();
        let offers = |a| row.actions.contains(&a);
        Self {
            id: row.request.id().to_string(),
            email: row.request.email().as_str().to_owned(),
            requested: state == RequestState::Requested,
            declined: state == RequestState::Declined,
            role: role_label(row.request.role()),
            websites: row.websites.total,
            status: row.status.as_str(),
            status_label: status_label(row.status),
            blocked_on_slots: row.blocked_on_slots,
            delivery_failed: row.request.delivery() == clients_domain::Delivery::Failed,
            can_view_websites: offers(RowAction::ViewWebsites),
            can_resend: offers(RowAction::Resend),
            can_remove: offers(RowAction::Remove),
            can_log_in_as: offers(RowAction::LogInAs),
        }
    }
}

/// A website with its health in words.
#[derive(Debug, Serialize)]
pub(crate) struct WebsiteView {
    pub(crate) domain: String,
    pub(crate) connected: bool,
    pub(crate) health: &'static str,
    pub(crate) health_label: &'static str,
}

impl WebsiteView {
    pub(crate) fn of(w: &Website) -> Self {
        let (health, health_label) = match (w.connected, w.health) {
            (false, _) => ("not_connected", "Not connected"),
            (true, Health::MajorIssue) => ("major_issue", "Major issue"),
            (true, Health::Warning) => ("warning", "Warning"),
            (true, Health::Ok) => ("all_good", "All good"),
        };
        Self { domain: w.domain.as_str().to_owned(), connected: w.connected, health, health_label }
    }
}

/// A team member.
#[derive(Debug, Serialize)]
pub(crate) struct MemberView {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) role: &'static str,
    pub(crate) role_value: &'static str,
    pub(crate) since: String,
}

impl MemberView {
    pub(crate) fn of(m: &Member) -> Self {
        Self {
            id: m.id.to_string(),
            email: m.email.as_str().to_owned(),
            role: role_label(m.role),
            role_value: m.role.as_str(),
            since: when(m.since),
        }
    }
}

/// One line of the access log.
#[derive(Debug, Serialize)]
pub(crate) struct AuditView {
    pub(crate) when: String,
    pub(crate) kind: &'static str,
    pub(crate) what: String,
    pub(crate) by: String,
    pub(crate) via_log_in_as: bool,
}

impl AuditView {
    /// `agency` and `actor` are the emails (or names) of the accounts involved.
    pub(crate) fn of(e: &AuditEvent, agency: &str, actor: &str) -> Self {
        let what = match &e.kind {
            AuditKind::AccessRequested { role } => format!("{agency} requested access as {}", role_label(*role)),
            AuditKind::RequestResent => format!("{agency} sent the request again"),
            AuditKind::RequestRemoved => format!("{agency} withdrew its request"),
            AuditKind::RequestApproved { role, .. } => format!("Approved {agency} as {}", role_label(*role)),
            AuditKind::RequestDeclined => format!("Declined the request of {agency}"),
            AuditKind::RoleChanged { from, to, .. } => {
                format!("Changed the role of {agency} from {} to {}", role_label(*from), role_label(*to))
            }
            AuditKind::MemberRemoved { role, .. } => {
                format!("Removed {agency} ({}) from the team", role_label(*role))
            }
            AuditKind::AgencyLeft { .. } => format!("{agency} left the team"),
            AuditKind::ImpersonationStarted { role, expires_at, .. } => {
                format!("{agency} used \"Log in as\" as {} (until {})", role_label(*role), when(*expires_at))
            }
            AuditKind::PlanChanged { from, to } => {
                format!("Plan changed from {} to {}", plan_label(*from), plan_label(*to))
            }
            AuditKind::EmailVerified => "Email address verified through a grant link".to_owned(),
        };
        Self {
            when: when(e.at),
            kind: e.kind.name(),
            what,
            by: actor.to_owned(),
            via_log_in_as: e.via_session.is_some(),
        }
    }
}
