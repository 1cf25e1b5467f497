//! New requests, written in batches (group commit), like the health reports.
//!
//! A new request is the write agencies make most, often many at once (an agency
//! inviting its clients). Each one alone is a whole transaction: the recipient's lock,
//! five reads, three single-row inserts and a commit; on SQLite every insert into
//! `access_requests` also flushes the FTS5 search index, whose cost is per statement,
//! not per row. So a new request joins a queue; when no writer is busy it starts one,
//! and so it does when fewer than the backend's writers (one on SQLite,
//! [`POSTGRES_WRITERS`] on PostgreSQL) are busy and enough requests wait to share
//! ([`SHARED_BATCH_MIN`]). A writer is a task that takes the queue's oldest requests
//! (up to [`MAX_BATCH`]), reads all their scopes with a few statements whatever their
//! number, runs each request's decision in order, writes every decided row with one
//! multi-row insert per table (one script, see `tx::Script`), and commits; then the
//! next batch, until the queue holds nothing it may take.
//!
//! What each caller sees is unchanged: its own decision on its own locked scope, and
//! an answer only once its batch has committed. A batch never holds two requests to
//! one recipient address, nor one to an address of another writer's batch (such a
//! request, and every later one to its address, waits for a later batch, in order),
//! so every decision reads only rows committed before its batch or its own: the
//! duplicate check and the recipient's daily cap see every earlier request, exactly
//! as one transaction per request did. A batch commits or fails as a whole; a
//! transient failure is retried as a batch, any other one makes each request of the
//! batch try again alone, so that one request's conflict is answered to it only.
//!
//! A request names its agency, or the session token its caller presented ([`By`]):
//! the batch then reads those sessions with one statement, takes each request's
//! agency from its session, and leaves it to the decision to check the session
//! (`ScopeKey::NewRequestAs`; the HTTP layer saves a round trip per request).
//!
//! On SQLite the batch's reads go as one script, and so do its inserts (one hand-off
//! each to the connection's thread, see `tx::Script`): under load the writer's chain
//! of hand-offs, not the statements' work, set the pace (`docs/performance.md`,
//! round 15).
//!
//! PostgreSQL locks the batch's recipient addresses (advisory locks, in one order) and
//! holds the agency and client rows `FOR SHARE`, as a single new request does.
//!
//! On PostgreSQL the batch's reads have one text whatever the batch's size: they bind
//! each list as one array parameter (`= ANY($1)`), and their plans are generic (see
//! [`PG_LOCK_RECIPIENTS`]). The driver prepares each once per connection and the
//! server plans each once. With an `IN (…)` list per size, every size was a new text,
//! prepared with a round trip of its own, and planned on every run, which cost more
//! than running the reads (`pg_stat_statements` under `cargo xtask bench --only
//! new_request`: 0.5–0.6 s of planning against ~0.25 s of execution for the four reads,
//! about 40 µs a request; docs/performance.md, round 12).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::PoisonError;

use chrono::{DateTime, Utc};
use clients_domain::ports::{AtomicError, Changes, Decide, Decision, Scope, ScopeKey, StoreError};
use clients_domain::{AccountId, Email, TokenHash};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait as _, FromQueryResult as _, QueryResult, Statement, Value};
use tokio::sync::oneshot;

use crate::Store;
use crate::entities::{access_request, account, membership, session};
use crate::errors::Failure;
use crate::mapping::{account_from, member_from, request_from, session_from};
use crate::tx::{Script, TxError};

/// Most new requests one batch writes.
const MAX_BATCH: usize = 64;

/// Most batches written at once on PostgreSQL. A batch is about six round trips, each
/// waiting on the server; with one batch at a time the machine sat ~60 % idle under a
/// stream of new requests (`vmstat` during `cargo xtask bench --only new_request`).
/// SQLite has one writer at a time: one batch.
const POSTGRES_WRITERS: usize = 4;

/// How many requests must be waiting for a writer to start beside one already
/// running, or to go on beside another one: fewer are left to the writer(s) at work,
/// which take them with their next batch. A batch costs its round trips whatever its
/// size; when every request that found a writer free started one, half the batches
/// held a single request, and a new request cost a third more than with this rule
/// (round 16, docs/performance.md). With no writer running, one starts at once, so a
/// lone request waits for nothing.
const SHARED_BATCH_MIN: usize = 16;

/// How many of the recipient's newest requests a new request's scope carries. The
/// domain counts those inside its own 24-hour window; the newest 1,000 hold every
/// request that window can contain for any daily cap up to 1,000.
const RECIPIENT_RECENT_LIMIT: u64 = 1_000;

/// The open states, written into the statement as literals: the partial unique index
/// `access_requests_open_unique (agency_id, email) WHERE state IN ('requested',
/// 'approved')` serves a lookup only when the planner can see that the query implies
/// that condition, which it cannot for bound parameters (SQLite then picked another
/// index on `agency_id` and read every row of the agency: 5 ms instead of 0.02 ms).
/// A macro, so that [`PG_RECIPIENT_REQUESTS`] can `concat!` it.
macro_rules! open_states_sql {
    () => {
        "state IN ('requested', 'approved')"
    };
}
const OPEN_STATES_SQL: &str = open_states_sql!();
/// The same states, to pick the open requests from rows read ([`PG_RECIPIENT_REQUESTS`]).
const OPEN_STATES: [&str; 2] = ["requested", "approved"];

