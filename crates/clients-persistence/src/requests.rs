//! Reading access requests (the agency's list, the client's pop-up, grant links) and
//! teams. Writes go through the atomic store.
//!
//! The agency's list is one SQL statement per page, whatever the page size: each row
//! joins the account with the requested email, whose website counters give the
//! row's websites and whose plan and member count give its slots. The status filter
//! reads the status stored on the row (kept true by triggers, migration 8) through an
//! index in the list's order; the search uses a trigram index (PostgreSQL `pg_trgm`,
//! SQLite FTS5), so neither walks the agency's whole list.

use async_trait::async_trait;
use clients_domain::ports::{
    AccessRequestRepository, ListError, Page, PendingRequest, SharedAccountQuery, SharedAccountRecord, StoreError,
    TeamRepository,
};
use clients_domain::{
    AccessRequestId, AccountId, Email, Member, Plan, RequestState, Role, SlotUsage, TokenHash, WebsiteSummary,
};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, FromQueryResult, QueryFilter as _, QueryResult, Value,
};
use uuid::Uuid;

use crate::Store;
use crate::audit::more;
use crate::cursor::{self, List};
use crate::entities::{access_request, account, membership};
use crate::errors::Failure;
use crate::mapping::{account_from, request_from};

/// A request row with the client account (if any) it is addressed to.
const LISTED_ROWS: &str = "SELECT r.*, \
    c.id AS c_id, c.plan AS c_plan, \
    c.websites_total AS c_total, c.websites_major_issue AS c_major_issue, \
    c.websites_not_connected AS c_not_connected, \
    (SELECT count(*) FROM memberships m WHERE m.client_id = c.id) AS c_members \
    FROM access_requests r LEFT JOIN accounts c ON c.email = r.email \
    WHERE r.agency_id = $1 AND r.state IN ('requested', 'approved', 'declined')";

/// A request with its agency's columns prefixed `a_`.
const WITH_AGENCY: &str = "SELECT r.*, a.id AS a_id, a.email AS a_email, a.email_verified AS a_email_verified, \
    a.name AS a_name, a.plan AS a_plan, a.password_hash AS a_password_hash, a.created_at AS a_created_at, \
    a.websites_total AS a_websites_total, a.websites_major_issue AS a_websites_major_issue, \
    a.websites_not_connected AS a_websites_not_connected \
    FROM access_requests r JOIN accounts a ON a.id = r.agency_id";

