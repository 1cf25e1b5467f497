//! The agency's "Shared accounts" list: each row's status (rule 6) and the actions it
//! offers (rule 7).

use crate::{AccessRequest, RequestState, SlotUsage, WebsiteSummary};

/// Health of a shared account as the agency sees it (rule 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
pub enum SharedAccountStatus {
    /// Not approved yet, or no websites.
    NoData,
    /// A website reports a major issue.
    MajorIssue,
    /// A website is not connected.
    NotConnected,
    /// Everything works.
    AllGood,
}

impl SharedAccountStatus {
    /// Every status, in derivation order.
    pub const ALL: [SharedAccountStatus; 4] = [
        SharedAccountStatus::NoData,
        SharedAccountStatus::MajorIssue,
        SharedAccountStatus::NotConnected,
        SharedAccountStatus::AllGood,
    ];

    /// Derives the status; the first match wins (rule 6).
    ///
    /// ```
    /// use clients_domain::{RequestState, SharedAccountStatus as S, WebsiteSummary};
    /// let sites = WebsiteSummary { total: 3, major_issue: 1, not_connected: 1 };
    /// assert_eq!(S::derive(RequestState::Requested, sites), S::NoData);
    /// assert_eq!(S::derive(RequestState::Approved, sites), S::MajorIssue);
    /// ```
    #[must_use]
    pub fn derive(state: RequestState, websites: WebsiteSummary) -> Self {
        if state != RequestState::Approved || websites.total == 0 {
            SharedAccountStatus::NoData
        } else if websites.major_issue > 0 {
            SharedAccountStatus::MajorIssue
        } else if websites.not_connected > 0 {
            SharedAccountStatus::NotConnected
        } else {
            SharedAccountStatus::AllGood
        }
    }

    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SharedAccountStatus::NoData => "no_data",
            SharedAccountStatus::MajorIssue => "major_issue",
            SharedAccountStatus::NotConnected => "not_connected",
            SharedAccountStatus::AllGood => "all_good",
        }
    }

    /// Parses [`SharedAccountStatus::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// An action a row offers (rule 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
pub enum RowAction {
    /// Send the request again.
    Resend,
    /// Withdraw the request.
    Remove,
    /// Open the client's websites.
    ViewWebsites,
    /// Start a "Log in as" session.
    LogInAs,
}

impl RowAction {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RowAction::Resend => "resend",
            RowAction::Remove => "remove",
            RowAction::ViewWebsites => "view_websites",
            RowAction::LogInAs => "log_in_as",
        }
    }

    /// The actions a row in `state` offers: `resend` and `remove` while requested or
    /// declined, `view_websites` and `log_in_as` once approved, none otherwise.
    ///
    /// ```
    /// use clients_domain::{RequestState, RowAction};
    /// assert_eq!(RowAction::offered(RequestState::Requested), [RowAction::Resend, RowAction::Remove]);
    /// assert_eq!(RowAction::offered(RequestState::Approved), [RowAction::ViewWebsites, RowAction::LogInAs]);
    /// ```
    #[must_use]
    pub const fn offered(state: RequestState) -> &'static [RowAction] {
        match state {
            RequestState::Requested | RequestState::Declined => &[RowAction::Resend, RowAction::Remove],
            RequestState::Approved => &[RowAction::ViewWebsites, RowAction::LogInAs],
            RequestState::Removed | RequestState::Revoked | RequestState::Left => &[],
        }
    }
}

/// One row of the agency's list, derived from the request and what storage knows of
/// the client account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedAccountRow {
    /// The request behind the row.
    pub request: AccessRequest,
    /// The client's websites (zero until approved: the agency sees nothing before).
    pub websites: WebsiteSummary,
    /// Derived status.
    pub status: SharedAccountStatus,
    /// Derived actions.
    pub actions: &'static [RowAction],
    /// Whether the client cannot approve for lack of a free slot ("Beyond the seed").
    pub blocked_on_slots: bool,
}