/// PostgreSQL's scope reads, each one text for any batch size (see the module's
/// documentation); the SQLite forms are built by sea-query with `IN (…)` lists.
///
/// The recipients' advisory locks serialise transactions that concern the same
/// addresses until commit, whether or not an account has an address yet; they are
/// taken in one order (ascending key), so two batches never wait in a cycle. SQLite
/// needs none: a batch holds the database's write lock.
///
/// The lock statement also sets `plan_cache_mode` for the rest of the transaction
/// (`SET LOCAL`, without a round trip of its own). A prepared statement's first five
/// runs are planned for their values, and then for good whenever the plan for any
/// values looks costlier, which a plan for an array of unknown length always does: the
/// reads were planned on every run. Their generic plans are the plans wanted (index
/// probes per element; docs/performance.md, round 12).
///
/// The same statement reads the sessions presented (`$2`, none for a batch of agencies
/// alone): they are not what the locks guard, so they need not wait for them, and the
/// batch saves a round trip. The locks are a materialized `WITH` query, counted before
/// the sessions are joined, so they are taken whether or not any session is asked for
/// or found; the statement answers one row with no session when none is.
const PG_LOCK_RECIPIENTS: &str = "WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(17228, k), \
    set_config('plan_cache_mode', 'force_generic_plan', true) FROM \
    (SELECT DISTINCT hashtext(e) AS k FROM unnest($1::text[]) AS v (e)) AS keys ORDER BY k) \
    SELECT s.* FROM (SELECT count(*) FROM locked) AS l (n) \
    LEFT JOIN sessions AS s ON s.token_hash = ANY($2::bytea[])";
/// The agency and client rows, `FOR SHARE`: see `atomic` (a new request changes
/// neither account).
const PG_SCOPE_ACCOUNTS: &str =
    "SELECT * FROM accounts WHERE id = ANY($1::uuid[]) OR email = ANY($2::text[]) ORDER BY id FOR SHARE";
/// The requests a batch's decisions read, in one statement: each recipient's newest
/// (`n` up to [`RECIPIENT_RECENT_LIMIT`], from every agency: the daily cap) and the
/// open requests of the batch's agencies to them (the duplicate check), whatever
/// their age.
const PG_RECIPIENT_REQUESTS: &str = concat!(
    "SELECT * FROM (SELECT r.*, row_number() OVER (PARTITION BY email ORDER BY created_at DESC) AS n \
     FROM access_requests AS r WHERE email = ANY($2::text[])) AS r \
     WHERE n <= $3 OR (agency_id = ANY($1::uuid[]) AND ",
    open_states_sql!(),
    ")"
);
const PG_MEMBERS: &str = "SELECT * FROM memberships WHERE client_id = ANY($1::uuid[]) ORDER BY since, id";

/// Who asks for a new request: an agency already authenticated, or the bearer of a
/// session token, resolved inside the batch ([`ScopeKey::NewRequestAs`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum By {
    /// The agency with this id.
    Agency(AccountId),
    /// Whoever holds the session whose token hashes to this.
    Session(TokenHash),
}

impl By {
    /// Who asks and to whom, for the keys of new requests (`None` for any other key).
    pub(crate) fn of(key: &ScopeKey) -> Option<(By, Email)> {
        match key {
            ScopeKey::NewRequest { agency, email } => Some((By::Agency(*agency), email.clone())),
            ScopeKey::NewRequestAs { session, email } => Some((By::Session(*session), email.clone())),
            _ => None,
        }
    }
}

/// One array parameter of `values` (PostgreSQL only).
fn array<T>(values: Vec<T>) -> Value
where
    T: Into<Value> + sea_orm::sea_query::ValueType + sea_orm::sea_query::value::postgres_array::NotU8,
{
    Value::from(values)
}

/// New requests waiting for a batch, and the batches being written.
#[derive(Default)]
pub(crate) struct NewRequestQueue {
    waiting: VecDeque<Box<dyn Waiting>>,
    /// Tasks writing batches.
    writers: usize,
    /// The recipient addresses of the batches being written.
    in_flight: HashSet<Email>,
}

impl NewRequestQueue {
    /// Queues `job`; whether the caller is to start a writer for it (counted already):
    /// when none runs, or fewer than `most` do and [`SHARED_BATCH_MIN`] requests wait.
    fn join(&mut self, job: Box<dyn Waiting>, most: usize) -> bool {
        self.waiting.push_back(job);
        let start = self.writers == 0 || (self.writers < most && self.waiting.len() >= SHARED_BATCH_MIN);
        self.writers += usize::from(start);
        start
    }

