//! Team Management: the agencies that are members of a client account, and the
//! slots they use (rules 1 and 5).

use chrono::{DateTime, Utc};

use crate::{AccessRequestId, AccountId, Email, MembershipId, Plan, PlanCatalogue, Role, SlotUsage, TeamSlots};

/// An agency's membership in a client's team. The owner is never a member: the owner
/// *is* the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Identity (the `member_id` of the team routes).
    pub id: MembershipId,
    /// The agency account.
    pub account_id: AccountId,
    /// The agency's email (shown in the team list).
    pub email: Email,
    /// Current role; the client changes it in Team Management.
    pub role: Role,
    /// The access request it came from.
    pub origin: AccessRequestId,
    /// When it was approved.
    pub since: DateTime<Utc>,
}

/// Approval failed because every slot is taken (rule 5). The request stays pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no free team slots ({used} of {limit} used)")]
pub struct NoFreeTeamSlots {
    /// Members now.
    pub used: u32,
    /// The plan's slots.
    pub limit: u32,
}

/// Why a team change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamError {
    /// No member with that id in this team (also the answer for the owner's own id).
    #[error("no such member")]
    NoSuchMember,
    /// Rule 1: nobody changes their own role.
    #[error("nobody can change their own role")]
    OwnRole,
    /// An agency removes itself by leaving, not through Team Management.
    #[error("use leave to give up your own access")]
    OwnMembership,
    /// The owner is never a member and can never be removed.
    #[error("the owner cannot be removed")]
    Owner,
    /// The agency is a member already.
    #[error("already a member")]
    AlreadyMember,
    /// Rule 5.
    #[error(transparent)]
    NoFreeTeamSlots(#[from] NoFreeTeamSlots),
}

/// A plan change that would leave more members than slots (rule 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("plan {plan} has {limit} team slots but the team has {members} members")]
pub struct PlanTooSmall {
    /// The plan asked for.
    pub plan: Plan,
    /// Current members.
    pub members: u32,
    /// Its slots.
    pub limit: u32,
}

/// A client account's team: its plan and its members.
///
/// ```
/// use chrono::DateTime;
/// use clients_domain::*;
/// let owner = AccountId::from_uuid(uuid::Uuid::from_u128(1));
/// let mut team = Team::new(owner, Plan::Free, &PlanCatalogue::default(), vec![]);
/// assert_eq!(team.usage().used, 0);
/// let member = Member {
///     id: MembershipId::from_uuid(uuid::Uuid::from_u128(2)),
///     account_id: AccountId::from_uuid(uuid::Uuid::from_u128(3)),
///     email: Email::parse("agency@example.com").unwrap(),
///     role: Role::Admin,
///     origin: AccessRequestId::from_uuid(uuid::Uuid::from_u128(4)),
///     since: DateTime::UNIX_EPOCH,
/// };
/// team.admit(member.clone()).unwrap();
/// let mut second = member;
/// second.id = MembershipId::from_uuid(uuid::Uuid::from_u128(5));
/// second.account_id = AccountId::from_uuid(uuid::Uuid::from_u128(6));
/// let err = team.admit(second).unwrap_err();
/// assert_eq!(err, TeamError::NoFreeTeamSlots(NoFreeTeamSlots { used: 1, limit: 1 }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    owner: AccountId,
    plan: Plan,
    slots: TeamSlots,
    members: Vec<Member>,
}

impl Team {
    /// A team as stored. Members over the limit are kept (an operator may have shrunk
    /// the catalogue); they only block new admissions.
    #[must_use]
    pub fn new(owner: AccountId, plan: Plan, catalogue: &PlanCatalogue, members: Vec<Member>) -> Self {
        Self { owner, plan, slots: catalogue.slots(plan), members }
    }

    /// The client account (its owner).
    #[must_use]
    pub fn owner(&self) -> AccountId {
        self.owner
    }
    /// The plan.
    #[must_use]
    pub fn plan(&self) -> Plan {
        self.plan
    }
    /// The members, owner excluded.
    #[must_use]
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Slots used (every member but the owner) and the plan's limit.
    #[must_use]
    pub fn usage(&self) -> SlotUsage {
        SlotUsage { used: u32::try_from(self.members.len()).unwrap_or(u32::MAX), limit: self.slots }
    }

    /// The membership of `agency`, if any.
    #[must_use]
    pub fn member_by_account(&self, agency: AccountId) -> Option<&Member> {
        self.members.iter().find(|m| m.account_id == agency)
    }

