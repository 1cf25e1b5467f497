//! Use cases: one method per user action of the HTTP contract, generic over the ports.
//!
//! Each method authorises the caller (through [`Principal`]), then either reads through
//! a repository port or runs a pure decision inside [`AtomicStore::atomically`].

mod errors;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

pub use errors::{
    AccountError, ApproveError, AuthError, BulkRequestError, GrantLinkError, RequestAccessError, RowActionError,
    SharedAccountError, SignInError, SignUpError,
};

use crate::ports::{
    AccessRequestRepository, AccountRepository, AccountResources, AtomicStore, AuditRepository, Changes, Clock,
    Decision, Entropy, ListVersion, Page, PageRequest, PasswordHasher, Scope, ScopeKey, SessionRepository,
    SharedAccountQuery, SharedAccountRecord, StoreError, TeamRepository, WebsiteRepository,
};
use crate::{
    AccessRequest, AccessRequestId, Account, AccountId, AnalyticsSummary, Area, AuditEvent, AuditEventId, AuditKind,
    Denied, DisplayName, DomainName, Email, GrantToken, Health, Impersonation, Invoice, Member, MembershipId,
    NewRequestError, Notification, OutboxMessageId, OutgoingEmail, Password, Permission, Permissions, Plan, Policy,
    Principal, RequestState, ResendError, RetryAfter, Role, Session, SessionId, SessionKind, SessionToken,
    SettingsDocument, SharedAccountRow, SlotUsage, Team, TeamError, TokenHash, Website, WebsiteId, WebsiteSummary,
};

/// The adapters a [`Service`] runs on. Production wires one sea-orm store for every
/// storage port; tests wire mockall mocks.
pub trait Ports: Send + Sync + 'static {
    /// Accounts.
    type Accounts: AccountRepository;
    /// Sessions.
    type Sessions: SessionRepository;
    /// Request reads.
    type Requests: AccessRequestRepository;
    /// Team reads.
    type Teams: TeamRepository;
    /// Websites.
    type Websites: WebsiteRepository;
    /// Audit reads.
    type Audit: AuditRepository;
    /// Atomic writes.
    type Store: AtomicStore;
    /// Time.
    type Clock: Clock;
    /// Randomness.
    type Entropy: Entropy;
    /// Password hashing.
    type Hasher: PasswordHasher;
    /// Settings, invoices, website summary.
    type Resources: AccountResources;

    /// Accounts.
    fn accounts(&self) -> &Self::Accounts;
    /// Sessions.
    fn sessions(&self) -> &Self::Sessions;
    /// Request reads.
    fn requests(&self) -> &Self::Requests;
    /// Team reads.
    fn teams(&self) -> &Self::Teams;
    /// Websites.
    fn websites(&self) -> &Self::Websites;
    /// Audit reads.
    fn audit(&self) -> &Self::Audit;
    /// Atomic writes.
    fn store(&self) -> &Self::Store;
    /// Time.
    fn clock(&self) -> &Self::Clock;
    /// Randomness.
    fn entropy(&self) -> &Self::Entropy;
    /// Password hashing.
    fn hasher(&self) -> &Self::Hasher;
    /// Settings, invoices, website summary.
    fn resources(&self) -> &Self::Resources;
}

/// A new account's details, already valid.
#[derive(Debug, Clone)]
pub struct SignUp {
    /// Sign-in address.
    pub email: Email,
    /// Password.
    pub password: Password,
    /// Optional display name.
    pub name: Option<DisplayName>,
    /// A grant link's token for the same email: proves the mailbox, verifying it.
    pub grant_token: Option<GrantToken>,
}

/// A new session for an account.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Bearer token (shown once).
    pub token: SessionToken,
    /// The session.
    pub session: Session,
    /// The account.
    pub account: Account,
}

/// A started "Log in as".
#[derive(Debug, Clone)]
pub struct StartedImpersonation {
    /// Bearer token for the client account (shown once).
    pub token: SessionToken,
    /// The session (its `expires_at`, client and role).
    pub session: Session,
    /// The role it acts with.
    pub role: Role,
}

/// What a grant link shows before signing in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantLink {
    /// The request.
    pub request: AccessRequestId,
    /// The agency's display name.
    pub agency_name: String,
    /// The agency's email.
    pub agency_email: Email,
    /// The role asked for.
    pub role: Role,
    /// The invited address (to prefill sign-in or sign-up).
    pub email: Email,
    /// Whether an account has that address (sign in) or not (sign up).
    pub account_exists: bool,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// The client's approval pop-up: requests waiting and the slots they would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    /// Requests to my verified email, oldest first.
    pub items: Vec<crate::ports::PendingRequest>,
    /// My team's slots.
    pub slots: SlotUsage,
}

/// A client's team as Team Management shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamView {
    /// Slots used and available.
    pub slots: SlotUsage,
    /// Members, oldest first.
    pub members: Vec<Member>,
}

/// The agency use cases and the client use cases, over ports `P`.
#[derive(Debug)]
pub struct Service<P> {
    ports: P,
    policy: Policy,
}

