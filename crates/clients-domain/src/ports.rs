//! Ports: everything the rules need from outside, as traits the adapters implement.
//!
//! Every port is `Send + Sync + 'static` so services can be shared across tasks.
//! Storage ports use `async-trait` (the services are generic, but adapters and mocks
//! read better with one style; see `docs/architecture.md`).
//!
//! Atomicity follows one pattern: [`AtomicStore::atomically`] loads a [`Scope`] with
//! the client account locked, runs a pure *decide* function on it, and commits the
//! [`Changes`] it returns in the same transaction. The adapter locks; the domain
//! decides. `decide` may run more than once (the adapter retries serialization
//! failures), so it must be a pure function of the scope and what it captured.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::{
    AccessRequest, AccessRequestId, Account, AccountId, AuditEvent, Email, Health, Invoice, Member, MembershipId,
    OutboxMessageId, OutgoingEmail, Password, PasswordHash, Plan, Role, Session, SessionId, SettingsDocument,
    SharedAccountStatus, SlotUsage, TOKEN_BYTES, TokenHash, Website, WebsiteId, WebsiteSummary,
};

/// A storage failure the rules cannot decide about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint fired (a concurrent writer got there first).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database is down, busy or kept failing after bounded retries (503).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a bug or corrupt data); logged, answered as 500.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Time source.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// Randomness: ids and token bytes. Production uses the OS CSPRNG.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Entropy: Send + Sync + 'static {
    /// A fresh unique id (time-ordered UUIDv7 in production).
    fn uuid(&self) -> Uuid;
    /// [`TOKEN_BYTES`] bytes from a CSPRNG.
    fn token_bytes(&self) -> [u8; TOKEN_BYTES];
}

/// Password hashing (argon2id in production).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    /// Hashes a new password.
    ///
    /// # Errors
    /// [`StoreError::Internal`] when the hasher fails.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, StoreError>;
    /// Whether `password` matches `hash`. Takes as long for a wrong password as for a
    /// right one.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> bool;
    /// A hash of no real password, verified against when the account does not exist so
    /// that sign-in takes the same time either way.
    fn dummy_hash(&self) -> PasswordHash;
}

/// Accounts and their credentials.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountRepository: Send + Sync + 'static {
    /// Stores a new account.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the email is taken.
    async fn create(&self, account: &Account, password: &PasswordHash) -> Result<(), StoreError>;
    /// The account with `email` and its password hash.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn credentials(&self, email: &Email) -> Result<Option<(Account, PasswordHash)>, StoreError>;
    /// The account `id`.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn find(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    /// The account with `email`.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn find_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError>;
}

/// Bearer sessions (only token hashes are stored).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Stores a session.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn insert(&self, session: &Session) -> Result<(), StoreError>;
    /// The session whose token hashes to `hash`, expired or not.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn find_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError>;
    /// As [`SessionRepository::find_by_token`], with the session's account: what every
    /// authenticated request needs, in one round trip where the adapter can join them.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn find_with_account(&self, hash: &TokenHash) -> Result<Option<(Session, Account)>, StoreError>;
    /// As [`SessionRepository::find_with_account`], with the version of the account's
    /// "Shared accounts" list read in the same statement: None when the adapter cannot
    /// vouch for it (see [`ListVersion`]).
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn find_with_list_version(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, Option<ListVersion>)>, StoreError>;
    /// Ends a session.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn delete(&self, id: SessionId) -> Result<(), StoreError>;
}

/// The version of an agency's "Shared accounts" list: equal versions, read at two
/// moments, prove that no row of the list and nothing any row shows (its client's
/// websites, plan, members) changed in between. A page rendered at the first moment
/// may be served again at the second. Opaque: only compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListVersion {
    rows: i64,
    removals: i64,
}

