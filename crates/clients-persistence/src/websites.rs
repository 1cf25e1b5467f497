//! Websites, and the per-account counters the agency's list derives status from.
//!
//! Every write to `websites` updates the owner's `websites_*` counters in the same
//! transaction, by delta (`x = x + d`): on PostgreSQL the UPDATE re-reads the newest
//! counter after waiting for a concurrent writer's row lock, so concurrent changes to
//! one account's websites never lose a count.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clients_domain::ports::{ListError, Page, PageRequest, StoreError, WebsiteRepository};
use clients_domain::{AccountId, Health, Website, WebsiteId};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, EntityTrait as _, QueryFilter as _, QuerySelect as _,
    Value,
};
use uuid::Uuid;

use crate::Store;
use crate::audit::more;
use crate::cursor::{self, List};
use crate::entities::website;
use crate::errors::Failure;
use crate::mapping::{ts, website_from, website_row};
use crate::requests::contains_pattern;
use crate::tx::TxError;

/// How one website contributes to its account's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Contribution {
    major_issue: i32,
    not_connected: i32,
}

impl Contribution {
    fn of(connected: bool, health: Health) -> Self {
        Self { major_issue: i32::from(health == Health::MajorIssue), not_connected: i32::from(!connected) }
    }
}

impl Store {
    async fn bump_counters(
        &self,
        tx: &DatabaseTransaction,
        account: Uuid,
        total: i32,
        major_issue: i32,
        not_connected: i32,
    ) -> Result<(), Failure> {
        let sql = "UPDATE accounts SET websites_total = websites_total + $1, \
            websites_major_issue = websites_major_issue + $2, \
            websites_not_connected = websites_not_connected + $3 WHERE id = $4";
        let values: [Value; 4] = [total.into(), major_issue.into(), not_connected.into(), account.into()];
        tx.execute_raw(self.stmt(sql, values)).await?;
        Ok(())
    }

    async fn add_attempt(&self, w: &Website) -> Result<(), TxError<()>> {
        let tx = self.begin_write().await?;
        website::Entity::insert(website_row(w)).exec_without_returning(&tx).await?;
        let c = Contribution::of(w.connected, w.health);
        self.bump_counters(&tx, w.account_id.as_uuid(), 1, c.major_issue, c.not_connected).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_status_attempt(
        &self,
        id: WebsiteId,
        connected: bool,
        health: Health,
        at: DateTime<Utc>,
    ) -> Result<Option<Website>, TxError<()>> {
        let tx = self.begin_write().await?;
        let Some(mut row) = website::Entity::find_by_id(id.as_uuid()).lock_exclusive().one(&tx).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let stored = website_from(&row)?;
        let before = Contribution::of(stored.connected, stored.health);
        let after = Contribution::of(connected, health);
        website::Entity::update_many()
            .col_expr(website::Column::Connected, connected.into())
            .col_expr(website::Column::Health, health.as_str().into())
            .col_expr(website::Column::UpdatedAt, ts(at).into())
            .filter(website::Column::Id.eq(id.as_uuid()))
            .exec(&tx)
            .await?;
        if before != after {
            let (major, not_connected) =
                (after.major_issue - before.major_issue, after.not_connected - before.not_connected);
            self.bump_counters(&tx, row.account_id, 0, major, not_connected).await?;
        }
        tx.commit().await?;
        row.connected = connected;
        row.health = health.as_str().to_owned();
        Ok(Some(website_from(&row)?))
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
        self.retrying("website status", || self.update_status_attempt(id, connected, health, at))
            .await
            .map_err(store_error)
    }
}
