//! Synthetic data for benchmarks: one agency with many clients in every request state,
//! and their websites in every health, written in bulk with the same entities and
//! encodings as the ports use (so ids, timestamps and booleans are stored exactly as
//! the service stores them), honouring every CHECK constraint and keeping the website
//! counters on `accounts` equal to the websites.
//!
//! It only fills an empty database (see [`Store::seed_synthetic`]): it exists for
//! `cargo xtask bench` (through the hidden `app bench seed`) and for tests that need
//! volume, never for a database with real data.

use chrono::{DateTime, TimeDelta, Utc};
use clients_domain::ports::StoreError;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, EntityTrait as _, QueryFilter as _, Statement,
};
use uuid::Uuid;

use crate::Store;
use crate::entities::{access_request, account, membership, website};
use crate::errors::Failure;
use crate::mapping::ts;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    /// The agency's email (lower-case). Clients' emails are derived from it, so one
    /// database can hold several synthetic agencies.
    pub agency_email: String,
    /// Stored as every generated account's password hash (e.g. an argon2id PHC string).
    pub password_hash: String,
    /// Rows of the agency's list (requested, approved and declined); a tenth as many
    /// removed, revoked and left rows come on top, which the list never shows.
    pub clients: u32,
    /// Websites, spread over the approved clients (one client holds a twentieth of them).
    pub websites: u32,
    /// The newest row's creation time; older rows are a minute apart.
    pub now: DateTime<Utc>,
}

/// What was generated, for the caller to aim requests at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticSummary {
    /// The agency.
    pub agency_id: Uuid,
    /// Rows in the agency's list.
    pub listed: u32,
    /// Removed, revoked and left rows (not listed).
    pub unlisted: u32,
    /// Client accounts created.
    pub accounts: u32,
    /// Websites created.
    pub websites: u32,
    /// The approved row whose client has the most websites.
    pub busiest_request: Uuid,
    /// How many websites that client has.
    pub busiest_websites: u32,
    /// Listed rows per derived status: `no_data`, `major_issue`, `not_connected`, `all_good`.
    pub by_status: [u32; 4],
    /// A search text matching about one row in two hundred of the list.
    pub search: String,
    /// A search text matching a few dozen of the busiest client's domains.
    pub website_search: String,
    /// Up to 1,000 website ids, spread over the clients.
    pub website_sample: Vec<Uuid>,
}

/// The clients' addresses are at `<prefix><suffix>.example`: 200 companies, so one
/// company's name matches one row in two hundred.
const PREFIXES: [&str; 20] = [
    "northwind",
    "bluepeak",
    "redriver",
    "greenleaf",
    "silverline",
    "ironbridge",
    "suncrest",
    "oakhill",
    "brightwave",
    "stonegate",
    "clearwater",
    "highfield",
    "lakeside",
    "pinecone",
    "starlight",
    "goldcoast",
    "westbrook",
    "eastgate",
    "fairview",
    "rosewood",
];
const SUFFIXES: [&str; 10] =
    ["labs", "media", "works", "digital", "studio", "group", "shop", "systems", "foods", "travel"];

/// The company of client row `n`.
fn company(n: u32) -> String {
    let c = (n as usize * 7_919) % (PREFIXES.len() * SUFFIXES.len());
    format!("{}{}", PREFIXES[c % PREFIXES.len()], SUFFIXES[c / PREFIXES.len()])
}

/// Rows per INSERT: far below SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
const BATCH: usize = 400;

/// Derived status of an approved client with these counters (`SharedAccountStatus::derive`).
fn status_index(total: u32, major: u32, not_connected: u32) -> usize {
    match (total, major, not_connected) {
        (0, _, _) => 0,
        (_, m, _) if m > 0 => 1,
        (_, _, n) if n > 0 => 2,
        _ => 3,
    }
}

/// The kind of client row `i` (in creation order) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Requested { signed_up: bool },
    Approved,
    Declined,
    Removed,
    Revoked,
    Left,
}

