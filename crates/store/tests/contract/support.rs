//! Helpers shared by the contract tests.

use serde_json::{json, Value};
use store::{
    HistoryQuery, HistoryScope, Method, Precondition, Store, StoreError, StoreOptions, TenantName,
    VersionRecord, WriteOutcome, WriteRequest,
};
pub(crate) use testkit::TestDb;

/// A connected store plus the database it lives in (dropped after the store).
pub(crate) struct Ctx {
    pub(crate) store: Store,
    pub(crate) be: &'static str,
    pub(crate) _db: TestDb,
}

pub(crate) async fn stores() -> Vec<Ctx> {
    let mut out = Vec::new();
    for db in testkit::test_databases().await {
        let store = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("[{}] connect: {e}", db.backend));
        assert_eq!(store.backend(), db.backend);
        out.push(Ctx {
            store,
            be: db.backend,
            _db: db,
        });
    }
    out
}

pub(crate) fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).expect("valid tenant name")
}

pub(crate) fn def() -> TenantName {
    TenantName::default_tenant()
}

pub(crate) fn req(
    rt: &str,
    id: &str,
    body: Value,
    precondition: Precondition,
    method: Method,
) -> WriteRequest {
    let mut resource = body.as_object().cloned().unwrap_or_default();
    resource.insert("resourceType".into(), Value::String(rt.to_owned()));
    WriteRequest {
        resource_type: rt.to_owned(),
        id: id.to_owned(),
        resource,
        precondition,
        method,
    }
}

/// An unconditional PUT of `{"n": n}`.
pub(crate) async fn put(s: &Store, t: &TenantName, rt: &str, id: &str, n: i64) -> WriteOutcome {
    s.write(
        t,
        req(rt, id, json!({ "n": n }), Precondition::None, Method::Put),
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] PUT {rt}/{id}: {e}", s.backend()))
}

pub(crate) fn parse(r: &VersionRecord) -> Value {
    serde_json::from_str(r.body.as_deref().expect("body")).expect("body is JSON")
}

pub(crate) fn hq(scope: HistoryScope, count: u32) -> HistoryQuery {
    HistoryQuery {
        scope,
        since: None,
        at: None,
        count,
        before_seq: None,
    }
}

/// `(type, id, version)` of each entry, in page order.
pub(crate) fn keys(entries: &[VersionRecord]) -> Vec<(String, String, i64)> {
    entries
        .iter()
        .map(|r| (r.resource_type.clone(), r.id.clone(), r.version))
        .collect()
}

pub(crate) fn k(rt: &str, id: &str, v: i64) -> (String, String, i64) {
    (rt.to_owned(), id.to_owned(), v)
}

pub(crate) fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::VersionConflict { .. }))
}

/// Runs one statement on the test database behind the store's back.
pub(crate) async fn raw_exec(db: &TestDb, sql: &str) {
    use sqlx::Connection;
    match db.backend {
        "sqlite" => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("sqlite");
            sqlx::query(sql).execute(&mut c).await.expect("raw sql");
        }
        _ => {
            let mut c = sqlx::PgConnection::connect(&db.url)
                .await
                .expect("postgres");
            sqlx::query(sql).execute(&mut c).await.expect("raw sql");
        }
    }
}