impl<P: Ports> Service<P> {
    /// Wires a service.
    pub fn new(ports: P, policy: Policy) -> Self {
        Self { ports, policy }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The ports (for adapters that need a repository directly, e.g. health checks).
    pub fn ports(&self) -> &P {
        &self.ports
    }

    fn now(&self) -> DateTime<Utc> {
        self.ports.clock().now()
    }

    fn id<T: From<uuid::Uuid>>(&self) -> T {
        T::from(self.ports.entropy().uuid())
    }

    fn token<K>(&self) -> crate::Token<K> {
        crate::Token::from_random(self.ports.entropy().token_bytes())
    }

    fn agency(p: &Principal) -> Result<AccountId, Denied> {
        p.enter(Area::Agency)?.ok_or(Denied::Forbidden)
    }

    fn client_inbox(p: &Principal) -> Result<AccountId, Denied> {
        p.enter(Area::ClientInbox)?.ok_or(Denied::Forbidden)
    }

    // ----- Identity ---------------------------------------------------------------

    /// Creates an account and signs it in. A grant token for the same email verifies
    /// the email (rule 4); any other token is ignored (the account stays unverified).
    ///
    /// # Errors
    /// [`SignUpError`].
    pub async fn sign_up(&self, input: SignUp) -> Result<SignedIn, SignUpError> {
        let now = self.now();
        let mut verified = false;
        if let Some(token) = &input.grant_token
            && let Some(pending) = self.ports.requests().find_by_token(&token.hash()).await?
        {
            verified =
                pending.request.email() == &input.email && pending.request.check_grant(&token.hash(), now).is_ok();
        }
        let hash = self.ports.hasher().hash(&input.password).await?;
        let account = Account {
            id: self.id(),
            email: input.email,
            email_verified: verified,
            name: input.name,
            plan: Plan::Free,
            created_at: now,
        };
        match self.ports.accounts().create(&account, &hash).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(SignUpError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        Ok(self.open_session(account, now).await?)
    }

    /// Signs in. Unknown email and wrong password answer the same, after the same work.
    ///
    /// # Errors
    /// [`SignInError::InvalidCredentials`].
    pub async fn sign_in(&self, email: &Email, password: &Password) -> Result<SignedIn, SignInError> {
        let found = self.ports.accounts().credentials(email).await?;
        let hasher = self.ports.hasher();
        let account = match found {
            Some((account, hash)) if hasher.verify(password, &hash).await => account,
            Some(_) => return Err(SignInError::InvalidCredentials),
            None => {
                let _ = hasher.verify(password, &hasher.dummy_hash()).await;
                return Err(SignInError::InvalidCredentials);
            }
        };
        Ok(self.open_session(account, self.now()).await?)
    }

    async fn open_session(&self, account: Account, now: DateTime<Utc>) -> Result<SignedIn, StoreError> {
        let token: SessionToken = self.token();
        let session = Session {
            id: self.id(),
            token_hash: token.hash(),
            account_id: account.id,
            kind: SessionKind::Personal,
            created_at: now,
            expires_at: now + self.policy.session_ttl,
        };
        self.ports.sessions().insert(&session).await?;
        Ok(SignedIn { token, session, account })
    }

    /// Ends the caller's session (personal or "Log in as").
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn sign_out(&self, p: &Principal) -> Result<(), StoreError> {
        let session = match p {
            Principal::Account { session, .. } => *session,
            Principal::Impersonation(i) => i.session,
            Principal::Service => return Ok(()),
        };
        self.ports.sessions().delete(session).await
    }

    /// Resolves a bearer token. "Log in as" sessions are checked against the agency's
    /// live membership on every call (rule 9).
    ///
    /// # Errors
    /// [`AuthError`].
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let token = SessionToken::parse(bearer).map_err(|_| AuthError::Unauthenticated)?;
        let (session, account) =
            self.ports.sessions().find_with_account(&token.hash()).await?.ok_or(AuthError::Unauthenticated)?;
        self.principal(session, account).await
    }

    /// As [`Service::authenticate`], with the version of the caller's "Shared
    /// accounts" list read in the same round trip (None when the store cannot vouch
    /// for one, or the caller is not acting as itself).
    ///
    /// # Errors
    /// As [`Service::authenticate`].
    pub async fn authenticate_listing(&self, bearer: &str) -> Result<(Principal, Option<ListVersion>), AuthError> {
        let token = SessionToken::parse(bearer).map_err(|_| AuthError::Unauthenticated)?;
        let (session, account, version) =
            self.ports.sessions().find_with_list_version(&token.hash()).await?.ok_or(AuthError::Unauthenticated)?;
        let personal = session.kind == SessionKind::Personal;
        let principal = self.principal(session, account).await?;
        Ok((principal, version.filter(|_| personal)))
    }

    async fn principal(&self, session: Session, account: Account) -> Result<Principal, AuthError> {
        let now = self.now();
        if !session.is_live(now) {
            return Err(AuthError::Unauthenticated);
        }
        match session.kind {
            SessionKind::Personal => Ok(Principal::Account { account, session: session.id }),
            SessionKind::Impersonation { client, .. } => {
                let live = self.ports.teams().member_role(client, session.account_id).await?;
                Impersonation::resume(&session, live, now)
                    .map(Principal::Impersonation)
                    .map_err(AuthError::SessionEnded)
            }
        }
    }

    /// The caller's own account (`GET /v1/me`); inside "Log in as", the agency's.
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn me(&self, p: &Principal) -> Result<Account, AccountError> {
        if let Principal::Account { account, .. } = p {
            return Ok(account.clone());
        }
        let id = p.enter(Area::Identity)?.ok_or(Denied::Forbidden)?;
        self.ports.accounts().find(id).await?.ok_or(AccountError::NotFound)
    }

    // ----- Agency: Shared accounts -----------------------------------------------

    /// Requests `role` in the account of `email` (rule 2). Answers the same whether or
    /// not the email has an account (rule 11).
    ///
    /// # Errors
    /// [`RequestAccessError`].
    pub async fn request_access(
        &self,
        p: &Principal,
        email: Email,
        role: Role,
    ) -> Result<SharedAccountRow, RequestAccessError> {
        let agency = Self::agency(p)?;
        let key = ScopeKey::NewRequest { agency, email: email.clone() };
        let decide = self.new_request_decision(self.now(), email, role);
        match self.ports.store().atomically(key, Box::new(decide)).await {
            // A concurrent request for the same agency and email won the unique index.
            Err(crate::ports::AtomicError::Store(StoreError::Conflict(_))) => Err(RequestAccessError::AlreadyRequested),
            other => other.map_err(Into::into),
        }
    }

    /// As [`Service::request_access`] for the bearer of a session token, which the
    /// store resolves inside the write ([`ScopeKey::NewRequestAs`]): one round trip
    /// fewer than [`Service::authenticate`] first. Only a live personal session acts
    /// here; for any other bearer nothing is written and the answer is `Ok(None)`:
    /// resolve the bearer with [`Service::authenticate`] (whose error is the answer to
    /// give) and call [`Service::request_access`].
    ///
    /// # Errors
    /// As [`Service::request_access`].
    pub async fn request_access_as(
        &self,
        bearer: &str,
        email: Email,
        role: Role,
    ) -> Result<Option<SharedAccountRow>, RequestAccessError> {
        let Ok(token) = SessionToken::parse(bearer) else { return Ok(None) };
        let now = self.now();
        let key = ScopeKey::NewRequestAs { session: token.hash(), email: email.clone() };
        let decide = self.new_request_decision(now, email, role);
        // `None`: not a bearer this path serves (unknown, expired, "Log in as").
        let decide = move |scope: &Scope| -> Result<Decision<SharedAccountRow>, Option<RequestAccessError>> {
            let acts = scope.session.as_ref().is_some_and(|s| {
                s.is_live(now)
                    && s.kind == SessionKind::Personal
                    && scope.agency.as_ref().is_some_and(|a| a.id == s.account_id)
            });
            if !acts {
                return Err(None);
            }
            decide(scope).map_err(Some)
        };
        match self.ports.store().atomically(key, Box::new(decide)).await {
            Ok(row) => Ok(Some(row)),
            Err(crate::ports::AtomicError::Refused(None)) => Ok(None),
            Err(crate::ports::AtomicError::Refused(Some(e))) => Err(e),
            Err(crate::ports::AtomicError::Store(StoreError::Conflict(_))) => Err(RequestAccessError::AlreadyRequested),
            Err(crate::ports::AtomicError::Store(e)) => Err(e.into()),
        }
    }

    /// The decision of a new request to `email` for `role`, by the agency of the scope.
    fn new_request_decision(
        &self,
        now: DateTime<Utc>,
        email: Email,
        role: Role,
    ) -> impl Fn(&Scope) -> Result<Decision<SharedAccountRow>, RequestAccessError> + Send + Sync + 'static {
        let policy = self.policy;
        let (request_id, audit_id, mail_id): (AccessRequestId, AuditEventId, OutboxMessageId) =
            (self.id(), self.id(), self.id());
        let token: GrantToken = self.token();
        move |scope: &Scope| -> Result<Decision<SharedAccountRow>, RequestAccessError> {
            let agency = scope.agency.as_ref().ok_or_else(|| missing("agency"))?;
            if scope.request.as_ref().is_some_and(|r| r.state().blocks_new_request()) {
                return Err(RequestAccessError::AlreadyRequested);
            }
            let day_ago = now - chrono::TimeDelta::hours(24);
            let mut recent: Vec<_> = scope.recipient_recent.iter().filter(|t| **t > day_ago).copied().collect();
            if recent.len() >= usize::try_from(policy.recipient_daily_cap).unwrap_or(usize::MAX) {
                recent.sort_unstable();
                let cap = usize::try_from(policy.recipient_daily_cap).unwrap_or(usize::MAX);
                let frees_at = recent[recent.len() - cap.max(1)] + chrono::TimeDelta::hours(24);
                return Err(RequestAccessError::RecipientRateLimited(RetryAfter::new(frees_at - now)));
            }
            let request =
                AccessRequest::new(request_id, agency.id, &agency.email, email.clone(), role, &token, now, &policy)
                    .map_err(|NewRequestError::OwnAccount| RequestAccessError::OwnAccount)?;
            let expires_at = request.grant().map_or(now, |g| g.expires_at);
            let changes = Changes {
                audit: vec![audit(
                    audit_id,
                    now,
                    Some(agency.id),
                    None,
                    scope.client.as_ref(),
                    &request,
                    AuditKind::AccessRequested { role },
                )],
                emails: vec![OutgoingEmail {
                    id: mail_id,
                    to: email.clone(),
                    notification: Notification::AccessRequested {
                        agency_name: agency.display_name().to_owned(),
                        agency_email: agency.email.clone(),
                        role,
                        token: token.clone(),
                        expires_at,
                        resent: false,
                    },
                    request: Some(request_id),
                    created_at: now,
                }],
                insert_request: Some(request.clone()),
                ..Changes::default()
            };
            // Nothing about the client's account goes into the answer (rule 11).
            Ok(Decision { changes, outcome: SharedAccountRow::derive(request, WebsiteSummary::default(), None) })
        }
    }