impl ListVersion {
    /// From the adapter's two counters: the newest row version and the count of rows
    /// removed.
    #[must_use]
    pub const fn new(rows: i64, removals: i64) -> Self {
        Self { rows, removals }
    }
}

/// Page size: 1 to 100, default 50.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

/// A page size outside 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("limit must be between 1 and 100")]
pub struct InvalidLimit;

impl Limit {
    /// Largest page.
    pub const MAX: u32 = 100;

    /// Checks a page size.
    ///
    /// # Errors
    /// [`InvalidLimit`] outside 1..=100.
    pub fn new(n: u32) -> Result<Self, InvalidLimit> {
        if (1..=Self::MAX).contains(&n) { Ok(Self(n)) } else { Err(InvalidLimit) }
    }

    /// The size.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(50)
    }
}

/// Where a page starts: an opaque cursor produced by the adapter that serves the list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    /// Page size.
    pub limit: Limit,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Cursor of the next page, `None` on the last.
    pub next_cursor: Option<String>,
}

/// A cursor the adapter cannot read (tampered with, or from another list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// Bad cursor (422).
    #[error("invalid cursor")]
    InvalidCursor,
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Filters of the agency's list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SharedAccountQuery {
    /// Substring of the client's email (case-insensitive).
    pub q: Option<String>,
    /// Only rows with this derived status (the adapter applies [`SharedAccountStatus::derive`]'s
    /// rule in its query; the contract tests hold it to the domain's answer).
    pub status: Option<SharedAccountStatus>,
    /// Paging.
    pub page: PageRequest,
}

/// What storage knows about one row of the agency's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedAccountRecord {
    /// The request.
    pub request: AccessRequest,
    /// The approving client's websites (zero before approval).
    pub websites: WebsiteSummary,
    /// The slots of the account owning the requested email, when one exists.
    pub client_slots: Option<SlotUsage>,
}

/// A request waiting for the client, with the agency that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// The request.
    pub request: AccessRequest,
    /// Its agency.
    pub agency: Account,
}

/// Reads of access requests (writes go through [`AtomicStore`]).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccessRequestRepository: Send + Sync + 'static {
    /// The request whose current grant link hashes to `hash`, with its agency.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn find_by_token(&self, hash: &TokenHash) -> Result<Option<PendingRequest>, StoreError>;
    /// Requests in state `requested` addressed to `email`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn pending_for(&self, email: &Email) -> Result<Vec<PendingRequest>, StoreError>;
    /// The agency's listed rows (requested, approved, declined), newest first.
    ///
    /// # Errors
    /// [`ListError`].
    async fn shared_accounts(
        &self,
        agency: AccountId,
        query: &SharedAccountQuery,
    ) -> Result<Page<SharedAccountRecord>, ListError>;
    /// One listed row of the agency (`None` for other agencies' ids and unlisted rows).
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn shared_account(
        &self,
        agency: AccountId,
        id: AccessRequestId,
    ) -> Result<Option<SharedAccountRecord>, StoreError>;
}

/// Reads of teams (writes go through [`AtomicStore`]).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TeamRepository: Send + Sync + 'static {
    /// The live role of `agency` in `client`'s team; checked on every request.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn member_role(&self, client: AccountId, agency: AccountId) -> Result<Option<Role>, StoreError>;
    /// The members of `client`'s team, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn members(&self, client: AccountId) -> Result<Vec<Member>, StoreError>;
}

/// Websites and their health.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WebsiteRepository: Send + Sync + 'static {
    /// Websites of `account` whose domain contains `q` (case-insensitive), by domain.
    ///
    /// # Errors
    /// [`ListError`].
    async fn list(&self, account: AccountId, q: Option<String>, page: &PageRequest)
    -> Result<Page<Website>, ListError>;
    /// Adds a website.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the account has it already.
    async fn add(&self, website: &Website) -> Result<(), StoreError>;
    /// Records reported health; returns the website, `None` when unknown.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn update_status(
        &self,
        id: WebsiteId,
        connected: bool,
        health: Health,
        at: DateTime<Utc>,
    ) -> Result<Option<Website>, StoreError>;
}

