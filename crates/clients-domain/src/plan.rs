//! Plans and their Team Management slots (rule 5).

use std::fmt;
use std::str::FromStr;

/// A subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
pub enum Plan {
    /// The plan every new account starts on.
    Free,
    /// Basic.
    Basic,
    /// Plus.
    Plus,
    /// Pro.
    Pro,
    /// Scale.
    Scale,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 5] = [Plan::Free, Plan::Basic, Plan::Plus, Plan::Pro, Plan::Scale];

    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Basic => "basic",
            Plan::Plus => "plus",
            Plan::Pro => "pro",
            Plan::Scale => "scale",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan (expected free, basic, plus, pro or scale)")]
pub struct UnknownPlan;

impl FromStr for Plan {
    type Err = UnknownPlan;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL.into_iter().find(|p| p.as_str() == s).ok_or(UnknownPlan)
    }
}

/// How many members (other than the owner) a team may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TeamSlots {
    /// At most this many members.
    Limited(u32),
    /// No limit.
    Unlimited,
}

impl TeamSlots {
    /// Whether a team of `members` fits.
    ///
    /// ```
    /// use clients_domain::TeamSlots;
    /// assert!(TeamSlots::Limited(3).fits(3));
    /// assert!(!TeamSlots::Limited(3).fits(4));
    /// assert!(TeamSlots::Unlimited.fits(u32::MAX));
    /// ```
    #[must_use]
    pub const fn fits(self, members: u32) -> bool {
        match self {
            TeamSlots::Limited(limit) => members <= limit,
            TeamSlots::Unlimited => true,
        }
    }

    /// The limit, `None` when unlimited.
    #[must_use]
    pub const fn limit(self) -> Option<u32> {
        match self {
            TeamSlots::Limited(limit) => Some(limit),
            TeamSlots::Unlimited => None,
        }
    }

    /// Parses `unlimited` or a number.
    ///
    /// # Errors
    /// When the text is neither.
    pub fn parse(s: &str) -> Result<Self, InvalidTeamSlots> {
        match s.trim() {
            "unlimited" => Ok(TeamSlots::Unlimited),
            n => n.parse().map(TeamSlots::Limited).map_err(|_| InvalidTeamSlots),
        }
    }
}

impl fmt::Display for TeamSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TeamSlots::Limited(n) => write!(f, "{n}"),
            TeamSlots::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// Text that is neither `unlimited` nor a slot count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("team slots must be a whole number or \"unlimited\"")]
pub struct InvalidTeamSlots;

/// How many slots a team uses and has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotUsage {
    /// Members other than the owner.
    pub used: u32,
    /// The plan's slots.
    pub limit: TeamSlots,
}

impl SlotUsage {
    /// Whether one more member fits.
    #[must_use]
    pub const fn has_free_slot(self) -> bool {
        self.limit.fits(self.used.saturating_add(1))
    }

    /// Free slots; `None` when unlimited.
    #[must_use]
    pub const fn free(self) -> Option<u32> {
        match self.limit {
            TeamSlots::Limited(limit) => Some(limit.saturating_sub(self.used)),
            TeamSlots::Unlimited => None,
        }
    }
}

/// Slots per plan. The default is the catalogue NitroPack publishes; operators can
/// change it through configuration.
///
/// ```
/// use clients_domain::{Plan, PlanCatalogue, TeamSlots};
/// let catalogue = PlanCatalogue::default();
/// assert_eq!(catalogue.slots(Plan::Plus), TeamSlots::Limited(3));
/// assert_eq!(catalogue.slots(Plan::Scale), TeamSlots::Unlimited);
/// let custom = catalogue.with(Plan::Free, TeamSlots::Limited(0));
/// assert_eq!(custom.slots(Plan::Free), TeamSlots::Limited(0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanCatalogue {
    slots: [TeamSlots; 5],
}

impl Default for PlanCatalogue {
    fn default() -> Self {
        Self {
            slots: [
                TeamSlots::Limited(1),
                TeamSlots::Limited(1),
                TeamSlots::Limited(3),
                TeamSlots::Limited(10),
                TeamSlots::Unlimited,
            ],
        }
    }
}

impl PlanCatalogue {
    /// The slots of `plan`.
    #[must_use]
    pub const fn slots(&self, plan: Plan) -> TeamSlots {
        self.slots[plan.index()]
    }

    /// A copy with `plan` given `slots`.
    #[must_use]
    pub const fn with(mut self, plan: Plan, slots: TeamSlots) -> Self {
        self.slots[plan.index()] = slots;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule5_default_catalogue_is_the_published_one() {
        let c = PlanCatalogue::default();
        let expected = [
            (Plan::Free, TeamSlots::Limited(1)),
            (Plan::Basic, TeamSlots::Limited(1)),
            (Plan::Plus, TeamSlots::Limited(3)),
            (Plan::Pro, TeamSlots::Limited(10)),
            (Plan::Scale, TeamSlots::Unlimited),
        ];
        for (plan, slots) in expected {
            assert_eq!(c.slots(plan), slots, "{plan}");
        }
    }

    #[test]
    fn rule5_slot_usage_counts_free_slots() {
        let u = SlotUsage { used: 2, limit: TeamSlots::Limited(3) };
        assert!(u.has_free_slot());
        assert_eq!(u.free(), Some(1));
        let full = SlotUsage { used: 3, limit: TeamSlots::Limited(3) };
        assert!(!full.has_free_slot());
        assert_eq!(full.free(), Some(0));
        let over = SlotUsage { used: 5, limit: TeamSlots::Limited(3) };
        assert_eq!(over.free(), Some(0));
        let unl = SlotUsage { used: 1000, limit: TeamSlots::Unlimited };
        assert!(unl.has_free_slot());
        assert_eq!(unl.free(), None);
    }

    #[test]
    fn plans_and_slots_parse_from_their_wire_names() {
        for p in Plan::ALL {
            assert_eq!(p.as_str().parse::<Plan>(), Ok(p));
        }
        assert!("enterprise".parse::<Plan>().is_err());
        assert_eq!(TeamSlots::parse("unlimited"), Ok(TeamSlots::Unlimited));
        assert_eq!(TeamSlots::parse(" 7 "), Ok(TeamSlots::Limited(7)));
        assert!(TeamSlots::parse("-1").is_err());
        assert_eq!(TeamSlots::Limited(4).to_string(), "4");
    }
}
