//! Who is calling and what they may do: owners, members by role, "Log in as"
//! sessions (rules 1 and 9), and the internal service.

use chrono::{DateTime, Utc};

use crate::{Account, AccountId, Permission, Permissions, Role, Session, SessionId, SessionKind};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An account signed in as itself.
    Account {
        /// The account.
        account: Account,
        /// Its session.
        session: SessionId,
    },
    /// An agency acting inside a client account ("Log in as").
    Impersonation(Impersonation),
    /// Another internal service, with the service token (`/v1/internal/*` only).
    Service,
}

/// A live "Log in as" session, resolved against the agency's *current* membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impersonation {
    /// The session (recorded in the client's audit log).
    pub session: SessionId,
    /// The agency acting.
    pub agency: AccountId,
    /// The client account it acts in.
    pub client: AccountId,
    /// The role the session was started with.
    pub started_as: Role,
    /// What it may do now: the started role's permissions narrowed to the live role's.
    pub permissions: Permissions,
    /// End of the session.
    pub expires_at: DateTime<Utc>,
}

/// A "Log in as" session that can no longer be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionEnded {
    /// Past its expiry.
    #[error("session expired")]
    Expired,
    /// The client removed the agency (or it left).
    #[error("access was revoked")]
    Revoked,
    /// The client changed the role to one that shares nothing with the session's.
    #[error("role changed")]
    RoleChanged,
    /// Not an impersonation session.
    #[error("not an impersonation session")]
    NotImpersonation,
}

impl Impersonation {
    /// Resolves a stored "Log in as" session for one request (rule 9, catalogue 33-35):
    /// checked against the live membership every time, so a client that downgrades or
    /// removes the agency narrows or ends the session on the next request.
    ///
    /// ```
    /// use chrono::{DateTime, TimeDelta};
    /// use clients_domain::*;
    /// let t0 = DateTime::UNIX_EPOCH;
    /// let session = Session {
    ///     id: SessionId::from_uuid(uuid::Uuid::from_u128(1)),
    ///     token_hash: TokenHash::from_bytes([0; 32]),
    ///     account_id: AccountId::from_uuid(uuid::Uuid::from_u128(2)),
    ///     kind: SessionKind::Impersonation { client: AccountId::from_uuid(uuid::Uuid::from_u128(3)), role: Role::Admin },
    ///     created_at: t0,
    ///     expires_at: t0 + TimeDelta::minutes(60),
    /// };
    /// // The client downgraded the agency to Developer: the session narrows.
    /// let live = Impersonation::resume(&session, Some(Role::Developer), t0).unwrap();
    /// assert_eq!(live.permissions, Role::Developer.permissions());
    /// // The client removed the agency: the session ends.
    /// assert_eq!(Impersonation::resume(&session, None, t0), Err(SessionEnded::Revoked));
    /// ```
    ///
    /// # Errors
    /// [`SessionEnded`].
    pub fn resume(session: &Session, live_role: Option<Role>, now: DateTime<Utc>) -> Result<Self, SessionEnded> {
        let SessionKind::Impersonation { client, role } = session.kind else {
            return Err(SessionEnded::NotImpersonation);
        };
        if !session.is_live(now) {
            return Err(SessionEnded::Expired);
        }
        let live = live_role.ok_or(SessionEnded::Revoked)?;
        let permissions = role.permissions().intersection(live.permissions());
        if permissions.is_empty() {
            return Err(SessionEnded::RoleChanged);
        }
        Ok(Self {
            session: session.id,
            agency: session.account_id,
            client,
            started_as: role,
            permissions,
            expires_at: session.expires_at,
        })
    }
}

/// Parts of the API outside any one account's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The agency's own list and its actions (`/v1/shared-accounts/*`, incl. "Log in as").
    Agency,
    /// Requests addressed to me, approve and decline (`/v1/access-requests/*`).
    ClientInbox,
    /// Who am I, sign out.
    Identity,
    /// Password or email changes.
    Credentials,
    /// Internal service endpoints (`/v1/internal/*`).
    Internal,
}

/// Why a caller is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The caller may know the resource exists but may not do this (403).
    #[error("forbidden")]
    Forbidden,
    /// The caller may not even learn that the resource exists (404).
    #[error("not found")]
    NotFound,
}