    /// A writer's next batch, once the addresses of its last one (`done`) are released;
    /// empty when the writer is to stop (counted already): nothing it may take is left,
    /// or another writer runs and fewer than [`SHARED_BATCH_MIN`] requests wait (that
    /// writer takes them). The last writer never leaves a request behind.
    fn next_for_writer(&mut self, done: &mut Vec<Email>) -> Vec<Box<dyn Waiting>> {
        for email in done.drain(..) {
            self.in_flight.remove(&email);
        }
        let batch = if self.writers > 1 && self.waiting.len() < SHARED_BATCH_MIN {
            vec![]
        } else {
            next_batch(&mut self.waiting, &mut self.in_flight)
        };
        if batch.is_empty() {
            self.writers -= 1;
        }
        batch
    }
}

impl std::fmt::Debug for NewRequestQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRequestQueue")
            .field("waiting", &self.waiting.len())
            .field("writers", &self.writers)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

/// A queued new request, its decision's types erased.
trait Waiting: Send + Sync {
    fn by(&self) -> By;
    fn email(&self) -> &Email;
    /// Runs the decision on `scope`: the changes to write when it decided to write
    /// (its outcome or refusal is kept for [`Waiting::answer`]).
    fn decide(&self, scope: &Scope) -> Option<Changes>;
    /// Answers the caller: the kept outcome or refusal once the batch committed, the
    /// store's error when it did not.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Job<T, E> {
    by: By,
    email: Email,
    decide: Box<dyn Decide<T, E>>,
    decided: std::sync::Mutex<Option<Result<T, E>>>,
    reply: oneshot::Sender<Result<T, AtomicError<E>>>,
}

impl<T: Send + 'static, E: Send + 'static> Waiting for Job<T, E> {
    fn by(&self) -> By {
        self.by
    }

    fn email(&self) -> &Email {
        &self.email
    }

    fn decide(&self, scope: &Scope) -> Option<Changes> {
        let (decided, changes) = match self.decide.decide(scope) {
            Ok(Decision { changes, outcome }) => (Ok(outcome), Some(changes)),
            Err(refusal) => (Err(refusal), None),
        };
        *self.decided.lock().unwrap_or_else(PoisonError::into_inner) = Some(decided);
        changes
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let decided = self.decided.into_inner().unwrap_or_else(PoisonError::into_inner);
        let answer = match (committed, decided) {
            (Ok(()), Some(Ok(outcome))) => Ok(outcome),
            (Ok(()), Some(Err(refusal))) => Err(AtomicError::Refused(refusal)),
            (Ok(()), None) => Err(AtomicError::Store(StoreError::Internal("a batched request was not decided".into()))),
            (Err(e), _) => Err(AtomicError::Store(e)),
        };
        // The caller may have gone (its connection closed); what committed stays.
        let _gone = self.reply.send(answer);
    }
}

/// The queue's oldest requests, up to [`MAX_BATCH`], at most one per address and none
/// to an address of a batch being written (`in_flight`); the batch's addresses join
/// `in_flight`. A request passed over keeps its place, and so does every later one
/// to its address: requests to one address are decided in the order they came.
fn next_batch(waiting: &mut VecDeque<Box<dyn Waiting>>, in_flight: &mut HashSet<Email>) -> Vec<Box<dyn Waiting>> {
    let mut passed_over: HashSet<Email> = HashSet::new();
    let mut batch = Vec::new();
    let mut kept = VecDeque::with_capacity(waiting.len());
    for w in waiting.drain(..) {
        if batch.len() < MAX_BATCH && !passed_over.contains(w.email()) && !in_flight.contains(w.email()) {
            in_flight.insert(w.email().clone());
            batch.push(w);
        } else {
            passed_over.insert(w.email().clone());
            kept.push_back(w);
        }
    }
    *waiting = kept;
    batch
}

/// A batch writer's place: however its task ends (a panic included), the addresses
/// it holds leave `in_flight` and the writer count drops; requests still waiting then
/// get a writer of their own rather than waiting for the next new request.
struct WriterPlace {
    store: Store,
    /// The addresses of the batch being written.
    holding: Vec<Email>,
    /// Set once the writer has left the queue in order by itself.
    left: bool,
}

impl Drop for WriterPlace {
    fn drop(&mut self) {
        if self.left {
            return;
        }
        let restart = {
            let mut queue = self.store.inner.new_requests.lock().unwrap_or_else(PoisonError::into_inner);
            for email in self.holding.drain(..) {
                queue.in_flight.remove(&email);
            }
            let restart = !queue.waiting.is_empty();
            if !restart {
                queue.writers -= 1;
            }
            restart
        };
        if restart {
            self.store.spawn_writer(self.store.clone().drain_new_requests());
        }
    }
}