    /// The membership `id`, if any.
    #[must_use]
    pub fn member(&self, id: MembershipId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Adds an approved agency, if a slot is free (rule 5).
    ///
    /// # Errors
    /// [`TeamError::NoFreeTeamSlots`] when full, [`TeamError::AlreadyMember`] for a
    /// second membership of the same agency, [`TeamError::Owner`] for the owner.
    pub fn admit(&mut self, member: Member) -> Result<(), TeamError> {
        if member.account_id == self.owner {
            return Err(TeamError::Owner);
        }
        if self.member_by_account(member.account_id).is_some() {
            return Err(TeamError::AlreadyMember);
        }
        let usage = self.usage();
        if !usage.has_free_slot() {
            return Err(NoFreeTeamSlots { used: usage.used, limit: usage.limit.limit().unwrap_or(u32::MAX) }.into());
        }
        self.members.push(member);
        Ok(())
    }

    /// Changes a member's role; returns the member before the change. `actor` is the
    /// account doing it (already authorised for `team.manage`).
    ///
    /// # Errors
    /// [`TeamError::NoSuchMember`], or [`TeamError::OwnRole`] when `actor` is the member.
    pub fn change_role(&mut self, actor: AccountId, id: MembershipId, role: Role) -> Result<Member, TeamError> {
        let member = self.members.iter_mut().find(|m| m.id == id).ok_or(TeamError::NoSuchMember)?;
        if member.account_id == actor {
            return Err(TeamError::OwnRole);
        }
        let before = member.clone();
        member.role = role;
        Ok(before)
    }

    /// Removes a member (revoking its access); returns it.
    ///
    /// # Errors
    /// [`TeamError::NoSuchMember`], or [`TeamError::OwnMembership`] when `actor` is the
    /// member (it leaves instead).
    pub fn remove(&mut self, actor: AccountId, id: MembershipId) -> Result<Member, TeamError> {
        let pos = self.members.iter().position(|m| m.id == id).ok_or(TeamError::NoSuchMember)?;
        if self.members[pos].account_id == actor {
            return Err(TeamError::OwnMembership);
        }
        Ok(self.members.remove(pos))
    }

    /// The agency `agency` leaves; returns its membership.
    ///
    /// # Errors
    /// [`TeamError::NoSuchMember`] when it is not a member.
    pub fn leave(&mut self, agency: AccountId) -> Result<Member, TeamError> {
        let pos = self.members.iter().position(|m| m.account_id == agency).ok_or(TeamError::NoSuchMember)?;
        Ok(self.members.remove(pos))
    }

    /// Moves to `plan`, unless its slots are fewer than the members (rule 5).
    ///
    /// # Errors
    /// [`PlanTooSmall`].
    pub fn change_plan(&mut self, plan: Plan, catalogue: &PlanCatalogue) -> Result<Plan, PlanTooSmall> {
        let slots = catalogue.slots(plan);
        let members = self.usage().used;
        if !slots.fits(members) {
            return Err(PlanTooSmall { plan, members, limit: slots.limit().unwrap_or(u32::MAX) });
        }
        let before = self.plan;
        self.plan = plan;
        self.slots = slots;
        Ok(before)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    const OWNER: u128 = 1;
    fn member(n: u128, role: Role) -> Member {
        Member {
            id: MembershipId::from_uuid(id(1000 + n)),
            account_id: AccountId::from_uuid(id(n)),
            email: Email::parse(&format!("agency{n}@example.com")).unwrap(),
            role,
            origin: AccessRequestId::from_uuid(id(2000 + n)),
            since: DateTime::UNIX_EPOCH,
        }
    }
    fn team(plan: Plan, members: Vec<Member>) -> Team {
        Team::new(AccountId::from_uuid(id(OWNER)), plan, &PlanCatalogue::default(), members)
    }

    #[test]
    fn rule5_members_use_slots_and_the_owner_does_not() {
        let t = team(Plan::Plus, vec![member(2, Role::Admin), member(3, Role::Biller)]);
        assert_eq!(t.usage(), SlotUsage { used: 2, limit: TeamSlots::Limited(3) });
    }

    #[test]
    fn rule5_approval_with_no_free_slot_reports_used_and_limit() {
        let mut t = team(Plan::Plus, vec![member(2, Role::Admin), member(3, Role::Biller), member(4, Role::Developer)]);
        assert_eq!(
            t.admit(member(5, Role::Biller)),
            Err(TeamError::NoFreeTeamSlots(NoFreeTeamSlots { used: 3, limit: 3 }))
        );
        assert_eq!(t.members().len(), 3);
        // Freeing a slot makes room again.
        t.remove(AccountId::from_uuid(id(OWNER)), MembershipId::from_uuid(id(1002))).unwrap();
        assert!(t.admit(member(5, Role::Biller)).is_ok());
    }

    #[test]
    fn rule5_unlimited_plans_never_run_out() {
        let mut t = team(Plan::Scale, (2..200).map(|n| member(n, Role::Developer)).collect());
        assert!(t.admit(member(500, Role::Admin)).is_ok());
    }

    #[test]
    fn an_agency_is_a_member_once_and_never_of_its_own_account() {
        let mut t = team(Plan::Pro, vec![member(2, Role::Admin)]);
        let mut again = member(2, Role::Biller);
        again.id = MembershipId::from_uuid(id(9999));
        assert_eq!(t.admit(again), Err(TeamError::AlreadyMember));
        assert_eq!(t.admit(member(OWNER, Role::Admin)), Err(TeamError::Owner));
    }

    #[test]
    fn rule1_nobody_changes_their_own_role() {
        let mut t = team(Plan::Pro, vec![member(2, Role::Admin), member(3, Role::Biller)]);
        let admin = AccountId::from_uuid(id(2));
        assert_eq!(t.change_role(admin, MembershipId::from_uuid(id(1002)), Role::Biller), Err(TeamError::OwnRole));
        // An Admin may change another member's role; the owner may change anyone's.
        let before = t.change_role(admin, MembershipId::from_uuid(id(1003)), Role::Developer).unwrap();
        assert_eq!(before.role, Role::Biller);
        assert_eq!(t.member(MembershipId::from_uuid(id(1003))).unwrap().role, Role::Developer);
        let owner = AccountId::from_uuid(id(OWNER));
        assert!(t.change_role(owner, MembershipId::from_uuid(id(1002)), Role::Developer).is_ok());
    }

    #[test]
    fn rule1_the_owner_can_never_be_removed_or_have_a_role_changed() {
        let mut t = team(Plan::Pro, vec![member(2, Role::Admin)]);
        let admin = AccountId::from_uuid(id(2));
        // The owner has no membership id: any id that is not a member is refused.
        let not_a_member = MembershipId::from_uuid(id(OWNER));
        assert_eq!(t.remove(admin, not_a_member), Err(TeamError::NoSuchMember));
        assert_eq!(t.change_role(admin, not_a_member, Role::Biller), Err(TeamError::NoSuchMember));
        assert_eq!(t.members().len(), 1);
    }

    #[test]
    fn members_leave_rather_than_remove_themselves() {
        let mut t = team(Plan::Pro, vec![member(2, Role::Admin)]);
        let admin = AccountId::from_uuid(id(2));
        assert_eq!(t.remove(admin, MembershipId::from_uuid(id(1002))), Err(TeamError::OwnMembership));
        assert_eq!(t.leave(admin).unwrap().id, MembershipId::from_uuid(id(1002)));
        assert_eq!(t.leave(admin), Err(TeamError::NoSuchMember));
    }

    #[test]
    fn rule5_plan_change_refused_when_members_exceed_new_slots() {
        let mut t = team(Plan::Pro, (2..6).map(|n| member(n, Role::Developer)).collect());
        assert_eq!(
            t.change_plan(Plan::Plus, &PlanCatalogue::default()),
            Err(PlanTooSmall { plan: Plan::Plus, members: 4, limit: 3 })
        );
        assert_eq!(t.plan(), Plan::Pro);
        assert_eq!(t.change_plan(Plan::Scale, &PlanCatalogue::default()), Ok(Plan::Pro));
        let mut small = team(Plan::Pro, vec![member(2, Role::Admin)]);
        assert_eq!(small.change_plan(Plan::Free, &PlanCatalogue::default()), Ok(Plan::Pro));
        assert_eq!(small.usage().limit, TeamSlots::Limited(1));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Admit(u8),
        Remove(u8),
        Leave(u8),
        Plan(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (2u8..40).prop_map(Op::Admit),
            (2u8..40).prop_map(Op::Remove),
            (2u8..40).prop_map(Op::Leave),
            (0u8..5).prop_map(Op::Plan),
        ]
    }

    proptest! {
        /// Rule 5's invariant: whatever happens, a team never has more members than its
        /// plan's slots, and no agency is a member twice.
        #[test]
        fn rule5_members_never_exceed_slots_after_any_sequence(ops in prop::collection::vec(op(), 0..120)) {
            let catalogue = PlanCatalogue::default();
            let owner = AccountId::from_uuid(id(OWNER));
            let mut t = Team::new(owner, Plan::Free, &catalogue, vec![]);
            for o in ops {
                match o {
                    Op::Admit(n) => { let _ = t.admit(member(u128::from(n), Role::Developer)); }
                    Op::Remove(n) => { let _ = t.remove(owner, MembershipId::from_uuid(id(1000 + u128::from(n)))); }
                    Op::Leave(n) => { let _ = t.leave(AccountId::from_uuid(id(u128::from(n)))); }
                    Op::Plan(p) => { let _ = t.change_plan(Plan::ALL[usize::from(p)], &catalogue); }
                }
                let usage = t.usage();
                prop_assert!(usage.limit.fits(usage.used), "{usage:?}");
                let mut accounts: Vec<_> = t.members().iter().map(|m| m.account_id).collect();
                accounts.sort();
                accounts.dedup();
                prop_assert_eq!(accounts.len(), t.members().len());
            }
        }
    }
}
