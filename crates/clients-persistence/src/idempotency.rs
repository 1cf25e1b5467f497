//! `Idempotency-Key` records, for the HTTP layer (not a domain port: replaying a
//! response is an HTTP concern).
//!
//! The first request with a key reserves it (a row with no response yet) and stores
//! its response when done; a repeat with the same fingerprint replays that response;
//! a repeat while the first is still running, or with a different fingerprint, is
//! told so. The primary key `(account_id, key)` makes the reservation race-free.

use chrono::{DateTime, Utc};
use clients_domain::AccountId;
use clients_domain::ports::StoreError;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use crate::Store;
use crate::entities::idempotency_key;
use crate::errors::Failure;
use crate::mapping::ts;

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: Vec<u8>,
}

/// What reserving a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// The key is new and now reserved: run the request, then
    /// [`Store::complete_idempotency_key`] (or [`Store::release_idempotency_key`] if it
    /// should not be remembered).
    Reserved,
    /// The same request ran before: answer with its response.
    Replay(IdempotencyRecord),
    /// The same request is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

impl Store {
    /// Reserves `key` for `account`'s request with `fingerprint`, or reports what the
    /// key already holds.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    pub async fn reserve_idempotency_key(
        &self,
        account: AccountId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, StoreError> {
        let row = idempotency_key::ActiveModel {
            account_id: Set(account.as_uuid()),
            key: Set(key.to_owned()),
            request_fingerprint: Set(fingerprint.to_owned()),
            response_status: Set(None),
            response_body: Set(None),
            created_at: Set(ts(now)),
        };
        match idempotency_key::Entity::insert(row).exec_without_returning(self.db()).await.map_err(Failure::from) {
            Ok(_) => return Ok(IdempotencyStart::Reserved),
            Err(Failure::Conflict(_)) => {}
            Err(other) => return Err(other.into_store()),
        }
        let existing = idempotency_key::Entity::find_by_id((account.as_uuid(), key.to_owned()))
            .one(self.db())
            .await
            .map_err(Failure::from)?;
        Ok(match existing {
            // Released between our insert and this read: the caller may try again.
            None => IdempotencyStart::InProgress,
            Some(m) if m.request_fingerprint != fingerprint => IdempotencyStart::Mismatch,
            Some(idempotency_key::Model { response_status: Some(status), response_body: Some(body), .. }) => {
                IdempotencyStart::Replay(IdempotencyRecord { status: u16::try_from(status).unwrap_or(500), body })
            }
            Some(_) => IdempotencyStart::InProgress,
        })
    }

    /// Stores the response of a reserved key.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    pub async fn complete_idempotency_key(
        &self,
        account: AccountId,
        key: &str,
        response: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::ResponseStatus, Expr::value(i32::from(response.status)))
            .col_expr(idempotency_key::Column::ResponseBody, Expr::value(response.body.clone()))
            .filter(idempotency_key::Column::AccountId.eq(account.as_uuid()))
            .filter(idempotency_key::Column::Key.eq(key))
            .exec(self.db())
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    /// Forgets a reservation (the request failed in a way a retry should redo).
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    pub async fn release_idempotency_key(&self, account: AccountId, key: &str) -> Result<(), StoreError> {
        idempotency_key::Entity::delete_by_id((account.as_uuid(), key.to_owned()))
            .exec(self.db())
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    /// Deletes keys created before `cutoff`; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] on storage failure.
    pub async fn purge_idempotency_keys(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lt(ts(cutoff)))
            .exec(self.db())
            .await
            .map_err(Failure::from)?;
        Ok(done.rows_affected)
    }
}
