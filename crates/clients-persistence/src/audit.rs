//! Reading the audit log (entries are written by atomic operations).

use async_trait::async_trait;
use clients_domain::ports::{AuditRepository, ListError, Page, PageRequest};
use clients_domain::{AccountId, AuditEvent, Email};
use sea_orm::{EntityTrait as _, Value};

use crate::Store;
use crate::cursor::{self, List};
use crate::entities::audit_event;
use crate::errors::Failure;
use crate::mapping::audit_from;

#[async_trait]
impl AuditRepository for Store {
    async fn for_client(
        &self,
        client: AccountId,
        email: &Email,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, ListError> {
        // Entries name the client account once it exists; before that, its address.
        let mut sql = String::from(
            "SELECT * FROM audit_events WHERE (client_id = $1 OR (client_id IS NULL AND client_email = $2))",
        );
        let mut values: Vec<Value> = vec![client.as_uuid().into(), email.as_str().into()];
        if let Some(c) = &page.cursor {
            let (at, id) = cursor::decode_time_id(List::Audit, c)?;
            sql.push_str(" AND (at < $3 OR (at = $3 AND id < $4))");
            values.extend([at.into(), id.into()]);
        }
        let limit = page.limit.get();
        sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT {}", limit + 1));
        let rows = audit_event::Entity::find()
            .from_raw_sql(self.stmt(sql, values))
            .all(self.db())
            .await
            .map_err(Failure::from)?;
        let mut items = rows.iter().map(audit_from).collect::<Result<Vec<_>, _>>()?;
        let next_cursor =
            more(&mut items, limit).map(|last| cursor::encode_time_id(List::Audit, last.at, last.id.as_uuid()));
        Ok(Page { items, next_cursor })
    }
}

/// Trims the probe row (lists fetch `limit + 1` to learn whether another page
/// exists) and returns the last row served when there is one.
pub(crate) fn more<T>(items: &mut Vec<T>, limit: u32) -> Option<&T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last()
    } else {
        None
    }
}

impl From<Failure> for ListError {
    fn from(f: Failure) -> Self {
        ListError::Store(f.into_store())
    }
}
