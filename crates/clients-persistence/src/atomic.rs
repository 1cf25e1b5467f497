//! [`AtomicStore`]: load the scope a decision needs with the client account locked,
//! run the pure decision, and commit what it asks for, all in one transaction.
//!
//! Lock order (PostgreSQL): recipient advisory lock (new requests only), then account
//! rows in id order (a new request shares them: `FOR SHARE`), then the request row. Everything that changes a team locks its
//! client account row first, so approvals racing for the last slot queue behind one
//! another and each decides on the members the previous one committed. On SQLite the
//! transaction holds the database's write lock from its first statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clients_domain::ports::{AtomicError, AtomicStore, Changes, Decide, Scope, ScopeKey};
use clients_domain::{AccountId, Member, OutgoingEmail};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseTransaction, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, QueryTrait as _, Set,
};
use uuid::Uuid;

use crate::Store;
use crate::entities::{access_request, account, audit_event, membership, outbox_message, session};
use crate::errors::Failure;
use crate::mapping::{
    account_from, audit_row, member_from, member_row, outbox_row, request_from, request_row, session_row, ts,
};
use crate::new_requests::By;
use crate::tx::{Script, TxError};

#[async_trait]
impl AtomicStore for Store {
    async fn atomically<T, E>(&self, key: ScopeKey, decide: Box<dyn Decide<T, E>>) -> Result<T, AtomicError<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        if let Some((by, email)) = By::of(&key) {
            // Written in batches (see `new_requests`).
            return self.new_request(by, email, decide).await;
        }
        let (key, decide) = (&key, &*decide);
        match self.retrying("atomically", || self.atomic_attempt(key, decide)).await {
            Ok(outcome) => Ok(outcome),
            Err(TxError::Refused(e)) => Err(AtomicError::Refused(e)),
            Err(TxError::Db(f)) => Err(AtomicError::Store(f.into_store())),
        }
    }
}

impl Store {
    async fn atomic_attempt<T, E>(&self, key: &ScopeKey, decide: &dyn Decide<T, E>) -> Result<T, TxError<E>> {
        let tx = self.begin_write().await?;
        let scope = self.load_scope(&tx, key).await?;
        let decision = match decide.decide(&scope) {
            Ok(decision) => decision,
            Err(refusal) => {
                if let Err(e) = tx.rollback().await {
                    // Nothing was written; dropping the connection ends the transaction.
                    tracing::warn!(error = %e, "rollback after a refused decision failed");
                }
                return Err(TxError::Refused(refusal));
            }
        };
        let handed = self.apply_all(&*tx, std::slice::from_ref(&decision.changes)).await?;
        tx.commit().await?;
        self.hand_off(handed);
        Ok(decision.outcome)
    }