impl Principal {
    /// Lets the caller into an area; returns the account that acts there.
    ///
    /// A "Log in as" session reaches only the client account's resources and who-am-I:
    /// never the agency's own list, the client's inbox, credentials, or another "Log
    /// in as" (rule 9). The service token reaches only the internal area.
    ///
    /// # Errors
    /// [`Denied::Forbidden`].
    pub fn enter(&self, area: Area) -> Result<Option<AccountId>, Denied> {
        match (self, area) {
            (Principal::Service, Area::Internal) => Ok(None),
            (Principal::Service, _) | (Principal::Account { .. } | Principal::Impersonation(_), Area::Internal) => {
                Err(Denied::Forbidden)
            }
            (Principal::Account { account, .. }, _) => Ok(Some(account.id)),
            (Principal::Impersonation(i), Area::Identity) => Ok(Some(i.agency)),
            (Principal::Impersonation(_), Area::Agency | Area::ClientInbox | Area::Credentials) => {
                Err(Denied::Forbidden)
            }
        }
    }

    /// What the caller may do inside `account`. `membership` is the caller's live
    /// role there, when the caller is an account that is a member.
    ///
    /// # Errors
    /// [`Denied::NotFound`] for an account the caller has nothing to do with.
    pub fn permissions_in(&self, account: AccountId, membership: Option<Role>) -> Result<Permissions, Denied> {
        match self {
            Principal::Account { account: me, .. } if me.id == account => Ok(Permissions::all()),
            Principal::Account { .. } => membership.map(Role::permissions).ok_or(Denied::NotFound),
            Principal::Impersonation(i) if i.client == account => Ok(i.permissions),
            Principal::Impersonation(_) | Principal::Service => Err(Denied::NotFound),
        }
    }

    /// Checks one permission inside `account`.
    ///
    /// # Errors
    /// [`Denied::NotFound`] as [`Principal::permissions_in`]; [`Denied::Forbidden`]
    /// when the caller is in the account but lacks `permission`.
    pub fn require(&self, account: AccountId, membership: Option<Role>, permission: Permission) -> Result<(), Denied> {
        if self.permissions_in(account, membership)?.contains(permission) { Ok(()) } else { Err(Denied::Forbidden) }
    }

