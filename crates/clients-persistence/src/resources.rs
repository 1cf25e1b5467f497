//! Settings documents, invoices and the website summary of an account.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clients_domain::ports::{AccountResources, ListError, Page, PageRequest, StoreError};
use clients_domain::{AccountId, Invoice, InvoiceId, InvoiceStatus, SettingsDocument, WebsiteSummary};
use sea_orm::{ConnectionTrait as _, QueryResult, Value};
use uuid::Uuid;

use crate::Store;
use crate::audit::more;
use crate::cursor::{self, List};
use crate::errors::Failure;
use crate::mapping::ts;

fn get<T: sea_orm::TryGetable>(row: &QueryResult, col: &str) -> Result<T, Failure> {
    row.try_get::<T>("", col).map_err(Failure::from)
}

fn count(row: &QueryResult, col: &str) -> Result<u32, Failure> {
    let n: i64 = get::<i32>(row, col).map(i64::from).or_else(|_| get::<i64>(row, col))?;
    u32::try_from(n).map_err(|_| Failure::Internal(format!("negative counter {col}")))
}

fn invoice_from(row: &QueryResult) -> Result<Invoice, Failure> {
    let status: String = get(row, "status")?;
    Ok(Invoice {
        id: InvoiceId::from_uuid(get::<Uuid>(row, "id")?),
        account_id: AccountId::from_uuid(get::<Uuid>(row, "account_id")?),
        number: get(row, "number")?,
        period_start: get(row, "period_start")?,
        period_end: get(row, "period_end")?,
        amount_cents: get(row, "amount_cents")?,
        currency: get(row, "currency")?,
        status: InvoiceStatus::parse(&status).ok_or_else(|| Failure::Internal(format!("invoice status {status:?}")))?,
        issued_at: get(row, "issued_at")?,
    })
}

#[async_trait]
impl AccountResources for Store {
    async fn settings(&self, account: AccountId) -> Result<Option<SettingsDocument>, StoreError> {
        let sql = "SELECT document FROM account_settings WHERE account_id = $1";
        let row = self.db().query_one_raw(self.stmt(sql, [account.as_uuid().into()])).await.map_err(Failure::from)?;
        row.map(|r| {
            let text: String = get(&r, "document")?;
            SettingsDocument::new(text).map_err(|e| Failure::Internal(e.to_string()))
        })
        .transpose()
        .map_err(Into::into)
    }

    async fn put_settings(
        &self,
        account: AccountId,
        settings: &SettingsDocument,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // One statement, so it is atomic on its own on both backends.
        let sql = "INSERT INTO account_settings (account_id, document, updated_at) VALUES ($1, $2, $3) \
            ON CONFLICT (account_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at";
        let values: [Value; 3] = [account.as_uuid().into(), settings.as_str().into(), ts(at).into()];
        self.db().execute_raw(self.stmt(sql, values)).await.map_err(Failure::from)?;
        Ok(())
    }

    async fn invoices(&self, account: AccountId, page: &PageRequest) -> Result<Page<Invoice>, ListError> {
        let mut sql = String::from("SELECT * FROM invoices WHERE account_id = $1");
        let mut values: Vec<Value> = vec![account.as_uuid().into()];
        if let Some(c) = &page.cursor {
            let (at, id) = cursor::decode_time_id(List::Invoices, c)?;
            sql.push_str(" AND (issued_at < $2 OR (issued_at = $2 AND id < $3))");
            values.extend([at.into(), id.into()]);
        }
        let limit = page.limit.get();
        sql.push_str(&format!(" ORDER BY issued_at DESC, id DESC LIMIT {}", limit + 1));
        let rows = self.db().query_all_raw(self.stmt(sql, values)).await.map_err(Failure::from)?;
        let mut items = rows.iter().map(invoice_from).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = more(&mut items, limit)
            .map(|last| cursor::encode_time_id(List::Invoices, last.issued_at, last.id.as_uuid()));
        Ok(Page { items, next_cursor })
    }

    async fn add_invoice(&self, i: &Invoice) -> Result<(), StoreError> {
        let sql = "INSERT INTO invoices (id, account_id, number, period_start, period_end, amount_cents, currency, \
            status, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let values: [Value; 9] = [
            i.id.as_uuid().into(),
            i.account_id.as_uuid().into(),
            i.number.as_str().into(),
            ts(i.period_start).into(),
            ts(i.period_end).into(),
            i.amount_cents.into(),
            i.currency.as_str().into(),
            i.status.as_str().into(),
            ts(i.issued_at).into(),
        ];
        self.db().execute_raw(self.stmt(sql, values)).await.map_err(Failure::from)?;
        Ok(())
    }

    async fn website_summary(&self, account: AccountId) -> Result<WebsiteSummary, StoreError> {
        let sql = "SELECT websites_total, websites_major_issue, websites_not_connected FROM accounts WHERE id = $1";
        let row = self.db().query_one_raw(self.stmt(sql, [account.as_uuid().into()])).await.map_err(Failure::from)?;
        let Some(row) = row else { return Ok(WebsiteSummary::default()) };
        Ok(WebsiteSummary {
            total: count(&row, "websites_total")?,
            major_issue: count(&row, "websites_major_issue")?,
            not_connected: count(&row, "websites_not_connected")?,
        })
    }
}