    async fn load_scope(&self, tx: &DatabaseTransaction, key: &ScopeKey) -> Result<Scope, Failure> {
        match key {
            ScopeKey::NewRequest { .. } | ScopeKey::NewRequestAs { .. } => {
                let mut scopes = self.new_request_scopes(tx, &Vec::from_iter(By::of(key))).await?;
                Ok(scopes.pop().unwrap_or_default())
            }
            ScopeKey::AgencyRequest { agency, request } => {
                let agency_account = self.account_row(tx, agency.as_uuid(), false).await?;
                let found = access_request::Entity::find_by_id(request.as_uuid())
                    .filter(access_request::Column::AgencyId.eq(agency.as_uuid()))
                    .one(tx)
                    .await?;
                let Some(found) = found else {
                    return Ok(Scope { agency: agency_account, ..Scope::default() });
                };
                // The request's email never changes, and approval binds it to the
                // account with that email, so this is the client before and after.
                let client = account::Entity::find()
                    .filter(account::Column::Email.eq(found.email.as_str()))
                    .lock_exclusive()
                    .one(tx)
                    .await?
                    .as_ref()
                    .map(account_from)
                    .transpose()?;
                let request = self.request_row_locked(tx, found.id).await?;
                Ok(Scope {
                    agency: agency_account,
                    members: self.members_of(tx, client.as_ref().map(|c| c.id)).await?,
                    client,
                    request,
                    recipient_recent: vec![],
                    session: None,
                })
            }
            ScopeKey::ClientRequest { client, request } => {
                let client_account = self.account_row(tx, client.as_uuid(), true).await?;
                let request = self.request_row_locked(tx, request.as_uuid()).await?;
                self.client_scope(tx, client_account, request).await
            }
            ScopeKey::ClientRequestByToken { client, token } => {
                let client_account = self.account_row(tx, client.as_uuid(), true).await?;
                // Locked and read in one statement: a resend that rotated the link in
                // the meantime makes the old hash match nothing.
                let request = access_request::Entity::find()
                    .filter(access_request::Column::TokenHash.eq(token.as_bytes().to_vec()))
                    .lock_exclusive()
                    .one(tx)
                    .await?
                    .as_ref()
                    .map(request_from)
                    .transpose()?;
                self.client_scope(tx, client_account, request).await
            }
            ScopeKey::Member { client, member } => {
                let client_account = self.account_row(tx, client.as_uuid(), true).await?;
                let members = self.members_of(tx, client_account.as_ref().map(|c| c.id)).await?;
                let (request, agency) = match members.iter().find(|m| m.id == *member) {
                    Some(m) => (
                        self.request_row_locked(tx, m.origin.as_uuid()).await?,
                        self.account_row(tx, m.account_id.as_uuid(), false).await?,
                    ),
                    None => (None, None),
                };
                Ok(Scope { agency, client: client_account, members, request, recipient_recent: vec![], session: None })
            }
            ScopeKey::Team { client } => {
                let client_account = self.account_row(tx, client.as_uuid(), true).await?;
                Ok(Scope {
                    members: self.members_of(tx, client_account.as_ref().map(|c| c.id)).await?,
                    client: client_account,
                    ..Scope::default()
                })
            }
        }
    }

    /// The scope of a client acting on a request: the client (already locked), its
    /// team, the request and the request's agency.
    async fn client_scope(
        &self,
        tx: &DatabaseTransaction,
        client: Option<clients_domain::Account>,
        request: Option<clients_domain::AccessRequest>,
    ) -> Result<Scope, Failure> {
        let agency = match &request {
            Some(r) => self.account_row(tx, r.agency_id().as_uuid(), false).await?,
            None => None,
        };
        Ok(Scope {
            agency,
            members: self.members_of(tx, client.as_ref().map(|c| c.id)).await?,
            client,
            request,
            recipient_recent: vec![],
            session: None,
        })
    }

    async fn account_row(
        &self,
        tx: &DatabaseTransaction,
        id: Uuid,
        lock: bool,
    ) -> Result<Option<clients_domain::Account>, Failure> {
        let mut query = account::Entity::find_by_id(id);
        if lock {
            query = query.lock_exclusive();
        }
        query.one(tx).await?.as_ref().map(account_from).transpose()
    }

    async fn request_row_locked(
        &self,
        tx: &DatabaseTransaction,
        id: Uuid,
    ) -> Result<Option<clients_domain::AccessRequest>, Failure> {
        access_request::Entity::find_by_id(id).lock_exclusive().one(tx).await?.as_ref().map(request_from).transpose()
    }

    /// The members of `client`'s team, oldest first (none when there is no client).
    pub(crate) async fn members_of<C: ConnectionTrait>(
        &self,
        db: &C,
        client: Option<AccountId>,
    ) -> Result<Vec<Member>, Failure> {
        let Some(client) = client else { return Ok(vec![]) };
        membership::Entity::find()
            .filter(membership::Column::ClientId.eq(client.as_uuid()))
            .order_by_asc(membership::Column::Since)
            .order_by_asc(membership::Column::Id)
            .all(db)
            .await?
            .iter()
            .map(member_from)
            .collect()
    }

    /// Writes decisions' changes, in an order that satisfies the foreign keys: the new
    /// requests of all of them (one statement), then each one's other row changes in
    /// turn, then all audit entries and all emails (one insert each). The inserts go as
    /// one script ([`Script`]: one round trip; two when other rows change between
    /// them).
    ///
    /// When this process delivers its own new emails (see `handoff`), they are written
    /// claimed, and returned with the end of their lease: the caller hands them to the
    /// delivery worker once the transaction has committed ([`Store::hand_off`]).
    pub(crate) async fn apply_all<C: ConnectionTrait>(
        &self,
        tx: &C,
        all: &[Changes],
    ) -> Result<Vec<(OutgoingEmail, DateTime<Utc>)>, Failure> {
        let (mut script, handed) = self.apply_all_but_last(tx, all).await?;
        script.run(tx).await?;
        Ok(handed)
    }

