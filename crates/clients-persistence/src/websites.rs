//! Websites, and the per-account counters the agency's list derives status from.
//!
//! Each write is one statement: the database's triggers (migration 9) update the
//! owner's `websites_*` counters by delta (`x = x + d`) inside it, and through them the
//! stored status of the agencies' rows (migration 8). On PostgreSQL the counter UPDATE
//! re-reads the newest counter after waiting for a concurrent writer's row lock, so
//! concurrent changes to one account's websites never lose a count.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clients_domain::ports::{ListError, Page, PageRequest, StoreError, WebsiteRepository};
use clients_domain::{AccountId, Health, Website, WebsiteId};
use sea_orm::{EntityTrait as _, Value};

use crate::Store;
use crate::audit::more;
use crate::cursor::{self, List};
use crate::entities::website;
use crate::errors::Failure;
use crate::mapping::{ts, website_from, website_row};
use crate::requests::contains_pattern;
use crate::tx::TxError;

impl Store {
    async fn add_attempt(&self, w: &Website) -> Result<(), TxError<()>> {
        let _turn = self.write_turn().await?;
        website::Entity::insert(website_row(w)).exec_without_returning(self.db()).await?;
        Ok(())
    }

    async fn update_status_attempt(
        &self,
        id: WebsiteId,
        connected: bool,
        health: Health,
        at: DateTime<Utc>,
    ) -> Result<Option<Website>, TxError<()>> {
        let _turn = self.write_turn().await?;
        let sql = "UPDATE websites SET connected = $1, health = $2, updated_at = $3 WHERE id = $4 RETURNING *";
        let values: [Value; 4] = [connected.into(), health.as_str().into(), ts(at).into(), id.as_uuid().into()];
        let row = website::Entity::find().from_raw_sql(self.stmt(sql, values)).one(self.db()).await?;
        Ok(row.as_ref().map(website_from).transpose()?)
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