impl Kind {
    /// Listed rows: 70% approved, 20% requested (half of them by people who already
    /// have an account), 10% declined. Every eleventh row is an unlisted one.
    fn of(i: u32) -> Self {
        if i % 11 == 10 {
            return match (i / 11) % 3 {
                0 => Kind::Removed,
                1 => Kind::Revoked,
                _ => Kind::Left,
            };
        }
        match i % 10 {
            0..=6 => Kind::Approved,
            7 => Kind::Requested { signed_up: false },
            8 => Kind::Requested { signed_up: true },
            _ => Kind::Declined,
        }
    }

    const fn state(self) -> &'static str {
        match self {
            Kind::Requested { .. } => "requested",
            Kind::Approved => "approved",
            Kind::Declined => "declined",
            Kind::Removed => "removed",
            Kind::Revoked => "revoked",
            Kind::Left => "left",
        }
    }

    const fn has_account(self) -> bool {
        !matches!(self, Kind::Requested { signed_up: false } | Kind::Removed)
    }

    const fn has_client_id(self) -> bool {
        matches!(self, Kind::Approved | Kind::Revoked | Kind::Left)
    }

    const fn listed(self) -> bool {
        matches!(self, Kind::Requested { .. } | Kind::Approved | Kind::Declined)
    }
}

/// A website of an approved client, with the health that gives the client its status.
fn website_health(status: usize, nth: u32) -> (bool, &'static str) {
    match (status, nth) {
        (1, 0) => (true, "major_issue"),
        (2, 0) => (false, "ok"),
        (1, 1) => (false, "warning"),
        (_, n) if n % 3 == 2 => (true, "warning"),
        _ => (true, "ok"),
    }
}

async fn insert_batches<E, A>(tx: &DatabaseTransaction, rows: Vec<A>) -> Result<(), Failure>
where
    E: sea_orm::EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<A> = rows.by_ref().take(BATCH).collect();
        E::insert_many(batch).exec_without_returning(tx).await?;
    }
    Ok(())
}

impl Store {
    /// Fills the database with one agency (`spec.agency_email`) and its clients; see
    /// [`SyntheticSpec`] for the shape. Refuses when that agency exists already.
    ///
    /// Approved clients get the websites (a twentieth of the approved clients none, so
    /// their rows show `no_data`; a tenth a major issue; a seventh one site not
    /// connected; the rest `ok` and `warning` sites); one client gets a twentieth of
    /// all websites. Every approved row has its team membership (plan `scale`, so the
    /// slot count holds). Ids are UUIDv7 in creation order, as the service makes them.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure, or `Conflict` when the agency exists.
    pub async fn seed_synthetic(&self, spec: &SyntheticSpec) -> Result<SyntheticSummary, StoreError> {
        self.seed_attempt(spec).await.map_err(Failure::into_store)
    }