    /// Requests access for up to 100 emails, each independently ("Beyond the seed").
    /// The requests are made together, in the given order, so that a store that
    /// batches new requests writes them in few transactions; each is decided as if
    /// alone (a repeated address finds the earlier one).
    ///
    /// # Errors
    /// [`BulkRequestError`] for the batch as a whole; each item has its own result.
    pub async fn request_access_bulk(
        &self,
        p: &Principal,
        items: Vec<(Email, Role)>,
    ) -> Result<Vec<Result<SharedAccountRow, RequestAccessError>>, BulkRequestError> {
        Self::agency(p)?;
        if items.is_empty() || items.len() > 100 {
            return Err(BulkRequestError::BadSize);
        }
        let requests = items.into_iter().map(|(email, role)| self.request_access(p, email, role));
        Ok(futures::future::join_all(requests).await)
    }

    fn row(record: SharedAccountRecord) -> SharedAccountRow {
        SharedAccountRow::derive(record.request, record.websites, record.client_slots)
    }

    /// The agency's "Shared accounts" list.
    ///
    /// # Errors
    /// [`SharedAccountError`].
    pub async fn shared_accounts(
        &self,
        p: &Principal,
        query: &SharedAccountQuery,
    ) -> Result<Page<SharedAccountRow>, SharedAccountError> {
        let agency = Self::agency(p)?;
        let page = self.ports.requests().shared_accounts(agency, query).await?;
        Ok(Page { items: page.items.into_iter().map(Self::row).collect(), next_cursor: page.next_cursor })
    }

    /// The agency whose list `p` may read: what a rendered page is filed under.
    ///
    /// # Errors
    /// [`SharedAccountError::Denied`] as [`Service::shared_accounts`].
    pub fn list_owner(p: &Principal) -> Result<AccountId, SharedAccountError> {
        Ok(Self::agency(p)?)
    }

    /// One row of the agency's list; other agencies' ids are not found.
    ///
    /// # Errors
    /// [`SharedAccountError`].
    pub async fn shared_account(
        &self,
        p: &Principal,
        id: AccessRequestId,
    ) -> Result<SharedAccountRow, SharedAccountError> {
        let agency = Self::agency(p)?;
        let record = self.ports.requests().shared_account(agency, id).await?.ok_or(SharedAccountError::NotFound)?;
        Ok(Self::row(record))
    }

