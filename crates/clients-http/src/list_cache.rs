//! Rendered pages of the agencies' "Shared accounts" lists, served again while the
//! list's version proves them current.
//!
//! An agency opens its list all day; most opens find it as it was. A page is filed
//! under its agency and query, with the [`ListVersion`] the store read with the
//! caller's session (same statement, before the page was read). A later request whose
//! session read the same version gets the same bytes without the page being read,
//! mapped or rendered again: equal versions prove that no row and nothing a row shows
//! changed in between (migration 10 explains how the database keeps that true, on
//! every instance). A different version, or none, reads the page from the store.
//!
//! Bounded by the bytes it holds (`CLIENTS_LIST_CACHE_MIB`; 0 turns it off); the
//! eviction policy is quick_cache's (CLOCK-Pro-like, scan resistant).

use std::marker::PhantomData;

use bytes::Bytes;
use clients_domain::AccountId;
use clients_domain::ports::{ListVersion, SharedAccountQuery};
use poem::IntoResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};

/// What a page is filed under: the agency and everything in the query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    agency: AccountId,
    q: Option<String>,
    status: Option<&'static str>,
    limit: u32,
    cursor: Option<String>,
}

impl PageKey {
    pub(crate) fn new(agency: AccountId, query: &SharedAccountQuery) -> Self {
        Self {
            agency,
            q: query.q.clone(),
            status: query.status.map(|s| s.as_str()),
            limit: query.page.limit.get(),
            cursor: query.page.cursor.clone(),
        }
    }
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<PageKey, (ListVersion, Bytes)> for Weigh {
    fn weight(&self, key: &PageKey, value: &(ListVersion, Bytes)) -> u64 {
        let text = key.q.as_ref().map_or(0, String::len) + key.cursor.as_ref().map_or(0, String::len);
        (value.1.len() + text + 128) as u64
    }
}

/// The rendered pages.
pub(crate) struct ListCache {
    pages: quick_cache::sync::Cache<PageKey, (ListVersion, Bytes), Weigh>,
}

/// A 50-row page renders to about 20 KiB.
const TYPICAL_PAGE: u64 = 20 * 1024;

impl ListCache {
    /// A cache of at most `bytes` (None when 0).
    pub(crate) fn with_capacity(bytes: u64) -> Option<Self> {
        let items = usize::try_from((bytes / TYPICAL_PAGE).max(16)).unwrap_or(usize::MAX);
        (bytes > 0).then(|| Self { pages: quick_cache::sync::Cache::with_weighter(items, bytes, Weigh) })
    }

    /// The page filed under `key`, if rendered at `version`.
    pub(crate) fn get(&self, key: &PageKey, version: ListVersion) -> Option<Bytes> {
        let hit = self.pages.get(key).filter(|(at, _)| *at == version).map(|(_, body)| body);
        let outcome = if hit.is_some() { "hit" } else { "miss" };
        metrics::counter!("clients_list_cache_lookups_total", "outcome" => outcome).increment(1);
        hit
    }

    /// Files `body`, rendered from a read made no earlier than `version` was read.
    pub(crate) fn put(&self, key: PageKey, version: ListVersion, body: Bytes) {
        self.pages.insert(key, (version, body));
    }
}

/// A JSON body already rendered: the operation's schema is `T`'s, the bytes are
/// `T`'s JSON (made by [`RenderedJson::render`] or kept from an earlier render).
pub struct RenderedJson<T> {
    body: Bytes,
    schema: PhantomData<fn() -> T>,
}

impl<T: ToJSON> RenderedJson<T> {
    /// Renders `value` as poem-openapi's `Json` would.
    pub(crate) fn render(value: &T) -> Self {
        // Serialising a serde_json::Value cannot fail.
        let body = serde_json::to_vec(&value.to_json()).unwrap_or_default();
        Self::from_bytes(Bytes::from(body))
    }
}

impl<T> RenderedJson<T> {
    pub(crate) fn from_bytes(body: Bytes) -> Self {
        Self { body, schema: PhantomData }
    }

    pub(crate) fn bytes(&self) -> Bytes {
        self.body.clone()
    }
}

/// What poem-openapi's `Json` answers with.
const JSON: &str = "application/json; charset=utf-8";

impl<T: Type> Payload for RenderedJson<T> {
    const CONTENT_TYPE: &'static str = JSON;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for RenderedJson<T> {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().content_type(JSON).body(self.body)
    }
}

#[cfg(test)]
mod tests {
    use clients_domain::ports::{Limit, PageRequest};
    use uuid::Uuid;

    use super::*;

    fn key(agency: u128, q: Option<&str>) -> PageKey {
        let query = SharedAccountQuery {
            q: q.map(str::to_owned),
            status: None,
            page: PageRequest { limit: Limit::default(), cursor: None },
        };
        PageKey::new(AccountId::from_uuid(Uuid::from_u128(agency)), &query)
    }

    #[test]
    fn a_page_is_served_only_at_the_version_it_was_rendered_at_and_to_its_agency() {
        assert!(ListCache::with_capacity(0).is_none(), "0 turns the cache off");
        let cache = ListCache::with_capacity(1 << 20).unwrap();
        let (v1, v2) = (ListVersion::new(1, 0), ListVersion::new(2, 0));
        cache.put(key(1, None), v1, Bytes::from_static(b"page"));
        assert_eq!(cache.get(&key(1, None), v1).as_deref(), Some(&b"page"[..]));
        assert_eq!(cache.get(&key(1, None), v2), None, "another version");
        assert_eq!(cache.get(&key(1, None), ListVersion::new(1, 1)), None, "a row removed since");
        assert_eq!(cache.get(&key(2, None), v1), None, "another agency");
        assert_eq!(cache.get(&key(1, Some("shop")), v1), None, "another query");
        cache.put(key(1, None), v2, Bytes::from_static(b"newer"));
        assert_eq!(cache.get(&key(1, None), v1), None, "replaced");
        assert_eq!(cache.get(&key(1, None), v2).as_deref(), Some(&b"newer"[..]));
    }
}
