//! Accounts and sessions.

use async_trait::async_trait;
use clients_domain::ports::{AccountRepository, SessionRepository, StoreError};
use clients_domain::{Account, AccountId, Email, PasswordHash, Session, SessionId, TokenHash};
use sea_orm::{ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, FromQueryResult as _, QueryFilter as _};

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
        let sql = "SELECT s.*, a.id AS a_id, a.email AS a_email, a.email_verified AS a_email_verified, \
            a.name AS a_name, a.plan AS a_plan, a.password_hash AS a_password_hash, a.created_at AS a_created_at, \
            a.websites_total AS a_websites_total, a.websites_major_issue AS a_websites_major_issue, \
            a.websites_not_connected AS a_websites_not_connected \
            FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1";
        let row =
            self.db().query_one_raw(self.stmt(sql, [hash.as_bytes().to_vec().into()])).await.map_err(Failure::from)?;
        let Some(row) = row else { return Ok(None) };
        let session = session::Model::from_query_result(&row, "").map_err(Failure::from)?;
        let account = account::Model::from_query_result(&row, "a_").map_err(Failure::from)?;
        Ok(Some((session_from(&session)?, account_from(&account)?)))
    }

    async fn delete(&self, id: SessionId) -> Result<(), StoreError> {
        session::Entity::delete_by_id(id.as_uuid()).exec(self.db()).await.map_err(Failure::from)?;
        Ok(())
    }
}