    /// Sends the request again with a fresh link (rules 3 and 8).
    ///
    /// # Errors
    /// [`RowActionError`]: `WrongState` unless requested or declined, `RateLimited`.
    pub async fn resend(&self, p: &Principal, id: AccessRequestId) -> Result<SharedAccountRow, RowActionError> {
        let agency = Self::agency(p)?;
        let now = self.now();
        let policy = self.policy;
        let (audit_id, mail_id): (AuditEventId, OutboxMessageId) = (self.id(), self.id());
        let token: GrantToken = self.token();
        let decide = move |scope: &Scope| -> Result<Decision<SharedAccountRow>, RowActionError> {
            let mut request = scope.request.clone().ok_or(RowActionError::NotFound)?;
            let agency = scope.agency.as_ref().ok_or_else(|| missing("agency"))?;
            request.resend(&token, now, &policy).map_err(|e| match e {
                ResendError::State(t) => RowActionError::WrongState(t.from),
                ResendError::RateLimited(r) => RowActionError::RateLimited(r),
            })?;
            let changes = Changes {
                audit: vec![audit(
                    audit_id,
                    now,
                    Some(agency.id),
                    None,
                    scope.client.as_ref(),
                    &request,
                    AuditKind::RequestResent,
                )],
                emails: vec![OutgoingEmail {
                    id: mail_id,
                    to: request.email().clone(),
                    notification: Notification::AccessRequested {
                        agency_name: agency.display_name().to_owned(),
                        agency_email: agency.email.clone(),
                        role: request.role(),
                        token: token.clone(),
                        expires_at: request.grant().map_or(now, |g| g.expires_at),
                        resent: true,
                    },
                    request: Some(request.id()),
                    created_at: now,
                }],
                update_request: Some(request.clone()),
                ..Changes::default()
            };
            let slots = client_slots(scope, &policy);
            Ok(Decision { changes, outcome: SharedAccountRow::derive(request, WebsiteSummary::default(), slots) })
        };
        Ok(self.ports.store().atomically(ScopeKey::AgencyRequest { agency, request: id }, Box::new(decide)).await?)
    }

    /// Withdraws a request; only before approval (rule 2).
    ///
    /// # Errors
    /// [`RowActionError`]: `WrongState` once approved.
    pub async fn remove(&self, p: &Principal, id: AccessRequestId) -> Result<(), RowActionError> {
        let agency = Self::agency(p)?;
        let now = self.now();
        let audit_id: AuditEventId = self.id();
        let decide = move |scope: &Scope| -> Result<Decision<()>, RowActionError> {
            let mut request = scope.request.clone().ok_or(RowActionError::NotFound)?;
            request.remove(now).map_err(|t| RowActionError::WrongState(t.from))?;
            let changes = Changes {
                audit: vec![audit(
                    audit_id,
                    now,
                    Some(agency),
                    None,
                    scope.client.as_ref(),
                    &request,
                    AuditKind::RequestRemoved,
                )],
                update_request: Some(request),
                ..Changes::default()
            };
            Ok(Decision { changes, outcome: () })
        };
        Ok(self.ports.store().atomically(ScopeKey::AgencyRequest { agency, request: id }, Box::new(decide)).await?)
    }

    /// The client's websites, once approved ("View websites").
    ///
    /// # Errors
    /// [`RowActionError`]: `WrongState` while not approved.
    pub async fn shared_websites(
        &self,
        p: &Principal,
        id: AccessRequestId,
        q: Option<String>,
        page: &PageRequest,
    ) -> Result<Page<Website>, RowActionError> {
        let agency = Self::agency(p)?;
        let record = self.ports.requests().shared_account(agency, id).await?.ok_or(RowActionError::NotFound)?;
        let request = record.request;
        match (request.state(), request.client_id()) {
            (RequestState::Approved, Some(client)) => Ok(self.ports.websites().list(client, q, page).await?),
            (state, _) => Err(RowActionError::WrongState(state)),
        }
    }

    /// Starts "Log in as" (rule 9): a short session with the member's current role,
    /// recorded in the client's audit log.
    ///
    /// # Errors
    /// [`RowActionError`]: `WrongState` unless approved.
    pub async fn log_in_as(&self, p: &Principal, id: AccessRequestId) -> Result<StartedImpersonation, RowActionError> {
        let agency = Self::agency(p)?;
        let now = self.now();
        let policy = self.policy;
        let (session_id, audit_id, mail_id): (SessionId, AuditEventId, OutboxMessageId) =
            (self.id(), self.id(), self.id());
        let token: SessionToken = self.token();
        let token_hash = token.hash();
        let decide = move |scope: &Scope| -> Result<Decision<(Session, Role)>, RowActionError> {
            let request = scope.request.as_ref().ok_or(RowActionError::NotFound)?;
            let agency_account = scope.agency.as_ref().ok_or_else(|| missing("agency"))?;
            let client = match (request.state(), scope.client.as_ref()) {
                (RequestState::Approved, Some(c)) if request.client_id() == Some(c.id) => c,
                (state, _) => return Err(RowActionError::WrongState(state)),
            };
            let member = scope
                .members
                .iter()
                .find(|m| m.account_id == agency)
                .ok_or(RowActionError::WrongState(request.state()))?;
            let session = Session {
                id: session_id,
                token_hash,
                account_id: agency,
                kind: SessionKind::Impersonation { client: client.id, role: member.role },
                created_at: now,
                expires_at: now + policy.impersonation_ttl,
            };
            let kind = AuditKind::ImpersonationStarted {
                session: session_id,
                role: member.role,
                expires_at: session.expires_at,
            };
            let mut changes = Changes {
                audit: vec![audit(audit_id, now, Some(agency), None, Some(client), request, kind)],
                insert_session: Some(session.clone()),
                ..Changes::default()
            };
            if policy.notify_impersonation {
                changes.emails.push(OutgoingEmail {
                    id: mail_id,
                    to: client.email.clone(),
                    notification: Notification::ImpersonationStarted {
                        agency_name: agency_account.display_name().to_owned(),
                        agency_email: agency_account.email.clone(),
                        role: member.role,
                        expires_at: session.expires_at,
                    },
                    request: None,
                    created_at: now,
                });
            }
            Ok(Decision { changes, outcome: (session, member.role) })
        };
        let (session, role) =
            self.ports.store().atomically(ScopeKey::AgencyRequest { agency, request: id }, Box::new(decide)).await?;
        Ok(StartedImpersonation { token, session, role })
    }

