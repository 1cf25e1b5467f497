//! Opaque keyset cursors: base64url of the list's name and the sort key of the last
//! row served. Naming the list makes a cursor from another list invalid rather than
//! silently wrong.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use clients_domain::ports::ListError;
use uuid::Uuid;

/// Which list a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    SharedAccounts,
    Audit,
    Websites,
    Invoices,
}

impl List {
    const fn tag(self) -> &'static str {
        match self {
            List::SharedAccounts => "sa1",
            List::Audit => "au1",
            List::Websites => "ws1",
            List::Invoices => "in1",
        }
    }
}

fn encode(list: List, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{key}", list.tag()))
}

fn decode(list: List, cursor: &str) -> Result<String, ListError> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| ListError::InvalidCursor)?;
    let text = String::from_utf8(raw).map_err(|_| ListError::InvalidCursor)?;
    let (tag, key) = text.split_once('|').ok_or(ListError::InvalidCursor)?;
    if tag == list.tag() { Ok(key.to_owned()) } else { Err(ListError::InvalidCursor) }
}

/// A cursor after the row created at `at` with id `id` (lists ordered by time, then id).
pub(crate) fn encode_time_id(list: List, at: DateTime<Utc>, id: Uuid) -> String {
    encode(list, &format!("{}|{}", at.timestamp_micros(), id.simple()))
}

/// Reads [`encode_time_id`].
pub(crate) fn decode_time_id(list: List, cursor: &str) -> Result<(DateTime<Utc>, Uuid), ListError> {
    let key = decode(list, cursor)?;
    let (micros, id) = key.split_once('|').ok_or(ListError::InvalidCursor)?;
    let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or(ListError::InvalidCursor)?;
    let id = Uuid::try_parse(id).map_err(|_| ListError::InvalidCursor)?;
    Ok((at, id))
}

/// A cursor after the row with text key `key` (lists ordered by a unique text column).
pub(crate) fn encode_text(list: List, key: &str) -> String {
    encode(list, key)
}

/// Reads [`encode_text`].
pub(crate) fn decode_text(list: List, cursor: &str) -> Result<String, ListError> {
    decode(list, cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_one_list() {
        let at = DateTime::from_timestamp_micros(1_800_000_000_123_456).unwrap();
        let id = Uuid::from_u128(42);
        let c = encode_time_id(List::SharedAccounts, at, id);
        assert_eq!(decode_time_id(List::SharedAccounts, &c), Ok((at, id)));
        assert_eq!(decode_time_id(List::Audit, &c), Err(ListError::InvalidCursor));
        let w = encode_text(List::Websites, "shop.example.com");
        assert_eq!(decode_text(List::Websites, &w).unwrap(), "shop.example.com");
    }

    #[test]
    fn tampered_cursors_are_invalid() {
        for bad in ["", "!!!", "c2ExfA", "c2ExfDEyM3xub3QtYS11dWlk", "YWJj"] {
            assert_eq!(decode_time_id(List::SharedAccounts, bad), Err(ListError::InvalidCursor), "{bad}");
        }
    }
}
