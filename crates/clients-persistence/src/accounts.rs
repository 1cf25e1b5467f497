//! Accounts and sessions.

use async_trait::async_trait;
use clients_domain::ports::{AccountRepository, ListVersion, SessionRepository, StoreError};
use clients_domain::{Account, AccountId, Email, PasswordHash, Session, SessionId, TokenHash};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, FromQueryResult as _, QueryFilter as _, QueryResult,
};

use crate::Store;
use crate::entities::{account, session};
use crate::errors::Failure;
use crate::mapping::{account_from, account_row, session_from, session_row};

#[async_trait]
impl AccountRepository for Store {
    async fn create(&self, account: &Account, password: &PasswordHash) -> Result<(), StoreError> {
        // The email column is UNIQUE and stored lower-case: a case variant of a taken
        // address is a conflict here, whatever the caller checked before.
        account::Entity::insert(account_row(account, password))
            .exec_without_returning(self.db())
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    async fn credentials(&self, email: &Email) -> Result<Option<(Account, PasswordHash)>, StoreError> {
        let row = by_email(self, email).await?;
        Ok(row.map(|m| account_from(&m).map(|a| (a, PasswordHash::new(m.password_hash)))).transpose()?)
    }

    async fn find(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let row = account::Entity::find_by_id(id.as_uuid()).one(self.db()).await.map_err(Failure::from)?;
        Ok(row.as_ref().map(account_from).transpose()?)
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        Ok(by_email(self, email).await?.as_ref().map(account_from).transpose()?)
    }
}

async fn by_email(store: &Store, email: &Email) -> Result<Option<account::Model>, Failure> {
    Ok(account::Entity::find().filter(account::Column::Email.eq(email.as_str())).one(store.db()).await?)
}

#[async_trait]
impl SessionRepository for Store {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        session::Entity::insert(session_row(session)).exec_without_returning(self.db()).await.map_err(Failure::from)?;
        Ok(())
    }

    async fn find_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let row = session::Entity::find()
            .filter(session::Column::TokenHash.eq(hash.as_bytes().to_vec()))
            .one(self.db())
            .await
            .map_err(Failure::from)?;
        Ok(row.as_ref().map(session_from).transpose()?)
    }

    async fn find_with_account(&self, hash: &TokenHash) -> Result<Option<(Session, Account)>, StoreError> {
        let sql = format!("{SESSION_WITH_ACCOUNT} {BY_TOKEN}");
        let row = self.db().query_one_raw(self.stmt(sql, [hash.as_bytes().to_vec().into()])).await;
        let Some(row) = row.map_err(Failure::from)? else { return Ok(None) };
        Ok(Some(session_and_account(&row)?))
    }

    async fn find_with_list_version(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, Option<ListVersion>)>, StoreError> {
        // Migration 10: the newest row version of the account's list (an index probe)
        // and its count of removed rows. On PostgreSQL the snapshot's xmin, too: a
        // newest version at or above it may yet be overtaken by a transaction that
        // commits an older id, so it vouches for nothing.
        let horizon = if self.is_postgres() { "pg_snapshot_xmin(pg_current_snapshot())::text::bigint" } else { "NULL" };
        let sql = format!(
            "{SESSION_WITH_ACCOUNT}, a.list_revision AS lv_removals, \
             (SELECT COALESCE(max(r.list_version), 0) FROM access_requests r WHERE r.agency_id = a.id) AS lv_rows, \
             {horizon} AS lv_horizon {BY_TOKEN}"
        );
        let row = self.db().query_one_raw(self.stmt(sql, [hash.as_bytes().to_vec().into()])).await;
        let Some(row) = row.map_err(Failure::from)? else { return Ok(None) };
        let (session, account) = session_and_account(&row)?;
        let get = |col| row.try_get::<Option<i64>>("", col).map_err(Failure::from);
        let (rows, removals, horizon) =
            (get("lv_rows")?.unwrap_or(0), get("lv_removals")?.unwrap_or(0), get("lv_horizon")?);
        let version = horizon.is_none_or(|h| rows < h).then(|| ListVersion::new(rows, removals));
        Ok(Some((session, account, version)))
    }

    async fn delete(&self, id: SessionId) -> Result<(), StoreError> {
        session::Entity::delete_by_id(id.as_uuid()).exec(self.db()).await.map_err(Failure::from)?;
        Ok(())
    }
}

/// A session with its account's columns prefixed `a_` (`FROM` follows: [`BY_TOKEN`]).
const SESSION_WITH_ACCOUNT: &str = "SELECT s.*, a.id AS a_id, a.email AS a_email, \
    a.email_verified AS a_email_verified, a.name AS a_name, a.plan AS a_plan, a.password_hash AS a_password_hash, \
    a.created_at AS a_created_at, a.websites_total AS a_websites_total, \
    a.websites_major_issue AS a_websites_major_issue, a.websites_not_connected AS a_websites_not_connected";

const BY_TOKEN: &str = "FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1";

fn session_and_account(row: &QueryResult) -> Result<(Session, Account), Failure> {
    let session = session::Model::from_query_result(row, "").map_err(Failure::from)?;
    let account = account::Model::from_query_result(row, "a_").map_err(Failure::from)?;
    Ok((session_from(&session)?, account_from(&account)?))
}