    /// The agency gives up an approved account, freeing the client's slot.
    ///
    /// # Errors
    /// [`RowActionError`]: `WrongState` unless approved.
    pub async fn leave(&self, p: &Principal, id: AccessRequestId) -> Result<(), RowActionError> {
        let agency = Self::agency(p)?;
        let now = self.now();
        let policy = self.policy;
        let (audit_id, mail_id): (AuditEventId, OutboxMessageId) = (self.id(), self.id());
        let decide = move |scope: &Scope| -> Result<Decision<()>, RowActionError> {
            let mut request = scope.request.clone().ok_or(RowActionError::NotFound)?;
            let agency_account = scope.agency.as_ref().ok_or_else(|| missing("agency"))?;
            let Some(client) = scope.client.as_ref().filter(|c| request.client_id() == Some(c.id)) else {
                return Err(RowActionError::WrongState(request.state()));
            };
            let mut team = Team::new(client.id, client.plan, &policy.plans, scope.members.clone());
            request.leave(now).map_err(|t| RowActionError::WrongState(t.from))?;
            let member = team.leave(agency).map_err(|_| RowActionError::WrongState(RequestState::Approved))?;
            let changes = Changes {
                audit: vec![audit(
                    audit_id,
                    now,
                    Some(agency),
                    None,
                    Some(client),
                    &request,
                    AuditKind::AgencyLeft { member: member.id },
                )],
                emails: vec![OutgoingEmail {
                    id: mail_id,
                    to: client.email.clone(),
                    notification: Notification::AgencyLeft {
                        agency_name: agency_account.display_name().to_owned(),
                        agency_email: agency_account.email.clone(),
                    },
                    request: None,
                    created_at: now,
                }],
                update_request: Some(request),
                delete_member: Some(member.id),
                ..Changes::default()
            };
            Ok(Decision { changes, outcome: () })
        };
        Ok(self.ports.store().atomically(ScopeKey::AgencyRequest { agency, request: id }, Box::new(decide)).await?)
    }

    // ----- Client: the approval pop-up -------------------------------------------

    /// What a grant link shows before signing in. Unknown, rotated, expired and used
    /// links answer alike.
    ///
    /// # Errors
    /// [`GrantLinkError`].
    pub async fn grant_link(&self, token: &GrantToken) -> Result<GrantLink, GrantLinkError> {
        let hash = token.hash();
        let pending = self
            .ports
            .requests()
            .find_by_token(&hash)
            .await?
            .ok_or(GrantLinkError::Invalid(crate::InvalidGrant::Unknown))?;
        let request = &pending.request;
        request.check_grant(&hash, self.now()).map_err(GrantLinkError::Invalid)?;
        let account_exists = self.ports.accounts().find_by_email(request.email()).await?.is_some();
        Ok(GrantLink {
            request: request.id(),
            agency_name: pending.agency.display_name().to_owned(),
            agency_email: pending.agency.email.clone(),
            role: request.role(),
            email: request.email().clone(),
            account_exists,
            expires_at: request.grant().map_or(request.last_sent_at(), |g| g.expires_at),
        })
    }

    /// Requests waiting for the caller, and its slots. Empty until the caller's email
    /// is verified: an unproven claim to an address shows nobody's requests.
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn inbox(&self, p: &Principal) -> Result<Inbox, AccountError> {
        Self::client_inbox(p)?;
        let Principal::Account { account, .. } = p else { return Err(Denied::Forbidden.into()) };
        let items =
            if account.email_verified { self.ports.requests().pending_for(&account.email).await? } else { vec![] };
        let members = self.ports.teams().members(account.id).await?;
        let slots = Team::new(account.id, account.plan, &self.policy.plans, members).usage();
        Ok(Inbox { items, slots })
    }

    /// Approves a request addressed to the caller's verified email (rules 4 and 5).
    /// Approving an already approved request again returns the same member.
    ///
    /// # Errors
    /// [`ApproveError`].
    pub async fn approve(&self, p: &Principal, id: AccessRequestId) -> Result<Member, ApproveError> {
        let client = Self::client_inbox(p)?;
        self.approve_in(ScopeKey::ClientRequest { client, request: id }, client, None).await
    }

    /// Approves through a grant link: the link proves the mailbox, so it also verifies
    /// the caller's email (rule 4). The caller's email must be the requested one.
    ///
    /// # Errors
    /// [`ApproveError`].
    pub async fn approve_by_token(&self, p: &Principal, token: &GrantToken) -> Result<Member, ApproveError> {
        let client = Self::client_inbox(p)?;
        let hash = token.hash();
        self.approve_in(ScopeKey::ClientRequestByToken { client, token: hash }, client, Some(hash)).await
    }

    async fn approve_in(
        &self,
        key: ScopeKey,
        client_id: AccountId,
        link: Option<TokenHash>,
    ) -> Result<Member, ApproveError> {
        let now = self.now();
        let policy = self.policy;
        let (member_id, audit_id, verify_id, mail_id): (MembershipId, AuditEventId, AuditEventId, OutboxMessageId) =
            (self.id(), self.id(), self.id(), self.id());
        let decide = move |scope: &Scope| -> Result<Decision<Result<Member, ApproveError>>, ApproveError> {
            let client = scope.client.as_ref().filter(|c| c.id == client_id).ok_or_else(|| missing("client"))?;
            let Some(request) = scope.request.clone() else {
                return Err(match link {
                    Some(_) => ApproveError::InvalidGrant(crate::InvalidGrant::Unknown),
                    None => ApproveError::NotFound,
                });
            };
            if request.agency_id() == client.id {
                // The agency knows its own request, but approving is the client's alone.
                return Err(ApproveError::Denied(Denied::Forbidden));
            }
            if let Some(hash) = link {
                // A dead link answers alike whoever follows it: no oracle for old links.
                request.check_grant(&hash, now).map_err(ApproveError::InvalidGrant)?;
            }
            if request.email() != &client.email {
                return Err(if link.is_some() { ApproveError::EmailMismatch } else { ApproveError::NotFound });
            }
            if request.state() == RequestState::Approved && request.client_id() == Some(client.id) {
                // A double click: same answer, nothing written.
                let member = scope.members.iter().find(|m| m.origin == request.id()).cloned();
                return member.map(|m| Decision::nothing(Ok(m))).ok_or(ApproveError::WrongState(request.state()));
            }
            match link {
                Some(_) => {}
                None if request.state() != RequestState::Requested => {
                    return Err(ApproveError::WrongState(request.state()));
                }
                None if !client.email_verified => return Err(ApproveError::EmailNotVerified),
                None => {}
            }
            decide_approval(
                scope,
                client,
                request,
                &policy,
                now,
                (member_id, audit_id, verify_id, mail_id),
                link.is_some(),
            )
        };
        self.ports.store().atomically(key, Box::new(decide)).await?
    }

