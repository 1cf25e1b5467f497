//! Roles an agency can hold in a client account, and the permissions each grants (rule 1).

use std::fmt;
use std::str::FromStr;

/// What an agency may do inside a client account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
pub enum Role {
    /// Invoices, billing details, payments and the subscription.
    Biller,
    /// Dashboard, analytics, integrations, settings and the websites list.
    Developer,
    /// Everything, including websites and team management.
    Admin,
}

impl Role {
    /// Every role, in the order the product lists them.
    pub const ALL: [Role; 3] = [Role::Biller, Role::Developer, Role::Admin];

    /// The fixed permission set of this role.
    ///
    /// ```
    /// use clients_domain::{Permission, Role};
    /// assert!(Role::Biller.permissions().contains(Permission::BillingManage));
    /// assert!(!Role::Developer.permissions().contains(Permission::BillingRead));
    /// assert_eq!(Role::Admin.permissions(), clients_domain::Permissions::all());
    /// ```
    #[must_use]
    pub const fn permissions(self) -> Permissions {
        match self {
            Role::Biller => Permissions::of(&[Permission::BillingRead, Permission::BillingManage]),
            Role::Developer => Permissions::of(&[
                Permission::DashboardRead,
                Permission::AnalyticsRead,
                Permission::IntegrationsManage,
                Permission::SettingsManage,
                Permission::WebsitesRead,
            ]),
            Role::Admin => Permissions::all(),
        }
    }

    /// The wire name: `biller`, `developer`, `admin`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Biller => "biller",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    /// What the role allows, in words, for emails and the approval pop-up.
    #[must_use]
    pub const fn summary(self) -> &'static str {
        match self {
            Role::Biller => "view and download invoices, and manage billing details, payments and the subscription",
            Role::Developer => {
                "access the dashboard, analytics and integrations, fine-tune settings and see the websites"
            }
            Role::Admin => "full control over the account and all its websites, including the team",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role (expected biller, developer or admin)")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or(UnknownRole)
    }
}

/// One thing a person may do inside an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(u8)]
pub enum Permission {
    /// `billing.read`: view and download invoices.
    #[cfg_attr(feature = "serde", serde(rename = "billing.read"))]
    BillingRead = 0,
    /// `billing.manage`: billing details, payments, subscription and plan.
    #[cfg_attr(feature = "serde", serde(rename = "billing.manage"))]
    BillingManage,
    /// `dashboard.read`.
    #[cfg_attr(feature = "serde", serde(rename = "dashboard.read"))]
    DashboardRead,
    /// `analytics.read`.
    #[cfg_attr(feature = "serde", serde(rename = "analytics.read"))]
    AnalyticsRead,
    /// `integrations.manage`.
    #[cfg_attr(feature = "serde", serde(rename = "integrations.manage"))]
    IntegrationsManage,
    /// `settings.manage`.
    #[cfg_attr(feature = "serde", serde(rename = "settings.manage"))]
    SettingsManage,
    /// `websites.read`.
    #[cfg_attr(feature = "serde", serde(rename = "websites.read"))]
    WebsitesRead,
    /// `websites.manage`: add and change websites.
    #[cfg_attr(feature = "serde", serde(rename = "websites.manage"))]
    WebsitesManage,
    /// `team.manage`: members, roles, and the account's audit log.
    #[cfg_attr(feature = "serde", serde(rename = "team.manage"))]
    TeamManage,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 9] = [
        Permission::BillingRead,
        Permission::BillingManage,
        Permission::DashboardRead,
        Permission::AnalyticsRead,
        Permission::IntegrationsManage,
        Permission::SettingsManage,
        Permission::WebsitesRead,
        Permission::WebsitesManage,
        Permission::TeamManage,
    ];

    /// The dotted wire name, e.g. `billing.read`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::BillingRead => "billing.read",
            Permission::BillingManage => "billing.manage",
            Permission::DashboardRead => "dashboard.read",
            Permission::AnalyticsRead => "analytics.read",
            Permission::IntegrationsManage => "integrations.manage",
            Permission::SettingsManage => "settings.manage",
            Permission::WebsitesRead => "websites.read",
            Permission::WebsitesManage => "websites.manage",
            Permission::TeamManage => "team.manage",
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions (a bit set; cheap to copy and intersect).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u16);

impl Permissions {
    /// No permission at all.
    #[must_use]
    pub const fn none() -> Self {
        Self(0)
    }

    /// Every permission: the owner's set, and Admin's.
    #[must_use]
    pub const fn all() -> Self {
        Self::of(&Permission::ALL)
    }

    /// The set of the given permissions.
    #[must_use]
    pub const fn of(list: &[Permission]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < list.len() {
            bits |= list[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// Whether `p` is in the set.
    #[must_use]
    pub const fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether every permission of `other` is in this set.
    #[must_use]
    pub const fn includes(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Permissions in both sets.
    #[must_use]
    pub const fn intersection(self, other: Permissions) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether the set is empty.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions in the set, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Permission::as_str)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission as P;

    /// The brief's table, written out in full: role x permission -> allowed.
    #[test]
    fn rule1_role_permission_table_is_exactly_the_brief() {
        #[rustfmt::skip]
        let table: [(Permission, bool, bool, bool); 9] = [
            //                       Biller Developer Admin
            (P::BillingRead,         true,  false,    true),
            (P::BillingManage,       true,  false,    true),
            (P::DashboardRead,       false, true,     true),
            (P::AnalyticsRead,       false, true,     true),
            (P::IntegrationsManage,  false, true,     true),
            (P::SettingsManage,      false, true,     true),
            (P::WebsitesRead,        false, true,     true),
            (P::WebsitesManage,      false, false,    true),
            (P::TeamManage,          false, false,    true),
        ];
        for (p, biller, developer, admin) in table {
            assert_eq!(Role::Biller.permissions().contains(p), biller, "Biller {p}");
            assert_eq!(Role::Developer.permissions().contains(p), developer, "Developer {p}");
            assert_eq!(Role::Admin.permissions().contains(p), admin, "Admin {p}");
        }
    }

    #[test]
    fn rule1_there_are_exactly_three_roles_with_wire_names() {
        let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["biller", "developer", "admin"]);
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        for bad in ["", "Admin", "owner", "ADMIN", " admin", "biller\0"] {
            assert_eq!(bad.parse::<Role>(), Err(UnknownRole), "{bad:?}");
        }
    }

    #[test]
    fn permission_names_are_dotted_and_unique() {
        let mut names: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
        assert!(names.iter().all(|n| n.contains('.')));
    }

    #[test]
    fn set_operations_behave_like_sets() {
        let dev = Role::Developer.permissions();
        let bill = Role::Biller.permissions();
        assert!(dev.intersection(bill).is_empty());
        assert!(Permissions::all().includes(dev));
        assert!(!dev.includes(Permissions::all()));
        assert_eq!(Permissions::all().iter().count(), 9);
        assert!(Permissions::none().is_empty());
    }
}