/// Reads of the audit log (writes go through [`AtomicStore`]).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditRepository: Send + Sync + 'static {
    /// Entries concerning `client` (by account, or by its email before it had one),
    /// newest first.
    ///
    /// # Errors
    /// [`ListError`].
    async fn for_client(
        &self,
        client: AccountId,
        email: &Email,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, ListError>;
}

/// Settings, invoices and the website summary of an account.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountResources: Send + Sync + 'static {
    /// The account's settings (`None`: never written).
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn settings(&self, account: AccountId) -> Result<Option<SettingsDocument>, StoreError>;
    /// Replaces the account's settings.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn put_settings(
        &self,
        account: AccountId,
        settings: &SettingsDocument,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The account's invoices, newest first.
    ///
    /// # Errors
    /// [`ListError`].
    async fn invoices(&self, account: AccountId, page: &PageRequest) -> Result<Page<Invoice>, ListError>;
    /// Records an invoice from the billing system.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the account has an invoice with that number.
    async fn add_invoice(&self, invoice: &Invoice) -> Result<(), StoreError>;
    /// The account's website counters.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn website_summary(&self, account: AccountId) -> Result<WebsiteSummary, StoreError>;
}

/// An outbox message claimed by a delivery worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedEmail {
    /// The message.
    pub email: OutgoingEmail,
    /// Attempts before this one.
    pub attempts: u32,
}

/// The delivery side of the email outbox (messages are added through [`AtomicStore`]).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Claims up to `limit` due messages for `lease` (a crashed worker's claim lapses),
    /// so that no two workers hold the same message.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease: TimeDelta,
    ) -> Result<Vec<ClaimedEmail>, StoreError>;
    /// The provider accepted them; each one's request's delivery becomes `sent`. One
    /// call for a round's sent messages: one write, whatever their number.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn mark_sent(&self, ids: &[OutboxMessageId], at: DateTime<Utc>) -> Result<(), StoreError>;
    /// A transient failure: try again at `next_attempt_at`.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn mark_retry(
        &self,
        id: OutboxMessageId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    /// A permanent failure; the request's delivery becomes `failed`.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    async fn mark_failed(&self, id: OutboxMessageId, at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;
}

/// What an atomic operation loads and locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKey {
    /// A new request from `agency` to `email`: loads the agency, its open request to
    /// that email (requested or approved) if any, the account with that email and its
    /// team if any (locked), and how many requests the address got in 24 hours.
    NewRequest {
        /// Requesting agency.
        agency: AccountId,
        /// Recipient.
        email: Email,
    },
    /// As [`ScopeKey::NewRequest`], from whoever holds the session whose token hashes
    /// to `session`: also loads that session ([`Scope::session`]), and takes the
    /// agency to be the session's account. The bearer is authenticated inside the
    /// write, in the same round trips; the decision must check the session.
    NewRequestAs {
        /// Hash of the presented session token.
        session: TokenHash,
        /// Recipient.
        email: Email,
    },
    /// The agency's own request `request` (absent for any other agency's id), the
    /// agency, and the account with the request's email and its team (locked).
    AgencyRequest {
        /// The agency asking.
        agency: AccountId,
        /// Its request.
        request: AccessRequestId,
    },
    /// The request `request` seen by the account `client` (locked, with its team), and
    /// the request's agency.
    ClientRequest {
        /// The signed-in client.
        client: AccountId,
        /// The request.
        request: AccessRequestId,
    },
    /// As [`ScopeKey::ClientRequest`], finding the request by its current grant link.
    ClientRequestByToken {
        /// The signed-in client.
        client: AccountId,
        /// Hash of the presented token.
        token: TokenHash,
    },
    /// The membership `member` of `client`'s team: the client (locked), its team, the
    /// membership's origin request and its agency.
    Member {
        /// The client account.
        client: AccountId,
        /// The membership.
        member: MembershipId,
    },
    /// The account `client` (locked) and its team.
    Team {
        /// The client account.
        client: AccountId,
    },
}