    /// [`Store::apply_all`], but its last script is returned, not run: the caller sends
    /// it with its `COMMIT` (see `held`).
    pub(crate) async fn apply_all_but_last<C: ConnectionTrait>(
        &self,
        tx: &C,
        all: &[Changes],
    ) -> Result<(Script, Vec<(OutgoingEmail, DateTime<Utc>)>), Failure> {
        let backend = self.backend();
        let mut script = Script::new(backend);
        let requests: Vec<_> = all.iter().filter_map(|c| c.insert_request.as_ref()).map(request_row).collect();
        if !requests.is_empty() {
            script.add(access_request::Entity::insert_many(requests).build(backend));
        }
        if all.iter().any(changes_other_rows) {
            script.run(tx).await?;
            for c in all {
                self.apply_row_changes(tx, c).await?;
            }
        }
        let audit: Vec<_> = all.iter().flat_map(|c| &c.audit).map(audit_row).collect();
        if !audit.is_empty() {
            script.add(audit_event::Entity::insert_many(audit).build(backend));
        }
        let key = &self.inner.outbox_key;
        let lease = self.handoff_lease();
        let mut handed = vec![];
        let mut rows = Vec::new();
        for e in all.iter().flat_map(|c| &c.emails) {
            let mut row = outbox_row(e, key)?;
            if let Some(lease) = lease {
                // As the outbox's claim leaves a message (see `outbox`).
                let until = e.created_at + lease;
                row.claimed_until = Set(Some(ts(until)));
                row.attempts = Set(1);
                handed.push((e.clone(), until));
            }
            rows.push(row);
        }
        if !rows.is_empty() {
            script.add(outbox_message::Entity::insert_many(rows).build(backend));
        }
        Ok((script, handed))
    }

    /// A decision's changes other than new requests, audit entries and emails.
    async fn apply_row_changes<C: ConnectionTrait>(&self, tx: &C, c: &Changes) -> Result<(), Failure> {
        if let Some(r) = &c.update_request {
            access_request::Entity::update(request_row(r)).exec_without_returning(tx).await?;
        }
        if let Some(id) = c.delete_member {
            membership::Entity::delete_by_id(id.as_uuid()).exec(tx).await?;
        }
        if let Some((client, member)) = &c.insert_member {
            membership::Entity::insert(member_row(*client, member)).exec_without_returning(tx).await?;
        }
        if let Some(m) = &c.update_member {
            membership::Entity::update_many()
                .col_expr(membership::Column::Role, Expr::value(m.role.as_str()))
                .filter(membership::Column::Id.eq(m.id.as_uuid()))
                .exec(tx)
                .await?;
        }
        if let Some((id, plan)) = c.set_plan {
            account::Entity::update_many()
                .col_expr(account::Column::Plan, Expr::value(plan.as_str()))
                .filter(account::Column::Id.eq(id.as_uuid()))
                .exec(tx)
                .await?;
        }
        if let Some(id) = c.verify_email {
            account::Entity::update_many()
                .col_expr(account::Column::EmailVerified, Expr::value(true))
                .filter(account::Column::Id.eq(id.as_uuid()))
                .exec(tx)
                .await?;
        }
        if let Some(s) = &c.insert_session {
            session::Entity::insert(session_row(s)).exec_without_returning(tx).await?;
        }
        Ok(())
    }
}

/// Whether `c` changes rows other than by inserting a request, audit entries or emails
/// (what [`Store::apply_row_changes`] writes). Every field is named, so that a new
/// kind of change cannot be missed here.
fn changes_other_rows(c: &Changes) -> bool {
    let Changes {
        insert_request: _,
        update_request,
        insert_member,
        update_member,
        delete_member,
        set_plan,
        verify_email,
        insert_session,
        audit: _,
        emails: _,
    } = c;
    update_request.is_some()
        || insert_member.is_some()
        || update_member.is_some()
        || delete_member.is_some()
        || set_plan.is_some()
        || verify_email.is_some()
        || insert_session.is_some()
}