    /// The account acting, for audit entries (`None` for the service).
    #[must_use]
    pub fn actor(&self) -> Option<AccountId> {
        match self {
            Principal::Account { account, .. } => Some(account.id),
            Principal::Impersonation(i) => Some(i.agency),
            Principal::Service => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use uuid::Uuid;

    use super::*;
    use crate::{Email, Plan, TokenHash};

    fn id(n: u128) -> AccountId {
        AccountId::from_uuid(Uuid::from_u128(n))
    }
    fn account(n: u128) -> Account {
        Account {
            id: id(n),
            email: Email::parse(&format!("a{n}@example.com")).unwrap(),
            email_verified: true,
            name: None,
            plan: Plan::Free,
            created_at: DateTime::UNIX_EPOCH,
        }
    }
    fn signed_in(n: u128) -> Principal {
        Principal::Account { account: account(n), session: SessionId::from_uuid(Uuid::from_u128(77)) }
    }
    fn session(role: Role, minutes: i64) -> Session {
        Session {
            id: SessionId::from_uuid(Uuid::from_u128(5)),
            token_hash: TokenHash::from_bytes([0; 32]),
            account_id: id(2),
            kind: SessionKind::Impersonation { client: id(3), role },
            created_at: DateTime::UNIX_EPOCH,
            expires_at: DateTime::UNIX_EPOCH + TimeDelta::minutes(minutes),
        }
    }
    fn impersonating(role: Role) -> Principal {
        Principal::Impersonation(Impersonation::resume(&session(role, 60), Some(role), DateTime::UNIX_EPOCH).unwrap())
    }

    #[test]
    fn rule1_the_owner_has_every_permission_in_its_account() {
        assert_eq!(signed_in(1).permissions_in(id(1), None), Ok(Permissions::all()));
    }

    #[test]
    fn rule1_a_member_has_exactly_its_roles_permissions() {
        for role in Role::ALL {
            assert_eq!(signed_in(2).permissions_in(id(3), Some(role)), Ok(role.permissions()));
        }
        assert_eq!(signed_in(2).require(id(3), Some(Role::Biller), Permission::WebsitesRead), Err(Denied::Forbidden));
    }

    #[test]
    fn strangers_get_not_found_not_forbidden() {
        assert_eq!(signed_in(2).permissions_in(id(3), None), Err(Denied::NotFound));
        assert_eq!(impersonating(Role::Admin).permissions_in(id(4), Some(Role::Admin)), Err(Denied::NotFound));
        assert_eq!(Principal::Service.permissions_in(id(3), None), Err(Denied::NotFound));
    }

    #[test]
    fn rule9_impersonation_has_exactly_the_granted_roles_permissions() {
        for role in Role::ALL {
            assert_eq!(impersonating(role).permissions_in(id(3), None), Ok(role.permissions()), "{role}");
        }
        // Team management only for Admin.
        assert_eq!(impersonating(Role::Developer).require(id(3), None, Permission::TeamManage), Err(Denied::Forbidden));
        assert_eq!(impersonating(Role::Admin).require(id(3), None, Permission::TeamManage), Ok(()));
        // A membership claim cannot widen an impersonation session.
        assert_eq!(
            impersonating(Role::Biller).permissions_in(id(3), Some(Role::Admin)),
            Ok(Role::Biller.permissions())
        );
    }

    /// Rule 9: areas outside the client's account are closed to "Log in as".
    #[test]
    fn rule9_impersonation_area_table() {
        #[rustfmt::skip]
        let table = [
            (Area::Agency,      Err(Denied::Forbidden)), // its own agency list, nested "Log in as"
            (Area::ClientInbox, Err(Denied::Forbidden)), // approving other agencies
            (Area::Credentials, Err(Denied::Forbidden)), // password and email changes
            (Area::Internal,    Err(Denied::Forbidden)),
            (Area::Identity,    Ok(Some(id(2)))),
        ];
        for (area, expected) in table {
            assert_eq!(impersonating(Role::Admin).enter(area), expected, "{area:?}");
        }
    }

    #[test]
    fn signed_in_accounts_enter_every_area_but_internal_and_the_service_only_internal() {
        for area in [Area::Agency, Area::ClientInbox, Area::Identity, Area::Credentials] {
            assert_eq!(signed_in(1).enter(area), Ok(Some(id(1))));
            assert_eq!(Principal::Service.enter(area), Err(Denied::Forbidden));
        }
        assert_eq!(signed_in(1).enter(Area::Internal), Err(Denied::Forbidden));
        assert_eq!(Principal::Service.enter(Area::Internal), Ok(None));
    }

    #[test]
    fn rule9_session_expires() {
        let s = session(Role::Admin, 60);
        let at = |m| DateTime::UNIX_EPOCH + TimeDelta::minutes(m);
        assert!(Impersonation::resume(&s, Some(Role::Admin), at(59)).is_ok());
        assert_eq!(Impersonation::resume(&s, Some(Role::Admin), at(60)), Err(SessionEnded::Expired));
    }

    #[test]
    fn rule9_client_changes_narrow_or_end_live_sessions() {
        let t = DateTime::UNIX_EPOCH;
        let admin = session(Role::Admin, 60);
        assert_eq!(Impersonation::resume(&admin, None, t), Err(SessionEnded::Revoked));
        assert_eq!(
            Impersonation::resume(&admin, Some(Role::Biller), t).unwrap().permissions,
            Role::Biller.permissions()
        );
        // An upgrade does not widen a running session.
        let dev = session(Role::Developer, 60);
        assert_eq!(
            Impersonation::resume(&dev, Some(Role::Admin), t).unwrap().permissions,
            Role::Developer.permissions()
        );
        // Developer -> Biller shares nothing: the session ends.
        assert_eq!(Impersonation::resume(&dev, Some(Role::Biller), t), Err(SessionEnded::RoleChanged));
        let mut personal = dev;
        personal.kind = SessionKind::Personal;
        assert_eq!(Impersonation::resume(&personal, Some(Role::Admin), t), Err(SessionEnded::NotImpersonation));
    }
}
