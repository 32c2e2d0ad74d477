//! The index follows the resource inside the write transaction: a batch write saves its
//! index rows, an update replaces them, a delete removes them, on every backend. (Rows of a
//! deleted tenant cannot be observed through the API, since any write of a resource replaces
//! its rows; `delete_tenant` empties the index tables through `TENANT_DATA_TABLES`.)

mod search_support;

use serde_json::{json, Value};
use store::{BatchWrite, Method, OnUnchanged, Precondition, WriteRequest};

use search_support::{default_tenant, set, stores, Ctx};

fn batch_write(c: &Ctx, resource: Value) -> BatchWrite {
    BatchWrite {
        request: WriteRequest {
            resource_type: resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            id: resource["id"].as_str().unwrap_or_default().to_owned(),
            resource: resource.as_object().cloned().unwrap_or_default(),
            precondition: Precondition::None,
            method: Method::Put,
        },
        index: c.extractor.extract(&resource),
        restriction: None,
        hidden: Default::default(),
    }
}

async fn write_batch(c: &Ctx, t: &store::TenantName, resources: Vec<Value>) {
    let writes = resources.into_iter().map(|r| batch_write(c, r)).collect();
    let mut tx = c
        .store
        .begin(t)
        .await
        .unwrap_or_else(|e| panic!("[{}] begin: {e}", c.be));
    tx.write_batch(writes, OnUnchanged::NewVersion)
        .await
        .unwrap_or_else(|e| panic!("[{}] write_batch: {e}", c.be));
    tx.commit()
        .await
        .unwrap_or_else(|e| panic!("[{}] commit: {e}", c.be));
}

fn org(id: &str, name: &str) -> Value {
    json!({"resourceType": "Organization", "id": id, "name": name})
}

#[tokio::test]
async fn batch_writes_index_and_the_last_write_of_a_resource_wins() {
    for c in stores().await {
        let t = default_tenant();
        write_batch(
            &c,
            &t,
            vec![org("o1", "Acme"), org("o2", "Blue"), org("o1", "Cedar")],
        )
        .await;
        assert_eq!(
            c.ids("Organization", "name=cedar").await,
            set(&["o1"]),
            "[{}]",
            c.be
        );
        assert_eq!(
            c.ids("Organization", "name=acme").await,
            set(&[]),
            "[{}]",
            c.be
        );
        assert_eq!(
            c.ids("Organization", "name=blue").await,
            set(&["o2"]),
            "[{}]",
            c.be
        );
        // A later batch replaces the rows.
        write_batch(&c, &t, vec![org("o2", "Birch")]).await;
        assert_eq!(
            c.ids("Organization", "name=b").await,
            set(&["o2"]),
            "[{}]",
            c.be
        );
        assert_eq!(
            c.ids("Organization", "name=blue").await,
            set(&[]),
            "[{}]",
            c.be
        );
    }
}

#[tokio::test]
async fn delete_and_single_writes_never_leave_stale_index_rows() {
    for c in stores().await {
        let t = default_tenant();
        write_batch(&c, &t, vec![org("o1", "Acme"), org("o2", "Acme Two")]).await;
        c.store
            .delete(&t, "Organization", "o1", Precondition::None)
            .await
            .unwrap_or_else(|e| panic!("[{}] delete: {e}", c.be));
        // Recreate o1 with a bare write (no index entries): the old name must not match.
        c.store
            .write(
                &t,
                WriteRequest {
                    resource_type: "Organization".into(),
                    id: "o1".into(),
                    resource: org("o1", "Other").as_object().cloned().unwrap_or_default(),
                    precondition: Precondition::None,
                    method: Method::Put,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("[{}] write: {e}", c.be));
        assert_eq!(
            c.ids("Organization", "name=acme").await,
            set(&["o2"]),
            "[{}]",
            c.be
        );
        // An update through a bare write drops the resource's rows too.
        c.store
            .write(
                &t,
                WriteRequest {
                    resource_type: "Organization".into(),
                    id: "o2".into(),
                    resource: org("o2", "Renamed")
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                    precondition: Precondition::None,
                    method: Method::Put,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("[{}] write: {e}", c.be));
        assert_eq!(
            c.ids("Organization", "name=acme").await,
            set(&[]),
            "[{}]",
            c.be
        );
    }
}

/// The server runs searches inside axum handlers and spawned tasks: the futures must be
/// `Send` (a non-`Send` future is a compile error here, not a runtime surprise).
#[tokio::test]
async fn search_and_index_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    for c in stores().await {
        let t = default_tenant();
        let q = c.parse("Organization", "name=acme&_include=Organization:partof");
        let search = c.store.search(&t, &q, &c.registry, None);
        assert_send(&search);
        assert!(search.await.is_ok(), "[{}]", c.be);
        let reindex = c.store.reindex(&t, "Organization", "o1", &[]);
        assert_send(&reindex);
        assert!(reindex.await.is_ok(), "[{}]", c.be);
        let analyze = c.store.analyze_search_index();
        assert_send(&analyze);
        assert!(analyze.await.is_ok(), "[{}]", c.be);
    }
}

async fn write_indexed(
    c: &Ctx,
    id: &str,
    name: &str,
    precondition: Precondition,
) -> Result<store::WriteOutcome, store::StoreError> {
    let b = batch_write(c, org(id, name));
    let request = WriteRequest {
        precondition,
        ..b.request
    };
    c.store
        .write_indexed(&default_tenant(), request, &b.index)
        .await
}

#[tokio::test]
async fn write_indexed_replaces_the_rows_and_keeps_the_write_rules() {
    for c in stores().await {
        let first = write_indexed(&c, "o1", "Acme", Precondition::MustNotExist)
            .await
            .unwrap_or_else(|e| panic!("[{}] create: {e}", c.be));
        assert_eq!(first.kind, store::WriteKind::Created, "[{}]", c.be);
        assert_eq!(
            c.ids("Organization", "name=acme").await,
            set(&["o1"]),
            "[{}]",
            c.be
        );
        let second = write_indexed(&c, "o1", "Birch", Precondition::IfMatch(1))
            .await
            .unwrap_or_else(|e| panic!("[{}] update: {e}", c.be));
        assert_eq!(second.record.version, 2, "[{}]", c.be);
        assert_eq!(
            c.ids("Organization", "name=acme").await,
            set(&[]),
            "[{}]",
            c.be
        );
        assert_eq!(
            c.ids("Organization", "name=birch").await,
            set(&["o1"]),
            "[{}]",
            c.be
        );
        // A failed precondition writes neither the version nor the index.
        let stale = write_indexed(&c, "o1", "Cedar", Precondition::IfMatch(1)).await;
        assert!(
            matches!(stale, Err(store::StoreError::VersionConflict { .. })),
            "[{}] {stale:?}",
            c.be
        );
        assert_eq!(
            c.ids("Organization", "name=cedar").await,
            set(&[]),
            "[{}]",
            c.be
        );
        assert_eq!(
            c.ids("Organization", "name=birch").await,
            set(&["o1"]),
            "[{}]",
            c.be
        );
    }
}