    /// Declines a request addressed to the caller's verified email.
    ///
    /// # Errors
    /// [`ApproveError`].
    pub async fn decline(&self, p: &Principal, id: AccessRequestId) -> Result<(), ApproveError> {
        let client_id = Self::client_inbox(p)?;
        let now = self.now();
        let (audit_id, mail_id): (AuditEventId, OutboxMessageId) = (self.id(), self.id());
        let decide = move |scope: &Scope| -> Result<Decision<()>, ApproveError> {
            let client = scope.client.as_ref().filter(|c| c.id == client_id).ok_or_else(|| missing("client"))?;
            if scope.request.as_ref().is_some_and(|r| r.agency_id() == client.id) {
                return Err(ApproveError::Denied(Denied::Forbidden));
            }
            let mut request =
                scope.request.clone().filter(|r| r.email() == &client.email).ok_or(ApproveError::NotFound)?;
            if !client.email_verified {
                return Err(ApproveError::EmailNotVerified);
            }
            request.decline(now).map_err(|t| ApproveError::WrongState(t.from))?;
            let changes = Changes {
                audit: vec![audit(
                    audit_id,
                    now,
                    Some(client.id),
                    None,
                    Some(client),
                    &request,
                    AuditKind::RequestDeclined,
                )],
                emails: scope
                    .agency
                    .as_ref()
                    .map(|a| OutgoingEmail {
                        id: mail_id,
                        to: a.email.clone(),
                        notification: Notification::RequestDeclined { client_email: client.email.clone() },
                        request: None,
                        created_at: now,
                    })
                    .into_iter()
                    .collect(),
                update_request: Some(request),
                ..Changes::default()
            };
            Ok(Decision { changes, outcome: () })
        };
        Ok(self
            .ports
            .store()
            .atomically(ScopeKey::ClientRequest { client: client_id, request: id }, Box::new(decide))
            .await?)
    }

    // ----- Inside a client account ------------------------------------------------

    /// What the caller may do in `account` (owner, member by role, or "Log in as").
    ///
    /// # Errors
    /// [`AccountError::Denied`] (404 for strangers).
    pub async fn permissions_in(&self, p: &Principal, account: AccountId) -> Result<Permissions, AccountError> {
        let membership = match p {
            Principal::Account { account: me, .. } if me.id != account => {
                self.ports.teams().member_role(account, me.id).await?
            }
            _ => None,
        };
        Ok(p.permissions_in(account, membership)?)
    }

    /// Checks one permission in `account` (for the invoices, settings and analytics
    /// routes, whose data lives outside this crate).
    ///
    /// # Errors
    /// [`AccountError::Denied`].
    pub async fn authorize(
        &self,
        p: &Principal,
        account: AccountId,
        permission: Permission,
    ) -> Result<(), AccountError> {
        if self.permissions_in(p, account).await?.contains(permission) { Ok(()) } else { Err(Denied::Forbidden.into()) }
    }

    async fn account(&self, id: AccountId) -> Result<Account, AccountError> {
        self.ports.accounts().find(id).await?.ok_or(AccountError::NotFound)
    }