    async fn seed_attempt(&self, spec: &SyntheticSpec) -> Result<SyntheticSummary, Failure> {
        let tx = self.begin_write().await?;
        let exists =
            account::Entity::find().filter(account::Column::Email.eq(spec.agency_email.as_str())).one(&*tx).await?;
        if exists.is_some() {
            return Err(Failure::Conflict(format!("{} exists already", spec.agency_email)));
        }
        let agency_local = spec.agency_email.split('@').next().unwrap_or("agency").replace(['.', '+'], "-");
        let now = ts(spec.now);
        let unlisted_target = spec.clients / 10;
        let total_rows = spec.clients + unlisted_target;
        let start = now - TimeDelta::minutes(i64::from(total_rows));
        let mut next_id = {
            let mut n: u128 = 0;
            let base = start.timestamp_millis();
            move |at: DateTime<Utc>| {
                n += 1;
                // UUIDv7 layout: 48-bit milliseconds, version 7, variant 10, the rest a counter.
                let ms = u128::try_from(at.timestamp_millis().max(base)).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
                Uuid::from_u128((ms << 80) | (0x7 << 76) | (0b10 << 62) | (n & ((1 << 62) - 1)))
            }
        };

        let agency_id = next_id(start);
        let account_row = |id, email, verified, name, plan: &str, at| account::ActiveModel {
            id: Set(id),
            email: Set(email),
            email_verified: Set(verified),
            name: Set(Some(name)),
            plan: Set(plan.to_owned()),
            password_hash: Set(spec.password_hash.clone()),
            created_at: Set(at),
            // The websites' triggers count them in.
            websites_total: Set(0),
            websites_major_issue: Set(0),
            websites_not_connected: Set(0),
        };
        let mut accounts =
            vec![account_row(agency_id, spec.agency_email.clone(), true, "Benchmark Agency".to_owned(), "pro", start)];
        let mut requests = vec![];
        let mut members = vec![];
        // (account id, request id) of every approved client, in creation order.
        let mut approved: Vec<(Uuid, Uuid)> = vec![];
        let (mut listed, mut unlisted) = (0u32, 0u32);
        let mut i = 0u32;
        while listed < spec.clients || unlisted < unlisted_target {
            let kind = Kind::of(i);
            i += 1;
            if (kind.listed() && listed >= spec.clients) || (!kind.listed() && unlisted >= unlisted_target) {
                continue;
            }
            let n = listed + unlisted;
            let at = start + TimeDelta::minutes(i64::from(n) + 1);
            let email = format!("client{n:05}.{agency_local}@{}.example", company(n));
            let client_id = next_id(at);
            if kind.has_account() {
                let verified = !matches!(kind, Kind::Requested { .. });
                accounts.push(account_row(client_id, email.clone(), verified, format!("Client {n}"), "scale", at));
            }
            let request_id = next_id(at);
            let requested = matches!(kind, Kind::Requested { .. });
            requests.push(access_request::ActiveModel {
                id: Set(request_id),
                agency_id: Set(agency_id),
                email: Set(email.clone()),
                role: Set(["biller", "developer", "admin"][n as usize % 3].to_owned()),
                state: Set(kind.state().to_owned()),
                token_hash: Set(requested.then(|| rand::random::<[u8; 32]>().to_vec())),
                grant_issued_at: Set(requested.then_some(at)),
                grant_expires_at: Set(requested.then(|| at + TimeDelta::days(7))),
                client_id: Set(kind.has_client_id().then_some(client_id)),
                sends: Set(1),
                last_sent_at: Set(at),
                resend_window_started_at: Set(None),
                resend_window_count: Set(0),
                delivery: Set(if n % 50 == 49 { "failed" } else { "sent" }.to_owned()),
                slot_blocked_at: Set(None),
                created_at: Set(at),
                updated_at: Set(at),
            });
            if kind == Kind::Approved {
                members.push(membership::ActiveModel {
                    id: Set(next_id(at)),
                    client_id: Set(client_id),
                    agency_id: Set(agency_id),
                    email: Set(spec.agency_email.clone()),
                    role: Set(["biller", "developer", "admin"][n as usize % 3].to_owned()),
                    origin_request_id: Set(request_id),
                    since: Set(at),
                });
                approved.push((client_id, request_id));
            }
            if kind.listed() {
                listed += 1;
            } else {
                unlisted += 1;
            }
        }

        // Websites: the busiest client (the newest approved one, so it is on the first
        // page) gets a twentieth; the others share the rest round robin, except every
        // twentieth approved client, which has none.
        let mut websites = vec![];
        let mut by_status = [0u32; 4];
        let mut sample = vec![];
        let busiest = approved.len().saturating_sub(1);
        let with_sites: Vec<usize> = (0..approved.len()).filter(|k| k % 20 != 0 && *k != busiest).collect();
        let mut per_client = vec![0u32; approved.len()];
        if !approved.is_empty() {
            let busiest_share = if with_sites.is_empty() { spec.websites } else { spec.websites / 20 };
            per_client[busiest] = busiest_share;
            let rest = spec.websites - busiest_share;
            for w in 0..rest {
                per_client[with_sites[w as usize % with_sites.len()]] += 1;
            }
        }
        let sample_every = (spec.websites / 1_000).max(1);
        for (k, &(client_id, _)) in approved.iter().enumerate() {
            // A tenth with a major issue, a seventh with a site not connected.
            let status = match k % 20 {
                _ if per_client[k] == 0 => 0,
                1 | 2 => 1,
                3..=5 => 2,
                _ => 3,
            };
            let (mut total, mut major, mut not_connected) = (0u32, 0u32, 0u32);
            for nth in 0..per_client[k] {
                let (connected, health) = website_health(status, nth);
                let id = next_id(start);
                if (websites.len() as u32).is_multiple_of(sample_every) && sample.len() < 1_000 {
                    sample.push(id);
                }
                total += 1;
                major += u32::from(health == "major_issue");
                not_connected += u32::from(!connected);
                websites.push(website::ActiveModel {
                    id: Set(id),
                    account_id: Set(client_id),
                    domain: Set(format!(
                        "{}{nth}.client{k}.example",
                        ["shop", "blog", "www", "docs"][nth as usize % 4]
                    )),
                    connected: Set(connected),
                    health: Set(health.to_owned()),
                    created_at: Set(start),
                    updated_at: Set(start),
                });
            }
            // The database's triggers count the websites into the account's counters.
            by_status[status_index(total, major, not_connected)] += 1;
        }
        by_status[0] += listed - u32::try_from(approved.len()).unwrap_or(u32::MAX);

        let summary = SyntheticSummary {
            agency_id,
            listed,
            unlisted,
            accounts: u32::try_from(accounts.len() - 1).unwrap_or(u32::MAX),
            websites: u32::try_from(websites.len()).unwrap_or(u32::MAX),
            busiest_request: approved.get(busiest).map_or(Uuid::nil(), |a| a.1),
            busiest_websites: per_client.get(busiest).copied().unwrap_or(0),
            by_status,
            search: format!("{}{}", PREFIXES[3], SUFFIXES[4]),
            website_search: "shop12".to_owned(),
            website_sample: sample,
        };
        // Websites before requests: each website's trigger updates its account's
        // counters, and each request's trigger then reads them once for its status.
        insert_batches(&tx, accounts).await?;
        insert_batches(&tx, websites).await?;
        insert_batches(&tx, requests).await?;
        insert_batches(&tx, members).await?;
        tx.commit().await?;
        // PostgreSQL's autovacuum analyzes a table after a bulk load like this one; do it
        // now so the first minute of a benchmark is not planned on empty statistics.
        // SQLite is left as the service leaves it, without statistics: the bundled
        // SQLite has STAT4, with which every statement whose plan could depend on a
        // bound value is prepared again on each execution (see docs/performance.md).
        if self.is_postgres() {
            self.db().execute_raw(Statement::from_string(self.backend(), "ANALYZE".to_owned())).await?;
        }
        Ok(summary)
    }
}