impl SharedAccountRow {
    /// Derives a row. `client_slots` is the client's slot usage when an account with
    /// the requested email exists. The row says "blocked on slots" only after the
    /// client tried to approve and failed for lack of a slot, and only while its team
    /// is still full: before that the agency learns nothing about the account (rule 11).
    #[must_use]
    pub fn derive(request: AccessRequest, websites: WebsiteSummary, client_slots: Option<SlotUsage>) -> Self {
        let state = request.state();
        let websites = if state == RequestState::Approved { websites } else { WebsiteSummary::default() };
        Self {
            status: SharedAccountStatus::derive(state, websites),
            actions: RowAction::offered(state),
            blocked_on_slots: state == RequestState::Requested
                && request.slot_blocked_at().is_some()
                && client_slots.is_some_and(|s| !s.has_free_slot()),
            websites,
            request,
        }
    }

    /// The "Requested" tag: shown until the client approves.
    #[must_use]
    pub fn requested(&self) -> bool {
        self.request.state() != RequestState::Approved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestState as R;
    use crate::SharedAccountStatus as S;

    fn sites(total: u32, major: u32, not_connected: u32) -> WebsiteSummary {
        WebsiteSummary { total, major_issue: major, not_connected }
    }

    /// Rule 6 as a table; the first match wins.
    #[test]
    fn rule6_status_derivation_table() {
        #[rustfmt::skip]
        let table = [
            (R::Requested, sites(0, 0, 0), S::NoData),
            (R::Requested, sites(5, 2, 1), S::NoData),       // not approved yet
            (R::Declined,  sites(5, 0, 0), S::NoData),
            (R::Approved,  sites(0, 0, 0), S::NoData),       // no websites
            (R::Approved,  sites(3, 1, 0), S::MajorIssue),
            (R::Approved,  sites(3, 1, 2), S::MajorIssue),   // major issue beats not connected
            (R::Approved,  sites(3, 0, 1), S::NotConnected),
            (R::Approved,  sites(3, 0, 3), S::NotConnected),
            (R::Approved,  sites(3, 0, 0), S::AllGood),
            (R::Approved,  sites(1, 0, 0), S::AllGood),
        ];
        for (state, websites, expected) in table {
            assert_eq!(S::derive(state, websites), expected, "{state:?} {websites:?}");
        }
    }

    /// Rule 7 as a table.
    #[test]
    fn rule7_actions_per_state_table() {
        use RowAction as A;
        let table: [(R, &[A]); 6] = [
            (R::Requested, &[A::Resend, A::Remove]),
            (R::Declined, &[A::Resend, A::Remove]),
            (R::Approved, &[A::ViewWebsites, A::LogInAs]),
            (R::Removed, &[]),
            (R::Revoked, &[]),
            (R::Left, &[]),
        ];
        for (state, expected) in table {
            assert_eq!(A::offered(state), expected, "{state:?}");
        }
    }

    #[test]
    fn wire_names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        let names: Vec<_> = [RowAction::Resend, RowAction::Remove, RowAction::ViewWebsites, RowAction::LogInAs]
            .map(RowAction::as_str)
            .into();
        assert_eq!(names, ["resend", "remove", "view_websites", "log_in_as"]);
    }

    #[test]
    fn website_summary_counts_health_and_connection() {
        use crate::{AccountId, DomainName, Health, Website, WebsiteId};
        let w = |connected, health| Website {
            id: WebsiteId::from_uuid(uuid::Uuid::nil()),
            account_id: AccountId::from_uuid(uuid::Uuid::nil()),
            domain: DomainName::parse("example.com").unwrap(),
            connected,
            health,
            created_at: chrono::DateTime::UNIX_EPOCH,
        };
        let list = [w(true, Health::Ok), w(false, Health::Warning), w(false, Health::MajorIssue)];
        assert_eq!(WebsiteSummary::of(&list), sites(3, 1, 2));
    }
}