    /// Team Management: slots and members (owner and Admin).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn team(&self, p: &Principal, account: AccountId) -> Result<TeamView, AccountError> {
        self.authorize(p, account, Permission::TeamManage).await?;
        let owner = self.account(account).await?;
        let members = self.ports.teams().members(account).await?;
        let team = Team::new(owner.id, owner.plan, &self.policy.plans, members);
        Ok(TeamView { slots: team.usage(), members: team.members().to_vec() })
    }

    /// Changes a member's role (owner and Admin; nobody changes their own).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn change_role(
        &self,
        p: &Principal,
        account: AccountId,
        member: MembershipId,
        role: Role,
    ) -> Result<Member, AccountError> {
        let actor = self.team_actor(p, account).await?;
        let now = self.now();
        let policy = self.policy;
        let audit_id: AuditEventId = self.id();
        let via = via_session(p);
        let decide = move |scope: &Scope| -> Result<Decision<Member>, AccountError> {
            let (client, mut team) = locked_team(scope, &policy, actor)?;
            let before = team.change_role(actor.account, member, role).map_err(AccountError::Team)?;
            let after = Member { role, ..before.clone() };
            let mut request = scope.request.clone().ok_or_else(|| missing("origin request"))?;
            request.change_role(role, now).map_err(|_| missing("approved origin request"))?;
            let kind = AuditKind::RoleChanged { member, from: before.role, to: role };
            let changes = Changes {
                audit: vec![audit(audit_id, now, Some(actor.account), via, Some(client), &request, kind)],
                update_member: Some(after.clone()),
                update_request: Some(request),
                ..Changes::default()
            };
            Ok(Decision { changes, outcome: after })
        };
        Ok(self.ports.store().atomically(ScopeKey::Member { client: account, member }, Box::new(decide)).await?)
    }

    /// Removes a member, revoking its access and freeing its slot (owner and Admin).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn remove_member(
        &self,
        p: &Principal,
        account: AccountId,
        member: MembershipId,
    ) -> Result<(), AccountError> {
        let actor = self.team_actor(p, account).await?;
        let now = self.now();
        let policy = self.policy;
        let (audit_id, mail_id): (AuditEventId, OutboxMessageId) = (self.id(), self.id());
        let via = via_session(p);
        let decide = move |scope: &Scope| -> Result<Decision<()>, AccountError> {
            let (client, mut team) = locked_team(scope, &policy, actor)?;
            let removed = team.remove(actor.account, member).map_err(AccountError::Team)?;
            let mut request = scope.request.clone().ok_or_else(|| missing("origin request"))?;
            request.revoke(now).map_err(|_| missing("approved origin request"))?;
            let kind = AuditKind::MemberRemoved { member, role: removed.role };
            let changes = Changes {
                audit: vec![audit(audit_id, now, Some(actor.account), via, Some(client), &request, kind)],
                emails: vec![OutgoingEmail {
                    id: mail_id,
                    to: removed.email.clone(),
                    notification: Notification::AccessRevoked { client_email: client.email.clone() },
                    request: None,
                    created_at: now,
                }],
                delete_member: Some(removed.id),
                update_request: Some(request),
                ..Changes::default()
            };
            Ok(Decision { changes, outcome: () })
        };
        Ok(self.ports.store().atomically(ScopeKey::Member { client: account, member }, Box::new(decide)).await?)
    }

    /// The plan and its slots (`billing.manage`).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn subscription(&self, p: &Principal, account: AccountId) -> Result<(Plan, SlotUsage), AccountError> {
        self.authorize(p, account, Permission::BillingManage).await?;
        let owner = self.account(account).await?;
        let members = self.ports.teams().members(account).await?;
        Ok((owner.plan, Team::new(owner.id, owner.plan, &self.policy.plans, members).usage()))
    }

    /// Changes the plan, unless its slots are fewer than the members (rule 5).
    ///
    /// # Errors
    /// [`AccountError::PlanTooSmall`].
    pub async fn change_plan(
        &self,
        p: &Principal,
        account: AccountId,
        plan: Plan,
    ) -> Result<(Plan, SlotUsage), AccountError> {
        self.authorize(p, account, Permission::BillingManage).await?;
        let actor = p.actor();
        let now = self.now();
        let policy = self.policy;
        let audit_id: AuditEventId = self.id();
        let via = via_session(p);
        let decide = move |scope: &Scope| -> Result<Decision<(Plan, SlotUsage)>, AccountError> {
            let client = scope.client.as_ref().ok_or(AccountError::NotFound)?;
            let mut team = Team::new(client.id, client.plan, &policy.plans, scope.members.clone());
            let from = team.change_plan(plan, &policy.plans).map_err(AccountError::PlanTooSmall)?;
            if from == plan {
                return Ok(Decision::nothing((plan, team.usage())));
            }
            let changes = Changes {
                audit: vec![AuditEvent {
                    id: audit_id,
                    at: now,
                    actor,
                    via_session: via,
                    client: Some(client.id),
                    client_email: Some(client.email.clone()),
                    agency: None,
                    request: None,
                    kind: AuditKind::PlanChanged { from, to: plan },
                }],
                set_plan: Some((client.id, plan)),
                ..Changes::default()
            };
            Ok(Decision { changes, outcome: (plan, team.usage()) })
        };
        Ok(self.ports.store().atomically(ScopeKey::Team { client: account }, Box::new(decide)).await?)
    }

    /// Websites of `account` (`websites.read`).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn websites(
        &self,
        p: &Principal,
        account: AccountId,
        q: Option<String>,
        page: &PageRequest,
    ) -> Result<Page<Website>, AccountError> {
        self.authorize(p, account, Permission::WebsitesRead).await?;
        Ok(self.ports.websites().list(account, q, page).await?)
    }

    /// Adds a website (`websites.manage`); it starts not connected.
    ///
    /// # Errors
    /// [`AccountError::DuplicateWebsite`].
    pub async fn add_website(
        &self,
        p: &Principal,
        account: AccountId,
        domain: DomainName,
    ) -> Result<Website, AccountError> {
        self.authorize(p, account, Permission::WebsitesManage).await?;
        let website = Website {
            id: self.id(),
            account_id: account,
            domain,
            connected: false,
            health: Health::Ok,
            created_at: self.now(),
        };
        match self.ports.websites().add(&website).await {
            Ok(()) => Ok(website),
            Err(StoreError::Conflict(_)) => Err(AccountError::DuplicateWebsite),
            Err(e) => Err(e.into()),
        }
    }

    /// The account's audit log, newest first (owner and Admin).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn audit_log(
        &self,
        p: &Principal,
        account: AccountId,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, AccountError> {
        self.authorize(p, account, Permission::TeamManage).await?;
        let owner = self.account(account).await?;
        Ok(self.ports.audit().for_client(owner.id, &owner.email, page).await?)
    }

    /// The account's settings document (`settings.manage`; `{}` until written).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn settings(&self, p: &Principal, account: AccountId) -> Result<SettingsDocument, AccountError> {
        self.authorize(p, account, Permission::SettingsManage).await?;
        Ok(self.ports.resources().settings(account).await?.unwrap_or_else(SettingsDocument::empty))
    }

    /// Replaces the account's settings (`settings.manage`).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn put_settings(
        &self,
        p: &Principal,
        account: AccountId,
        settings: SettingsDocument,
    ) -> Result<SettingsDocument, AccountError> {
        self.authorize(p, account, Permission::SettingsManage).await?;
        self.ports.resources().put_settings(account, &settings, self.now()).await?;
        Ok(settings)
    }

    /// The account's invoices, newest first (`billing.read`).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn invoices(
        &self,
        p: &Principal,
        account: AccountId,
        page: &PageRequest,
    ) -> Result<Page<Invoice>, AccountError> {
        self.authorize(p, account, Permission::BillingRead).await?;
        Ok(self.ports.resources().invoices(account, page).await?)
    }

    /// The account's analytics summary (`analytics.read`).
    ///
    /// # Errors
    /// [`AccountError`].
    pub async fn analytics(&self, p: &Principal, account: AccountId) -> Result<AnalyticsSummary, AccountError> {
        self.authorize(p, account, Permission::AnalyticsRead).await?;
        Ok(AnalyticsSummary::of(self.ports.resources().website_summary(account).await?))
    }

    // ----- Internal services ------------------------------------------------------

    /// Records an invoice reported by the billing system.
    ///
    /// # Errors
    /// [`AccountError`]: `NotFound` for an unknown account, `Invalid` for bad fields,
    /// `DuplicateInvoice` for a number the account has.
    pub async fn record_invoice(&self, p: &Principal, invoice: Invoice) -> Result<Invoice, AccountError> {
        p.enter(Area::Internal)?;
        invoice.validate().map_err(|e| AccountError::Invalid(e.to_string()))?;
        self.account(invoice.account_id).await?;
        match self.ports.resources().add_invoice(&invoice).await {
            Ok(()) => Ok(invoice),
            Err(StoreError::Conflict(_)) => Err(AccountError::DuplicateInvoice),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a website's health reported by an internal service.
    ///
    /// # Errors
    /// [`AccountError`]: `NotFound` for an unknown website.
    pub async fn report_website_status(
        &self,
        p: &Principal,
        id: WebsiteId,
        connected: bool,
        health: Health,
    ) -> Result<Website, AccountError> {
        p.enter(Area::Internal)?;
        self.ports.websites().update_status(id, connected, health, self.now()).await?.ok_or(AccountError::NotFound)
    }

    async fn team_actor(&self, p: &Principal, account: AccountId) -> Result<TeamActor, AccountError> {
        self.authorize(p, account, Permission::TeamManage).await?;
        let actor = p.actor().ok_or(Denied::Forbidden)?;
        Ok(TeamActor { account: actor, impersonating: matches!(p, Principal::Impersonation(_)) })
    }
}

/// Who acts on a team, re-checked against the locked scope.
#[derive(Debug, Clone, Copy)]
struct TeamActor {
    account: AccountId,
    impersonating: bool,
}

/// The locked client and its team, after re-checking inside the transaction that the
/// actor still manages the team (its membership may have changed since the check).
fn locked_team<'s>(scope: &'s Scope, policy: &Policy, actor: TeamActor) -> Result<(&'s Account, Team), AccountError> {
    let client = scope.client.as_ref().ok_or(AccountError::NotFound)?;
    let team = Team::new(client.id, client.plan, &policy.plans, scope.members.clone());
    let is_owner = actor.account == client.id && !actor.impersonating;
    let live_role = team.member_by_account(actor.account).map(|m| m.role);
    if !is_owner && !live_role.is_some_and(|r| r.permissions().contains(Permission::TeamManage)) {
        return Err(Denied::Forbidden.into());
    }
    Ok((client, team))
}