/// Runs `sql` on the PostgreSQL server of `admin_url` (one short-lived connection).
async fn admin(admin_url: &str, name: &str, sql: String) -> Result<(), StoreError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(StoreError::Internal(format!("{name:?}: database names here are [a-z0-9_]+")));
    }
    if !(admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://")) {
        return Err(StoreError::Internal("a PostgreSQL URL is needed".to_owned()));
    }
    let mut opts = sea_orm::ConnectOptions::new(admin_url.to_owned());
    opts.max_connections(1).sqlx_logging(false);
    let db = sea_orm::Database::connect(opts).await.map_err(|e| Failure::from(e).into_store())?;
    let outcome = db.execute_unprepared(&sql).await.map(|_| ()).map_err(|e| Failure::from(e).into_store());
    db.close().await.ok();
    outcome
}

/// Creates the database `name` on the PostgreSQL server of `admin_url` (benchmarks).
///
/// # Errors
/// [`StoreError`] when the name is not `[a-z0-9_]+` or the server refuses.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    admin(admin_url, name, format!("CREATE DATABASE {name}")).await
}

/// Drops the database `name` on the PostgreSQL server of `admin_url`, closing its
/// connections; absent is fine.
///
/// # Errors
/// [`StoreError`] when the name is not `[a-z0-9_]+` or the server refuses.
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    admin(admin_url, name, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
}