impl Store {
    /// Queues a new request from `by` to `email` for the next batch and waits for the
    /// batch to commit.
    pub(crate) async fn new_request<T, E>(
        &self,
        by: By,
        email: Email,
        decide: Box<dyn Decide<T, E>>,
    ) -> Result<T, AtomicError<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job { by, email, decide, decided: std::sync::Mutex::new(None), reply };
        let writers = if self.backend() == DbBackend::Postgres { POSTGRES_WRITERS } else { 1 };
        let start = self.inner.new_requests.lock().unwrap_or_else(PoisonError::into_inner).join(Box::new(job), writers);
        if start {
            self.spawn_writer(self.clone().drain_new_requests());
        }
        answer.await.map_err(|_| AtomicError::Store(StoreError::Unavailable("the request was not written".into())))?
    }

    /// Writes queued requests, batch after batch, until none is left that another
    /// writer's batch does not hold back (that writer takes it next), or another writer
    /// runs and too few wait to share (see [`NewRequestQueue::next_for_writer`]).
    async fn drain_new_requests(self) {
        let mut place = WriterPlace { store: self.clone(), holding: vec![], left: false };
        loop {
            let batch = self
                .inner
                .new_requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .next_for_writer(&mut place.holding);
            if batch.is_empty() {
                place.left = true;
                return;
            }
            place.holding.extend(batch.iter().map(|w| w.email().clone()));
            match self.retrying("new requests", || self.new_requests_attempt(&batch)).await {
                Ok(()) => batch.into_iter().for_each(|w| w.answer(Ok(()))),
                Err(e) if batch.len() > 1 && !matches!(e, TxError::Db(Failure::Transient(_))) => {
                    // Which request failed is not known: each tries again alone.
                    tracing::debug!(error = ?e, size = batch.len(), "a batch of new requests failed; writing them one by one");
                    for w in batch {
                        let one = [w];
                        let outcome = self.retrying("new request", || self.new_requests_attempt(&one)).await;
                        one.into_iter().for_each(|w| w.answer(outcome_of(&outcome)));
                    }
                }
                Err(e) => {
                    let e = outcome_of(&Err(e));
                    batch.into_iter().for_each(|w| w.answer(e.clone()));
                }
            }
        }
    }

    /// One try of a batch: lock, read every scope, decide each request in order, write
    /// what they decided, commit. On an SQLite file, on the writer's held connection
    /// (see `held`).
    async fn new_requests_attempt(&self, batch: &[Box<dyn Waiting>]) -> Result<(), TxError<()>> {
        let t0 = std::time::Instant::now();
        let (handed, timings) = if let Some(held) = &self.inner.held {
            let _turn = self.write_turn().await?;
            let tx = held.begin().await?;
            let (script, handed, mut timings) = self.batch_writes(&tx, batch, t0).await?;
            // The inserts go with the COMMIT: `written` is where they leave.
            tx.commit_after(script.into_statement()).await?;
            timings.push(t0.elapsed());
            (handed, timings)
        } else {
            let tx = self.begin_write().await?;
            let (mut script, handed, mut timings) = self.batch_writes(&*tx, batch, t0).await?;
            script.run(&*tx).await?;
            tx.commit().await?;
            timings.push(t0.elapsed());
            (handed, timings)
        };
        self.hand_off(handed);
        // Cumulative microseconds at the end of each step: where the write lock's time
        // goes (RUST_LOG=clients_persistence::batches=debug). `written` is where the
        // rows are built (and on PostgreSQL inserted); on SQLite the inserts go with the
        // COMMIT, and on the held connection `BEGIN` goes with the reads.
        let us = |k: usize| timings.get(k).map_or(0, std::time::Duration::as_micros);
        tracing::debug!(
            target: "clients_persistence::batches",
            size = batch.len(),
            begun_us = us(0),
            read_us = us(1),
            decided_us = us(2),
            written_us = us(3),
            committed_us = us(4),
            "new-request batch"
        );
        Ok(())
    }

    /// A batch's work inside its transaction `tx`: read every scope, decide each
    /// request in order, write what they decided but the last script (the caller runs
    /// it, with the COMMIT where it can). That script, the emails to hand off once the
    /// batch commits, and the time since `t0` at the start and the end of each step.
    async fn batch_writes<C: ConnectionTrait>(
        &self,
        tx: &C,
        batch: &[Box<dyn Waiting>],
        t0: std::time::Instant,
    ) -> Result<BatchWrites, TxError<()>> {
        let mut timings = vec![t0.elapsed()];
        let keys: Vec<(By, Email)> = batch.iter().map(|w| (w.by(), w.email().clone())).collect();
        let mut scopes = self.new_request_scopes(tx, &keys).await?;
        timings.push(t0.elapsed());
        let mut changes = Vec::with_capacity(batch.len());
        for (w, scope) in batch.iter().zip(scopes.drain(..)) {
            changes.extend(w.decide(&scope));
        }
        timings.push(t0.elapsed());
        let (script, handed) = self.apply_all_but_last(tx, &changes).await?;
        timings.push(t0.elapsed());
        Ok((script, handed, timings))
    }

    /// The scope of each new request of a batch (no two to one address), in order.
    pub(crate) async fn new_request_scopes<C: ConnectionTrait>(
        &self,
        tx: &C,
        keys: &[(By, Email)],
    ) -> Result<Vec<Scope>, Failure> {
        let rows =
            if self.is_postgres() { self.pg_scope_rows(tx, keys).await? } else { sqlite_scope_rows(tx, keys).await? };
        let ScopeRows { sessions, accounts, open, recent, members: member_rows } = rows;
        let by_id: HashMap<uuid::Uuid, &account::Model> = accounts.iter().map(|a| (a.id, a)).collect();
        let by_email: HashMap<&str, &account::Model> = accounts.iter().map(|a| (a.email.as_str(), a)).collect();
        let mut members: HashMap<uuid::Uuid, Vec<clients_domain::Member>> = HashMap::new();
        for row in &member_rows {
            members.entry(row.client_id).or_default().push(member_from(row)?);
        }
        keys.iter()
            .zip(resolve(keys, &sessions))
            .map(|((_, email), (agency, session))| {
                let client = by_email.get(email.as_str()).map(|a| account_from(a)).transpose()?;
                let request = open
                    .iter()
                    .find(|r| Some(r.agency_id) == agency && r.email == email.as_str())
                    .map(request_from)
                    .transpose()?;
                Ok(Scope {
                    session,
                    agency: agency.and_then(|a| by_id.get(&a)).map(|a| account_from(a)).transpose()?,
                    members: client.as_ref().and_then(|c| members.remove(&c.id.as_uuid())).unwrap_or_default(),
                    client,
                    request,
                    recipient_recent: recent.get(email.as_str()).cloned().unwrap_or_default(),
                })
            })
            .collect()
    }

    /// PostgreSQL: the rows of a batch's scopes, each list bound as one array (see the
    /// module), in three statements (four when a recipient has an account): the
    /// recipients' locks with the sessions presented, the accounts, the recipients'
    /// requests (recent and open ones together), and the members of their teams.
    async fn pg_scope_rows<C: ConnectionTrait>(&self, tx: &C, keys: &[(By, Email)]) -> Result<ScopeRows, Failure> {
        let addresses = array(keys.iter().map(|(_, e)| e.as_str().to_owned()).collect::<Vec<_>>());
        // The recipients' locks, first, and the sessions presented
        // ([`PG_LOCK_RECIPIENTS`]). Volatile functions in the select list are evaluated
        // after ORDER BY.
        let mut rows = vec![];
        for row in tx.query_all_raw(self.stmt(PG_LOCK_RECIPIENTS, [addresses.clone(), array(presented(keys))])).await? {
            if row.try_get::<Option<Vec<u8>>>("", "token_hash")?.is_some() {
                rows.push(session::Model::from_query_result(&row, "")?);
            }
        }
        let sessions = sessions_by_hash(&rows)?;
        let agencies: HashSet<uuid::Uuid> = keys.iter().filter_map(|(by, _)| agency_of(*by, &sessions)).collect();
        let ids = array(agencies.iter().copied().collect::<Vec<_>>());
        let accounts = account::Entity::find()
            .from_raw_sql(self.stmt(PG_SCOPE_ACCOUNTS, [ids.clone(), addresses.clone()]))
            .all(tx)
            .await?;
        let most = i64::try_from(RECIPIENT_RECENT_LIMIT).unwrap_or(i64::MAX);
        let (mut open, mut recent) = (vec![], HashMap::<String, Vec<DateTime<Utc>>>::new());
        for row in tx.query_all_raw(self.stmt(PG_RECIPIENT_REQUESTS, [ids, addresses, Value::from(most)])).await? {
            let request = access_request::Model::from_query_result(&row, "")?;
            if row.try_get::<i64>("", "n")? <= most {
                recent.entry(request.email.clone()).or_default().push(request.created_at);
            }
            if agencies.contains(&request.agency_id) && OPEN_STATES.contains(&request.state.as_str()) {
                open.push(request);
            }
        }
        let clients: Vec<uuid::Uuid> =
            accounts.iter().filter(|a| keys.iter().any(|(_, e)| e.as_str() == a.email)).map(|a| a.id).collect();
        let members = if clients.is_empty() {
            vec![]
        } else {
            membership::Entity::find().from_raw_sql(self.stmt(PG_MEMBERS, [array(clients)])).all(tx).await?
        };
        Ok(ScopeRows { sessions, accounts, open, recent, members })
    }
}