fn via_session(p: &Principal) -> Option<SessionId> {
    match p {
        Principal::Impersonation(i) => Some(i.session),
        _ => None,
    }
}

fn missing(what: &str) -> StoreError {
    StoreError::Internal(format!("scope is missing the {what}"))
}

fn client_slots(scope: &Scope, policy: &Policy) -> Option<SlotUsage> {
    scope.client.as_ref().map(|c| Team::new(c.id, c.plan, &policy.plans, scope.members.clone()).usage())
}

fn audit(
    id: AuditEventId,
    at: DateTime<Utc>,
    actor: Option<AccountId>,
    via_session: Option<SessionId>,
    client: Option<&Account>,
    request: &AccessRequest,
    kind: AuditKind,
) -> AuditEvent {
    AuditEvent {
        id,
        at,
        actor,
        via_session,
        client: client.map(|c| c.id).or(request.client_id()),
        client_email: Some(request.email().clone()),
        agency: Some(request.agency_id()),
        request: Some(request.id()),
        kind,
    }
}

/// The pure approval decision, once the request is known to be the caller's and open.
#[allow(clippy::type_complexity)]
fn decide_approval(
    scope: &Scope,
    client: &Account,
    mut request: AccessRequest,
    policy: &Policy,
    now: DateTime<Utc>,
    (member_id, audit_id, verify_id, mail_id): (MembershipId, AuditEventId, AuditEventId, OutboxMessageId),
    via_link: bool,
) -> Result<Decision<Result<Member, ApproveError>>, ApproveError> {
    let agency = scope.agency.as_ref().ok_or_else(|| missing("agency"))?;
    let mut team = Team::new(client.id, client.plan, &policy.plans, scope.members.clone());
    let member = Member {
        id: member_id,
        account_id: agency.id,
        email: agency.email.clone(),
        role: request.role(),
        origin: request.id(),
        since: now,
    };
    let verify = via_link && !client.email_verified;
    match team.admit(member.clone()) {
        Ok(()) => {}
        Err(TeamError::NoFreeTeamSlots(full)) => {
            // Refused, but the agency's row learns the client is blocked on slots,
            // and a link that proved the mailbox still verifies it.
            request.record_slot_block(now);
            let changes = Changes {
                update_request: Some(request),
                verify_email: verify.then_some(client.id),
                ..Changes::default()
            };
            return Ok(Decision { changes, outcome: Err(ApproveError::NoFreeTeamSlots(full)) });
        }
        Err(TeamError::AlreadyMember | TeamError::Owner) => return Err(ApproveError::AlreadyMember),
        Err(other) => return Err(ApproveError::Store(StoreError::Internal(other.to_string()))),
    }
    request.approve(client.id, now).map_err(|t| ApproveError::WrongState(t.from))?;
    let mut audit_events = Vec::with_capacity(2);
    if verify {
        audit_events.push(AuditEvent {
            id: verify_id,
            at: now,
            actor: Some(client.id),
            via_session: None,
            client: Some(client.id),
            client_email: Some(client.email.clone()),
            agency: None,
            request: Some(request.id()),
            kind: AuditKind::EmailVerified,
        });
    }
    audit_events.push(audit(
        audit_id,
        now,
        Some(client.id),
        None,
        Some(client),
        &request,
        AuditKind::RequestApproved { role: request.role(), member: member_id },
    ));
    let changes = Changes {
        audit: audit_events,
        emails: vec![OutgoingEmail {
            id: mail_id,
            to: agency.email.clone(),
            notification: Notification::RequestApproved { client_email: client.email.clone(), role: request.role() },
            request: None,
            created_at: now,
        }],
        update_request: Some(request),
        insert_member: Some((client.id, member.clone())),
        verify_email: verify.then_some(client.id),
        ..Changes::default()
    };
    Ok(Decision { changes, outcome: Ok(member) })
}
