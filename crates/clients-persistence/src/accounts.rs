//! Accounts and sessions.

use async_trait::async_trait;
use clients_domain::ports::{AccountRepository, SessionRepository, StoreError};
use clients_domain::{Account, AccountId, Email, PasswordHash, Session, SessionId, TokenHash};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

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

    async fn delete(&self, id: SessionId) -> Result<(), StoreError> {
        session::Entity::delete_by_id(id.as_uuid()).exec(self.db()).await.map_err(Failure::from)?;
        Ok(())
    }
}
