//! Shared set-up for the `search_*` test binaries: a store per test database, resources
//! written through the store and indexed with the real extractor and built-in registry.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use conformance::Registry;
use search::{Extractor, SearchQuery};
use serde_json::Value;
use store::{
    Method, PageCursor, Precondition, SearchPage, Store, StoreOptions, TenantName, VersionRecord,
    WriteRequest,
};
use testkit::TestDb;

/// A connected store, the registry and extractor its tests use, and the database it lives
/// in (dropped last).
pub struct Ctx {
    pub store: Store,
    /// `"sqlite"` or `"postgres"`: every assertion message starts with it.
    pub be: &'static str,
    pub registry: Registry,
    pub extractor: Extractor,
    _db: TestDb,
}

/// One context per database `testkit` provides (SQLite always, Postgres when reachable).
pub async fn stores() -> Vec<Ctx> {
    let registry = Registry::builtin();
    let extractor = Extractor::new(registry.clone());
    let mut out = Vec::new();
    for db in testkit::test_databases().await {
        let store = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("[{}] connect: {e}", db.backend));
        out.push(Ctx {
            store,
            be: db.backend,
            registry: registry.clone(),
            extractor: extractor.clone(),
            _db: db,
        });
    }
    out
}

pub fn default_tenant() -> TenantName {
    TenantName::default_tenant()
}

pub fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).expect("valid tenant name")
}

/// Splits `a=1&b=2` into pairs (test queries use no `&` or `=` inside values).
pub fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

impl Ctx {
    /// Writes `resource` (which must carry `resourceType` and `id`) with its index entries,
    /// in one transaction, as the API does (`Store::write_indexed`).
    pub async fn put_in(&self, t: &TenantName, resource: Value) -> VersionRecord {
        let rt = resource["resourceType"]
            .as_str()
            .expect("resourceType")
            .to_owned();
        let id = resource["id"].as_str().expect("id").to_owned();
        let entries = self.extractor.extract(&resource);
        let request = WriteRequest {
            resource_type: rt.clone(),
            id: id.clone(),
            resource: resource.as_object().cloned().unwrap_or_default(),
            precondition: Precondition::None,
            method: Method::Put,
        };
        self.store
            .write_indexed(t, request, &entries)
            .await
            .unwrap_or_else(|e| panic!("[{}] PUT {rt}/{id}: {e}", self.be))
            .record
    }

    /// Writes many resources (each with `resourceType` and `id`) in one store transaction,
    /// indexed as [`Ctx::put_in`] does: for tests that need thousands.
    pub async fn put_many(&self, resources: Vec<Value>) {
        let writes = resources
            .into_iter()
            .map(|resource| store::BatchWrite {
                index: self.extractor.extract(&resource),
                restriction: None,
                hidden: Default::default(),
                request: WriteRequest {
                    resource_type: resource["resourceType"]
                        .as_str()
                        .expect("resourceType")
                        .into(),
                    id: resource["id"].as_str().expect("id").into(),
                    resource: resource.as_object().cloned().unwrap_or_default(),
                    precondition: Precondition::None,
                    method: Method::Put,
                },
            })
            .collect();
        let mut tx = self
            .store
            .begin(&default_tenant())
            .await
            .unwrap_or_else(|e| panic!("[{}] begin: {e}", self.be));
        tx.write_batch(writes, store::OnUnchanged::KeepCurrent)
            .await
            .unwrap_or_else(|e| panic!("[{}] write_batch: {e}", self.be));
        tx.commit()
            .await
            .unwrap_or_else(|e| panic!("[{}] commit: {e}", self.be));
    }

    /// Closes the store and connects again, as a restarted process would (migrations and
    /// start-up repairs included).
    pub async fn reconnect(&mut self) {
        self.store.close().await;
        self.store = Store::connect(&self._db.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("[{}] reconnect: {e}", self.be));
    }

    /// Another store on the same database, as a second fhirdir process would have.
    pub async fn another_process(&self) -> Store {
        self.another_store(&StoreOptions::default()).await
    }

    /// The database URL (for a raw connection of the test's own).
    pub fn url(&self) -> &str {
        &self._db.url
    }

    /// Another store on the same database, with `opts`.
    pub async fn another_store(&self, opts: &StoreOptions) -> Store {
        Store::connect(&self._db.url, opts)
            .await
            .unwrap_or_else(|e| panic!("[{}] connect again: {e}", self.be))
    }

    pub async fn put(&self, resource: Value) -> VersionRecord {
        self.put_in(&default_tenant(), resource).await
    }

    /// Deletes a resource (the delete removes its index rows).
    pub async fn delete_in(&self, t: &TenantName, rt: &str, id: &str) {
        self.store
            .delete(t, rt, id, Precondition::None)
            .await
            .unwrap_or_else(|e| panic!("[{}] DELETE {rt}/{id}: {e}", self.be));
    }

    pub async fn delete(&self, rt: &str, id: &str) {
        self.delete_in(&default_tenant(), rt, id).await
    }

    pub fn parse(&self, rt: &str, query: &str) -> SearchQuery {
        let q = SearchQuery::parse(rt, &pairs(query), &self.registry)
            .unwrap_or_else(|e| panic!("[{}] parse {rt}?{query}: {e}", self.be));
        assert!(
            q.unknown.is_empty(),
            "[{}] {rt}?{query}: not understood: {:?}",
            self.be,
            q.unknown
        );
        q
    }

    pub async fn search_in(
        &self,
        t: &TenantName,
        rt: &str,
        query: &str,
        cursor: Option<&PageCursor>,
    ) -> SearchPage {
        let q = self.parse(rt, query);
        self.store
            .search(t, &q, &self.registry, cursor)
            .await
            .unwrap_or_else(|e| panic!("[{}] search {rt}?{query}: {e}", self.be))
    }

    pub async fn search(&self, rt: &str, query: &str) -> SearchPage {
        self.search_in(&default_tenant(), rt, query, None).await
    }

    /// The ids of the first page's matches, sorted (for set comparisons).
    pub async fn ids(&self, rt: &str, query: &str) -> Vec<String> {
        let mut ids = ids_of(&self.search(rt, query).await.matches);
        ids.sort();
        ids
    }
}

/// `Type/id` of included records, sorted.
pub fn keys_of(records: &[VersionRecord]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| format!("{}/{}", r.resource_type, r.id))
        .collect();
    out.sort();
    out
}

/// Ids in the given order.
pub fn ids_of(records: &[VersionRecord]) -> Vec<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

/// Sorted owned strings.
pub fn set(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// Follows `next` from the first page to the end; also checks that each page's `previous`
/// cursor leads back to exactly the page before it.
pub async fn all_pages(c: &Ctx, rt: &str, query: &str) -> Vec<String> {
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut cursor: Option<PageCursor> = None;
    loop {
        let page = c
            .search_in(&default_tenant(), rt, query, cursor.as_ref())
            .await;
        let ids = ids_of(&page.matches);
        if let Some(prev) = &page.previous {
            let back = c.search_in(&default_tenant(), rt, query, Some(prev)).await;
            assert_eq!(
                Some(&ids_of(&back.matches)),
                pages.last(),
                "[{}] previous of page {} of {rt}?{query}",
                c.be,
                pages.len() + 1
            );
        } else {
            assert!(pages.is_empty(), "[{}] a later page without previous", c.be);
        }
        assert!(pages.len() < 100, "[{}] paging does not end", c.be);
        pages.push(ids);
        match page.next {
            // The cursor survives its string form.
            Some(next) => cursor = Some(PageCursor::decode(&next.encode()).expect("cursor")),
            None => break,
        }
    }
    pages.concat()
}