/// What [`AtomicStore::atomically`] loaded; which parts are present depends on the
/// [`ScopeKey`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// The agency concerned.
    pub agency: Option<Account>,
    /// The client account (locked for the transaction).
    pub client: Option<Account>,
    /// The client's team members (the plan is on `client`).
    pub members: Vec<Member>,
    /// The request concerned.
    pub request: Option<AccessRequest>,
    /// Creation times of the requests the recipient got in the last 24 hours, from all
    /// agencies ([`ScopeKey::NewRequest`]).
    pub recipient_recent: Vec<DateTime<Utc>>,
    /// The session presented ([`ScopeKey::NewRequestAs`]), if one has that token;
    /// whether it is live and whose it is are for the decision to check.
    pub session: Option<Session>,
}

/// The writes a decision asks for; the adapter applies all of them or none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// A new request.
    pub insert_request: Option<AccessRequest>,
    /// A changed request (matched by id).
    pub update_request: Option<AccessRequest>,
    /// A new membership in `client`'s team: `(client, member)`.
    pub insert_member: Option<(AccountId, Member)>,
    /// A changed membership (matched by id).
    pub update_member: Option<Member>,
    /// A membership to delete.
    pub delete_member: Option<MembershipId>,
    /// A plan change: `(account, plan)`.
    pub set_plan: Option<(AccountId, Plan)>,
    /// Mark this account's email verified.
    pub verify_email: Option<AccountId>,
    /// A new session ("Log in as").
    pub insert_session: Option<Session>,
    /// Audit entries.
    pub audit: Vec<AuditEvent>,
    /// Emails for the outbox.
    pub emails: Vec<OutgoingEmail>,
}

/// A decision: the writes, and what the operation returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<T> {
    /// Writes to commit.
    pub changes: Changes,
    /// Result for the caller.
    pub outcome: T,
}

impl<T> Decision<T> {
    /// A decision that writes nothing (an idempotent repeat).
    pub fn nothing(outcome: T) -> Self {
        Self { changes: Changes::default(), outcome }
    }
}

/// An atomic operation that did not commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtomicError<E> {
    /// The decision refused; nothing was written.
    #[error("refused: {0}")]
    Refused(E),
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Store(StoreError),
}

/// The pure function an atomic operation runs on its locked [`Scope`]. Any
/// `Fn(&Scope) -> Result<Decision<T>, E> + Send + Sync` closure is one.
pub trait Decide<T, E>: Send + Sync {
    /// Decides what to write, or refuses.
    ///
    /// # Errors
    /// The operation's own refusal.
    fn decide(&self, scope: &Scope) -> Result<Decision<T>, E>;
}

impl<T, E, F> Decide<T, E> for F
where
    F: Fn(&Scope) -> Result<Decision<T>, E> + Send + Sync,
{
    fn decide(&self, scope: &Scope) -> Result<Decision<T>, E> {
        self(scope)
    }
}

/// Load, decide, save in one transaction.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AtomicStore: Send + Sync + 'static {
    /// Loads and locks `key`'s [`Scope`], runs `decide`, and commits its [`Changes`] in
    /// the same transaction. Serialization failures and lock time-outs are retried a
    /// bounded number of times, re-running `decide` on fresh data.
    ///
    /// # Errors
    /// [`AtomicError::Refused`] with `decide`'s error (nothing written);
    /// [`AtomicError::Store`] when storage fails (nothing written).
    async fn atomically<T, E>(&self, key: ScopeKey, decide: Box<dyn Decide<T, E>>) -> Result<T, AtomicError<E>>
    where
        T: Send + 'static,
        E: Send + 'static;
}