/// `%q%` for LIKE, with LIKE's own wildcards in `q` taken literally (`ESCAPE '\'`).
/// Stored emails and domains are lower-case, so lower-casing `q` makes the match
/// case-insensitive on both backends.
pub(crate) fn contains_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for ch in q.trim().to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The FTS5 query for the emails containing `q` (SQLite's trigram index): one phrase,
/// quotes doubled. None when `q` is shorter than a trigram, which the index cannot
/// serve (such short texts match many rows, found early by the plain scan).
pub(crate) fn trigram_phrase(q: &str) -> Option<String> {
    let q = q.trim().to_lowercase();
    (q.chars().count() >= 3).then(|| format!("\"{}\"", q.replace('"', "\"\"")))
}

fn dberr(e: sea_orm::DbErr) -> Failure {
    Failure::from(e)
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, col: &str) -> Result<T, Failure> {
    row.try_get::<T>("", col).map_err(dberr)
}

impl Store {
    fn listed_record(&self, row: &QueryResult) -> Result<SharedAccountRecord, Failure> {
        let request = request_from(&access_request::Model::from_query_result(row, "").map_err(dberr)?)?;
        let client = match get::<Option<Uuid>>(row, "c_id")? {
            None => None,
            Some(id) => {
                let plan: String = get(row, "c_plan")?;
                let plan = plan.parse::<Plan>().map_err(|_| Failure::Internal(format!("account {id}: bad plan")))?;
                let counter = |col| -> Result<u32, Failure> {
                    u32::try_from(get::<i32>(row, col)?).map_err(|_| Failure::Internal(format!("{col} < 0")))
                };
                let members = u32::try_from(get::<i64>(row, "c_members")?).unwrap_or(u32::MAX);
                let websites = WebsiteSummary {
                    total: counter("c_total")?,
                    major_issue: counter("c_major_issue")?,
                    not_connected: counter("c_not_connected")?,
                };
                let slots = SlotUsage { used: members, limit: self.inner.plans.slots(plan) };
                Some((websites, slots))
            }
        };
        let websites = match (request.state(), client) {
            (RequestState::Approved, Some((websites, _))) => websites,
            _ => WebsiteSummary::default(),
        };
        Ok(SharedAccountRecord { request, websites, client_slots: client.map(|(_, slots)| slots) })
    }

    fn pending_from(row: &QueryResult) -> Result<PendingRequest, Failure> {
        let request = request_from(&access_request::Model::from_query_result(row, "").map_err(dberr)?)?;
        let agency = account_from(&account::Model::from_query_result(row, "a_").map_err(dberr)?)?;
        Ok(PendingRequest { request, agency })
    }
}

#[async_trait]
impl AccessRequestRepository for Store {
    async fn find_by_token(&self, hash: &TokenHash) -> Result<Option<PendingRequest>, StoreError> {
        let sql = format!("{WITH_AGENCY} WHERE r.token_hash = $1");
        let row = self.db().query_one_raw(self.stmt(sql, [hash.as_bytes().to_vec().into()])).await;
        Ok(row.map_err(dberr)?.as_ref().map(Self::pending_from).transpose()?)
    }

    async fn pending_for(&self, email: &Email) -> Result<Vec<PendingRequest>, StoreError> {
        let sql = format!("{WITH_AGENCY} WHERE r.email = $1 AND r.state = 'requested' ORDER BY r.created_at, r.id");
        let rows = self.db().query_all_raw(self.stmt(sql, [email.as_str().into()])).await.map_err(dberr)?;
        Ok(rows.iter().map(Self::pending_from).collect::<Result<_, _>>()?)
    }

    async fn shared_accounts(
        &self,
        agency: AccountId,
        query: &SharedAccountQuery,
    ) -> Result<Page<SharedAccountRecord>, ListError> {
        let mut sql = String::from(LISTED_ROWS);
        let mut values: Vec<Value> = vec![agency.as_uuid().into()];
        let param = |values: &mut Vec<Value>, v: Value| {
            values.push(v);
            format!("${}", values.len())
        };
        if let Some(q) = query.q.as_deref().filter(|q| !q.trim().is_empty()) {
            let p = param(&mut values, contains_pattern(q).into());
            if self.is_postgres() {
                // Backslash is PostgreSQL's LIKE escape already; without an ESCAPE
                // clause the trigram index serves the pattern.
                sql.push_str(&format!(" AND r.email LIKE {p}"));
            } else {
                sql.push_str(&format!(" AND r.email LIKE {p} ESCAPE '\\'"));
                if let Some(phrase) = trigram_phrase(q) {
                    let p = param(&mut values, phrase.into());
                    sql.push_str(&format!(
                        " AND r.id IN (SELECT request_id FROM access_requests_search WHERE access_requests_search \
                         MATCH {p})"
                    ));
                }
            }
        }
        if let Some(status) = query.status {
            // The stored status (kept true by triggers: migration 8) serves the filter
            // from an index in the list's order.
            let p = param(&mut values, status.as_str().into());
            sql.push_str(&format!(" AND r.status = {p}"));
        }
        if let Some(c) = &query.page.cursor {
            let (at, id) = cursor::decode_time_id(List::SharedAccounts, c)?;
            let (pa, pi) = (param(&mut values, at.into()), param(&mut values, id.into()));
            // A row-value comparison: both backends seek the index to the cursor.
            sql.push_str(&format!(" AND (r.created_at, r.id) < ({pa}, {pi})"));
        }
        let limit = query.page.limit.get();
        sql.push_str(&format!(" ORDER BY r.created_at DESC, r.id DESC LIMIT {}", limit + 1));
        let rows = self.db().query_all_raw(self.stmt(sql, values)).await.map_err(dberr)?;
        let mut items = rows.iter().map(|r| self.listed_record(r)).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = more(&mut items, limit).map(|last| {
            cursor::encode_time_id(List::SharedAccounts, last.request.created_at(), last.request.id().as_uuid())
        });
        Ok(Page { items, next_cursor })
    }

    async fn shared_account(
        &self,
        agency: AccountId,
        id: AccessRequestId,
    ) -> Result<Option<SharedAccountRecord>, StoreError> {
        let sql = format!("{LISTED_ROWS} AND r.id = $2");
        let values: [Value; 2] = [agency.as_uuid().into(), id.as_uuid().into()];
        let row = self.db().query_one_raw(self.stmt(sql, values)).await.map_err(dberr)?;
        Ok(row.as_ref().map(|r| self.listed_record(r)).transpose()?)
    }
}

#[async_trait]
impl TeamRepository for Store {
    async fn member_role(&self, client: AccountId, agency: AccountId) -> Result<Option<Role>, StoreError> {
        let row = membership::Entity::find()
            .filter(membership::Column::ClientId.eq(client.as_uuid()))
            .filter(membership::Column::AgencyId.eq(agency.as_uuid()))
            .one(self.db())
            .await
            .map_err(dberr)?;
        let role = row
            .map(|m| m.role.parse::<Role>().map_err(|_| Failure::Internal(format!("membership {}: bad role", m.id))));
        Ok(role.transpose()?)
    }

    async fn members(&self, client: AccountId) -> Result<Vec<Member>, StoreError> {
        Ok(self.members_of(self.db(), Some(client)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_the_query_are_taken_literally() {
        assert_eq!(contains_pattern(" Shop "), "%shop%");
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }

    #[test]
    fn search_phrases_are_one_quoted_fts_string_of_three_characters_or_more() {
        assert_eq!(trigram_phrase(" Shop "), Some("\"shop\"".to_owned()));
        assert_eq!(trigram_phrase("a\"b OR c"), Some("\"a\"\"b or c\"".to_owned()));
        assert_eq!(trigram_phrase("ab"), None);
        assert_eq!(trigram_phrase("  é@ "), None);
    }
}