/// What [`Store::batch_writes`] leaves to its caller: the last script, the emails to
/// hand off, the timings.
type BatchWrites = (Script, Vec<(clients_domain::OutgoingEmail, DateTime<Utc>)>, Vec<std::time::Duration>);

/// The rows a batch's scopes are made of.
struct ScopeRows {
    /// The sessions presented ([`By::Session`]), by token hash.
    sessions: HashMap<[u8; 32], clients_domain::Session>,
    /// The agencies and the recipients' accounts.
    accounts: Vec<account::Model>,
    /// The open requests of the agencies to the recipients.
    open: Vec<access_request::Model>,
    /// Creation times of each recipient's newest requests, from every agency.
    recent: HashMap<String, Vec<DateTime<Utc>>>,
    /// The members of the recipients' teams, oldest first.
    members: Vec<membership::Model>,
}

/// The token hashes that a batch's [`By::Session`] requests present, each once (a
/// batch is mostly one agency's, under one session).
fn presented(keys: &[(By, Email)]) -> Vec<Vec<u8>> {
    keys.iter()
        .filter_map(|(by, _)| match by {
            By::Session(h) => Some(*h.as_bytes()),
            By::Agency(_) => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .map(Vec::from)
        .collect()
}

fn sessions_by_hash(rows: &[session::Model]) -> Result<HashMap<[u8; 32], clients_domain::Session>, Failure> {
    rows.iter().map(|row| session_from(row).map(|s| (*s.token_hash.as_bytes(), s))).collect()
}

/// Each request's agency (its own, or the presented session's account) and the session
/// it presented.
fn resolve(
    keys: &[(By, Email)],
    sessions: &HashMap<[u8; 32], clients_domain::Session>,
) -> Vec<(Option<uuid::Uuid>, Option<clients_domain::Session>)> {
    keys.iter()
        .map(|(by, _)| {
            let session = match by {
                By::Agency(_) => None,
                By::Session(h) => sessions.get(h.as_bytes()).cloned(),
            };
            (agency_of(*by, sessions), session)
        })
        .collect()
}

/// The agency a request is asked for by: its own, or the presented session's account.
fn agency_of(by: By, sessions: &HashMap<[u8; 32], clients_domain::Session>) -> Option<uuid::Uuid> {
    match by {
        By::Agency(a) => Some(a.as_uuid()),
        By::Session(h) => sessions.get(h.as_bytes()).map(|s| s.account_id.as_uuid()),
    }
}

/// The creation times of the newest requests (from every agency) of each address that
/// `filter` lets through (`email {filter}`), as many as a single new request reads,
/// selecting `columns`.
fn recent_requests(columns: &str, filter: &str) -> String {
    format!(
        "SELECT {columns} FROM (SELECT email, created_at, \
         row_number() OVER (PARTITION BY email ORDER BY created_at DESC) AS n \
         FROM access_requests WHERE email {filter}) AS r WHERE n <= {RECIPIENT_RECENT_LIMIT}"
    )
}

fn recent_by_email(rows: Vec<QueryResult>) -> Result<HashMap<String, Vec<DateTime<Utc>>>, Failure> {
    let mut recent: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for row in rows {
        let email: String = row.try_get("", "email")?;
        let at: DateTime<Utc> = row.try_get("", "created_at")?;
        recent.entry(email).or_default().push(at);
    }
    Ok(recent)
}

/// `n` SQLite parameters, for an `IN (…)` list (SQLite accepts an empty one).
fn qs(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The SQLite reads of a batch's scopes, each a statement and its values, sent as one
/// script: one hand-off to the connection's thread for all of them (see
/// [`crate::tx::Script`]). Each row says which read it answers (`k`). The agencies of
/// presented sessions are read by subqueries, so no read waits for another's answer.
fn sqlite_scope_reads(keys: &[(By, Email)]) -> Vec<(String, Vec<Value>)> {
    let emails: Vec<Value> = keys.iter().map(|(_, e)| Value::from(e.as_str())).collect();
    let hashes: Vec<Value> = presented(keys).into_iter().map(Value::from).collect();
    let direct: Vec<Value> = keys
        .iter()
        .filter_map(|(by, _)| match by {
            By::Agency(a) => Some(a.as_uuid()),
            By::Session(_) => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .map(Value::from)
        .collect();
    let of_sessions = format!("SELECT account_id FROM sessions WHERE token_hash IN ({})", qs(hashes.len()));
    let (agencies, agency_values): (String, Vec<Value>) = match (hashes.is_empty(), direct.is_empty()) {
        (true, _) => (format!("IN ({})", qs(direct.len())), direct),
        (false, true) => (format!("IN ({of_sessions})"), hashes.clone()),
        (false, false) => (
            format!("IN ({of_sessions} UNION VALUES {})", vec!["(?)"; direct.len()].join(", ")),
            hashes.iter().cloned().chain(direct).collect(),
        ),
    };
    let to = qs(emails.len());
    let with_emails = |mut values: Vec<Value>| {
        values.extend(emails.iter().cloned());
        values
    };
    let mut reads = Vec::new();
    if !hashes.is_empty() {
        reads.push((format!("SELECT 's' AS k, * FROM sessions WHERE token_hash IN ({})", qs(hashes.len())), hashes));
    }
    reads.push((
        format!("SELECT 'a' AS k, * FROM accounts WHERE id {agencies} OR email IN ({to}) ORDER BY id"),
        with_emails(agency_values.clone()),
    ));
    reads.push((
        format!(
            "SELECT 'o' AS k, * FROM access_requests WHERE agency_id {agencies} AND email IN ({to}) \
             AND {OPEN_STATES_SQL}"
        ),
        with_emails(agency_values),
    ));
    reads.push((recent_requests("'r' AS k, email, created_at", &format!("IN ({to})")), with_emails(vec![])));
    reads.push((
        format!(
            "SELECT 'm' AS k, * FROM memberships WHERE client_id IN (SELECT id FROM accounts WHERE email IN ({to})) \
             ORDER BY since, id"
        ),
        with_emails(vec![]),
    ));
    reads
}

/// SQLite: the rows of a batch's scopes, read by one script (no locks: the batch holds
/// the database's write lock).
async fn sqlite_scope_rows<C: ConnectionTrait>(tx: &C, keys: &[(By, Email)]) -> Result<ScopeRows, Failure> {
    let (sql, values): (Vec<String>, Vec<Vec<Value>>) = sqlite_scope_reads(keys).into_iter().unzip();
    let script = Statement::from_sql_and_values(DbBackend::Sqlite, sql.join(";\n"), values.concat());
    let mut sessions = Vec::new();
    let mut rows =
        ScopeRows { sessions: HashMap::new(), accounts: vec![], open: vec![], recent: HashMap::new(), members: vec![] };
    let mut recent = Vec::new();
    for row in tx.query_all_raw(script).await? {
        let kind: String = row.try_get("", "k")?;
        match kind.as_str() {
            "s" => sessions.push(session::Model::from_query_result(&row, "")?),
            "a" => rows.accounts.push(account::Model::from_query_result(&row, "")?),
            "o" => rows.open.push(access_request::Model::from_query_result(&row, "")?),
            "r" => recent.push(row),
            "m" => rows.members.push(membership::Model::from_query_result(&row, "")?),
            other => return Err(Failure::Internal(format!("scope read answered an unknown kind {other:?}"))),
        }
    }
    rows.sessions = sessions_by_hash(&sessions)?;
    rows.recent = recent_by_email(recent)?;
    Ok(rows)
}

/// What to answer every request of a batch that did not commit.
fn outcome_of(result: &Result<(), TxError<()>>) -> Result<(), StoreError> {
    match result {
        Ok(()) => Ok(()),
        Err(TxError::Db(f)) => Err(f.clone().into_store()),
        Err(TxError::Refused(())) => Err(StoreError::Internal("new request write refused".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::Statement;

    use super::*;
    use crate::{OutboxKey, StoreOptions};

    /// A queued request that is only an address (never decided nor answered).
    struct Addressed(Email);

    impl Waiting for Addressed {
        fn by(&self) -> By {
            By::Agency(AccountId::from_uuid(uuid::Uuid::nil()))
        }

        fn email(&self) -> &Email {
            &self.0
        }

        fn decide(&self, _: &Scope) -> Option<Changes> {
            None
        }

        fn answer(self: Box<Self>, _: Result<(), StoreError>) {}
    }

    fn queue(addresses: &[&str]) -> VecDeque<Box<dyn Waiting>> {
        addresses
            .iter()
            .map(|a| Box::new(Addressed(Email::parse(&format!("{a}@example.com")).unwrap())) as Box<dyn Waiting>)
            .collect()
    }

    fn local_parts(requests: &[Box<dyn Waiting>]) -> Vec<String> {
        requests.iter().map(|w| w.email().as_str().trim_end_matches("@example.com").to_owned()).collect()
    }

    /// Requests to one address are decided in the order they came: a batch takes one
    /// per address and none to an address another writer holds, and a request passed
    /// over holds back every later one to its address, but not the others.
    #[test]
    fn a_batch_takes_one_request_per_address_and_none_held_by_another_writer() {
        let mut waiting = queue(&["a", "b", "a", "c", "d", "c", "b", "e"]);
        let mut in_flight: HashSet<Email> = HashSet::new();
        in_flight.insert(Email::parse("d@example.com").unwrap());

        let first = next_batch(&mut waiting, &mut in_flight);
        assert_eq!(local_parts(&first), ["a", "b", "c", "e"]);
        assert_eq!(local_parts(waiting.make_contiguous()), ["a", "d", "c", "b"]);
        assert_eq!(in_flight.len(), 5);

        // Another writer: everything left is held by the first batch or by `d`.
        assert!(next_batch(&mut waiting, &mut in_flight).is_empty());
        assert_eq!(waiting.len(), 4);

        // The first batch and `d` are written: the rest goes, in order.
        in_flight.clear();
        let second = next_batch(&mut waiting, &mut in_flight);
        assert_eq!(local_parts(&second), ["a", "d", "c", "b"]);
        assert!(waiting.is_empty());
    }

    /// A writer starts for a request when none runs, and beside running ones only once
    /// [`SHARED_BATCH_MIN`] requests wait; a writer with company stops rather than take
    /// a smaller batch, and the last one takes whatever waits.
    #[test]
    fn writers_start_and_stop_so_that_batches_are_shared_not_split() {
        let names: Vec<String> = (0..SHARED_BATCH_MIN + 1).map(|n| format!("r{n}")).collect();
        let mut jobs = queue(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let mut q = NewRequestQueue::default();
        let mut join = |q: &mut NewRequestQueue| q.join(jobs.pop_front().expect("a job"), 4);

        assert!(join(&mut q), "no writer runs: one starts at once");
        let first = q.next_for_writer(&mut vec![]);
        assert_eq!(first.len(), 1, "a lone writer takes a lone request");
        for _ in 1..SHARED_BATCH_MIN {
            assert!(!join(&mut q), "too few wait to share: the running writer takes them next");
        }
        assert!(join(&mut q), "enough wait: a second writer starts");
        assert_eq!(q.writers, 2);
        let second = q.next_for_writer(&mut vec![]);
        assert_eq!(second.len(), SHARED_BATCH_MIN);
        assert!(q.waiting.is_empty());

        // The first writer is done; with the second at work and nothing waiting, it stops.
        let mut done: Vec<Email> = first.iter().map(|w| w.email().clone()).collect();
        assert!(q.next_for_writer(&mut done).is_empty());
        assert_eq!(q.writers, 1);
        assert_eq!(q.in_flight.len(), SHARED_BATCH_MIN, "its addresses are released");

        // A request joins while the second writes: it runs alone now, and takes it next
        // even though one request is fewer than a shared batch.
        q.waiting.push_back(queue(&["late"]).pop_front().expect("a job"));
        let mut done: Vec<Email> = second.iter().map(|w| w.email().clone()).collect();
        assert_eq!(local_parts(&q.next_for_writer(&mut done)), ["late"]);
        assert_eq!(q.writers, 1);
    }

    #[test]
    fn the_open_states_are_the_same_in_sql_and_in_code() {
        assert_eq!(OPEN_STATES_SQL, format!("state IN ('{}')", OPEN_STATES.join("', '")));
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_requests() {
        let names: Vec<String> = (0..MAX_BATCH + 5).map(|n| format!("r{n}")).collect();
        let mut waiting = queue(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let batch = next_batch(&mut waiting, &mut HashSet::new());
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(local_parts(waiting.make_contiguous()), names[MAX_BATCH..]);
    }

    /// A batch writer that dies (here: a decision that panics) gives its place back:
    /// its caller hears that nothing was written, and later requests to the same
    /// address are still written, not queued behind a writer that no longer exists.
    #[tokio::test]
    async fn a_writer_that_panics_gives_its_place_back() {
        let store = Store::connect("sqlite::memory:", StoreOptions::new(OutboxKey::from_bytes([7; 32]))).await.unwrap();
        store.migrate().await.unwrap();
        let agency = AccountId::from_uuid(uuid::Uuid::from_u128(1));
        let email = Email::parse("c@example.com").unwrap();
        let panics: Box<dyn Decide<(), ()>> =
            Box::new(|_: &Scope| -> Result<Decision<()>, ()> { panic!("a decision panicked") });
        let first = store.new_request(By::Agency(agency), email.clone(), panics).await;
        assert!(matches!(first, Err(AtomicError::Store(StoreError::Unavailable(_)))));

        let refuses: Box<dyn Decide<(), ()>> = Box::new(|_: &Scope| -> Result<Decision<()>, ()> { Err(()) });
        let second = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.new_request(By::Agency(agency), email, refuses),
        )
        .await
        .expect("the second request is answered");
        assert!(matches!(second, Err(AtomicError::Refused(()))));
    }

    /// A new request's duplicate check must read the partial unique index: with the
    /// states bound as parameters SQLite chose `(agency_id, list_version)` and read
    /// every request of the agency (4.5 ms of a 6 ms new request at 10,000 clients).
    /// So must it when the agency is a presented session's, read by a subquery.
    #[tokio::test]
    async fn the_open_request_lookup_reads_the_partial_unique_index() {
        let store = Store::connect("sqlite::memory:", StoreOptions::new(OutboxKey::from_bytes([7; 32]))).await.unwrap();
        store.migrate().await.unwrap();
        let agency = By::Agency(AccountId::from_uuid(uuid::Uuid::from_u128(1)));
        let session = By::Session(TokenHash::from_bytes([9; 32]));
        let key = |by: By, local: &str| (by, Email::parse(&format!("{local}@example.com")).unwrap());
        let batches = [
            vec![key(agency, "c")],
            vec![key(agency, "c"), key(agency, "d"), key(agency, "e")],
            vec![key(session, "c"), key(session, "d")],
            vec![key(session, "c"), key(agency, "d")],
        ];
        for keys in batches {
            let (sql, values) = sqlite_scope_reads(&keys)
                .into_iter()
                .find(|(sql, _)| sql.starts_with("SELECT 'o'"))
                .expect("an open-request read");
            let explain =
                Statement::from_sql_and_values(DbBackend::Sqlite, format!("EXPLAIN QUERY PLAN {sql}"), values);
            let plan: Vec<String> = store
                .db()
                .query_all_raw(explain)
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .collect();
            assert!(
                plan.iter().any(|d| d.contains("USING INDEX access_requests_open_unique (agency_id=? AND email=?)")),
                "{plan:?}"
            );
        }
    }

    /// Joined into one script, a read that bound one value too few or too many would
    /// shift every later read's values (sqlx binds `?` in order across statements, and
    /// a missing value as NULL): each read binds exactly its parameters. What the
    /// reads return is held by the contract tests (`scopes`), on both backends.
    #[test]
    fn each_scope_read_binds_as_many_values_as_it_has_parameters() {
        let keys = vec![
            (By::Session(TokenHash::from_bytes([9; 32])), Email::parse("c@example.com").unwrap()),
            (By::Agency(AccountId::from_uuid(uuid::Uuid::from_u128(1))), Email::parse("d@example.com").unwrap()),
        ];
        let (sql, values): (Vec<String>, Vec<Vec<Value>>) = sqlite_scope_reads(&keys).into_iter().unzip();
        assert_eq!(sql.len(), 5, "sessions, accounts, open requests, recent requests, members");
        let params = |s: &str| s.matches('?').count();
        for (s, v) in sql.iter().zip(&values) {
            assert_eq!(params(s), v.len(), "{s}");
        }
    }
}
