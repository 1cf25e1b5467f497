//! Websites, and the per-account counters the agency's list derives status from.
//!
//! Each write is one statement: the database's triggers (migration 9) update the
//! owner's `websites_*` counters by delta (`x = x + d`) inside it, and through them the
//! stored status of the agencies' rows (migration 8). On PostgreSQL the counter UPDATE
//! re-reads the newest counter after waiting for a concurrent writer's row lock, so
//! concurrent changes to one account's websites never lose a count.
//!
//! Health reports arrive continuously from the internal services, many at once. They
//! are written in batches (group commit): a report joins a queue; while no batch is
//! being written, the first report starts a task that writes everything queued, up to
//! [`MAX_BATCH`] reports per statement (`WITH reports AS (VALUES …) UPDATE … FROM
//! reports RETURNING`), and ends when the queue is empty. Each caller is answered once
//! its batch has committed, so a 200 still means "stored". A batch never holds two
//! reports for one website (the later waits for the next batch, keeping their order),
//! and it commits or fails as a whole, each report in it being atomic as before.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::PoisonError;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clients_domain::ports::{ListError, Page, PageRequest, StoreError, WebsiteRepository};
use clients_domain::{AccountId, Health, Website, WebsiteId};
use sea_orm::{EntityTrait as _, Value};
use tokio::sync::oneshot;

use crate::Store;
use crate::audit::more;
use crate::cursor::{self, List};
use crate::entities::website;
use crate::errors::Failure;
use crate::mapping::{ts, website_from, website_row};
use crate::requests::contains_pattern;
use crate::tx::TxError;

/// Most health reports one statement writes.
const MAX_BATCH: usize = 64;

/// Health reports waiting for a batch, and whether a task is writing batches.
#[derive(Debug, Default)]
pub(crate) struct StatusQueue {
    reports: VecDeque<Report>,
    draining: bool,
}

#[derive(Debug)]
struct Report {
    id: WebsiteId,
    connected: bool,
    health: Health,
    at: DateTime<Utc>,
    reply: oneshot::Sender<Result<Option<Website>, StoreError>>,
}

/// The queue's oldest reports, up to [`MAX_BATCH`] and stopping before a second
/// report for a website already in the batch.
fn next_batch(reports: &mut VecDeque<Report>) -> Vec<Report> {
    let mut ids = HashSet::new();
    let mut batch = Vec::new();
    while batch.len() < MAX_BATCH {
        match reports.front() {
            Some(report) if ids.insert(report.id) => {}
            _ => break,
        }
        batch.extend(reports.pop_front());
    }
    batch
}

impl Store {
    async fn add_attempt(&self, w: &Website) -> Result<(), TxError<()>> {
        let _turn = self.write_turn().await?;
        website::Entity::insert(website_row(w)).exec_without_returning(self.write_db()).await?;
        Ok(())
    }

    /// Writes queued reports, batch after batch, until none is left.
    async fn drain_status_reports(self) {
        loop {
            let batch = {
                let mut queue = self.inner.status_queue.lock().unwrap_or_else(PoisonError::into_inner);
                let batch = next_batch(&mut queue.reports);
                if batch.is_empty() {
                    queue.draining = false;
                    return;
                }
                batch
            };
            match self.retrying("website status", || self.update_statuses_attempt(&batch)).await {
                Ok(mut written) => {
                    for report in batch {
                        let _gone = report.reply.send(Ok(written.remove(&report.id)));
                    }
                }
                Err(e) => {
                    let e = store_error(e);
                    for report in batch {
                        let _gone = report.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    async fn update_statuses_attempt(&self, batch: &[Report]) -> Result<HashMap<WebsiteId, Website>, TxError<()>> {
        let _turn = self.write_turn().await?;
        let mut rows = Vec::with_capacity(batch.len());
        let mut values: Vec<Value> = Vec::with_capacity(batch.len() * 4);
        for (i, r) in batch.iter().enumerate() {
            let n = i * 4;
            rows.push(format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
            values.extend([r.id.as_uuid().into(), r.connected.into(), r.health.as_str().into(), ts(r.at).into()]);
        }
        // SQLite's RETURNING names only the updated table's columns; PostgreSQL's `*`
        // would add the reports'.
        let returning = if self.is_postgres() { "websites.*" } else { "*" };
        let sql = format!(
            "WITH reports (id, connected, health, at) AS (VALUES {}) \
             UPDATE websites SET connected = reports.connected, health = reports.health, updated_at = reports.at \
             FROM reports WHERE websites.id = reports.id RETURNING {returning}",
            rows.join(", ")
        );
        let written = website::Entity::find().from_raw_sql(self.stmt(sql, values)).all(self.write_db()).await?;
        Ok(written.iter().map(|m| website_from(m).map(|w| (w.id, w))).collect::<Result<_, Failure>>()?)
    }
}

fn store_error(e: TxError<()>) -> StoreError {
    match e {
        TxError::Db(f) => f.into_store(),
        TxError::Refused(()) => StoreError::Internal("website write refused".to_owned()),
    }
}

#[async_trait]
impl WebsiteRepository for Store {
    async fn list(
        &self,
        account: AccountId,
        q: Option<String>,
        page: &PageRequest,
    ) -> Result<Page<Website>, ListError> {
        let mut sql = String::from("SELECT * FROM websites WHERE account_id = $1");
        let mut values: Vec<Value> = vec![account.as_uuid().into()];
        if let Some(q) = q.as_deref().filter(|q| !q.trim().is_empty()) {
            values.push(contains_pattern(q).into());
            sql.push_str(&format!(" AND domain LIKE ${} ESCAPE '\\'", values.len()));
        }
        if let Some(c) = &page.cursor {
            values.push(cursor::decode_text(List::Websites, c)?.into());
            sql.push_str(&format!(" AND domain > ${}", values.len()));
        }
        let limit = page.limit.get();
        sql.push_str(&format!(" ORDER BY domain LIMIT {}", limit + 1));
        let rows =
            website::Entity::find().from_raw_sql(self.stmt(sql, values)).all(self.db()).await.map_err(Failure::from)?;
        let mut items = rows.iter().map(website_from).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = more(&mut items, limit).map(|last| cursor::encode_text(List::Websites, last.domain.as_str()));
        Ok(Page { items, next_cursor })
    }

    async fn add(&self, website: &Website) -> Result<(), StoreError> {
        self.retrying("add website", || self.add_attempt(website)).await.map_err(store_error)
    }

    async fn update_status(
        &self,
        id: WebsiteId,
        connected: bool,
        health: Health,
        at: DateTime<Utc>,
    ) -> Result<Option<Website>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.inner.status_queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.reports.push_back(Report { id, connected, health, at, reply });
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            self.spawn_writer(self.clone().drain_status_reports());
        }
        answer.await.map_err(|_| StoreError::Unavailable("the status report was not written".to_owned()))?
    }
}
