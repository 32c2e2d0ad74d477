//! A caller may drop a store operation at any `.await` (a client hanging up drops its
//! request). Whatever point it is dropped at, the next caller must get a working connection
//! (on Postgres a connection dropped mid-`COPY` or mid-transaction used to be handed out again
//! and fail the next requests), and the dropped write must be all or nothing.

mod search_support;

use std::time::Duration;

use serde_json::{json, Value};
use store::{Method, Precondition, StoreOptions, WriteRequest};

use search_support::{default_tenant, ids_of, pairs, stores};

/// An Organization with `n` identifiers: thousands of index rows, so that its write spends
/// a while in `COPY` / multi-row inserts.
fn big_org(n: usize) -> Value {
    let identifiers: Vec<Value> = (0..n)
        .map(|i| json!({"system": "urn:test:big", "value": format!("v{i}")}))
        .collect();
    json!({"resourceType": "Organization", "id": "big", "name": "Big", "identifier": identifiers})
}

fn put(resource: &Value) -> WriteRequest {
    WriteRequest {
        resource_type: "Organization".into(),
        id: resource["id"].as_str().expect("id").into(),
        resource: resource.as_object().cloned().expect("object"),
        precondition: Precondition::None,
        method: Method::Put,
    }
}

#[tokio::test]
async fn an_operation_dropped_at_any_point_leaves_the_next_caller_a_working_connection() {
    for c in stores().await {
        // One connection: whatever the dropped operation leaves behind, the next caller gets.
        let opts = StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        };
        let store = c.another_store(&opts).await;
        let t = default_tenant();
        let small = json!({"resourceType": "Organization", "id": "small", "name": "Small"});
        store
            .write_indexed(&t, put(&small), &c.extractor.extract(&small))
            .await
            .unwrap_or_else(|e| panic!("[{}] write small: {e}", c.be));
        let big = big_org(5_000);
        let entries = c.extractor.extract(&big);
        let by_name = search::SearchQuery::parse("Organization", &pairs("name=small"), &c.registry)
            .expect("query");
        let mut delay = Duration::from_micros(20);
        while delay < Duration::from_millis(400) {
            // Dropped after `delay`: somewhere in acquire, BEGIN, the row writes, COPY, COMMIT.
            let write = async {
                let mut tx = store.begin(&t).await?;
                tx.write_indexed(put(&big), &entries, &store::NOT_HIDDEN)
                    .await?;
                tx.commit().await
            };
            let _ = tokio::time::timeout(delay, write).await;
            // A dropped search too.
            let _ = tokio::time::timeout(delay / 4, store.search(&t, &by_name, &c.registry, None))
                .await;
            for _ in 0..3 {
                let read = store
                    .read(&t, "Organization", "small")
                    .await
                    .unwrap_or_else(|e| panic!("[{}] read after a drop at {delay:?}: {e}", c.be));
                assert!(read.is_some(), "[{}] small is there", c.be);
                let page = store
                    .search(&t, &by_name, &c.registry, None)
                    .await
                    .unwrap_or_else(|e| panic!("[{}] search after a drop at {delay:?}: {e}", c.be));
                assert_eq!(
                    ids_of(&page.matches),
                    vec!["small".to_owned()],
                    "[{}]",
                    c.be
                );
                assert!(
                    store.tenant_exists(&t).await.unwrap_or_else(|e| panic!(
                        "[{}] tenant_exists after a drop at {delay:?}: {e}",
                        c.be
                    )),
                    "[{}] the tenant exists after a drop at {delay:?}",
                    c.be
                );
                store
                    .write_indexed(&t, put(&small), &c.extractor.extract(&small))
                    .await
                    .unwrap_or_else(|e| panic!("[{}] write after a drop at {delay:?}: {e}", c.be));
            }
            delay = delay * 3 / 2;
        }
        // Whatever was committed of the big resource is whole: its last identifier is indexed
        // whenever the resource exists.
        if store
            .read(&t, "Organization", "big")
            .await
            .expect("read big")
            .is_some()
        {
            let last = search::SearchQuery::parse(
                "Organization",
                &pairs("identifier=urn:test:big|v4999"),
                &c.registry,
            )
            .expect("query");
            let page = store
                .search(&t, &last, &c.registry, None)
                .await
                .expect("search big");
            assert_eq!(ids_of(&page.matches), vec!["big".to_owned()], "[{}]", c.be);
        }
    }
}

/// Postgres: a write dropped while its statement waits (here on a row lock another session
/// holds) must not keep running on the server, and must not happen later.
#[tokio::test]
async fn a_dropped_write_stops_waiting_on_the_server_and_never_happens() {
    for c in stores().await {
        if c.be != "postgres" {
            continue;
        }
        let t = default_tenant();
        let org = json!({"resourceType": "Organization", "id": "locked", "name": "Before"});
        c.store
            .write_indexed(&t, put(&org), &c.extractor.extract(&org))
            .await
            .expect("first write");
        // Another session locks the row.
        let url = c.url().to_owned();
        let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect");
        sqlx::Executor::execute(&mut other, "BEGIN")
            .await
            .expect("begin");
        sqlx::Executor::execute(
            &mut other,
            "SELECT 1 FROM resources WHERE res_type = 'Organization' AND id = 'locked' FOR UPDATE",
        )
        .await
        .expect("lock the row");
        // The store's update waits for that lock; its caller gives up.
        let changed = json!({"resourceType": "Organization", "id": "locked", "name": "After"});
        let entries = c.extractor.extract(&changed);
        let dropped = tokio::time::timeout(
            Duration::from_millis(300),
            c.store.write_indexed(&t, put(&changed), &entries),
        )
        .await;
        assert!(
            dropped.is_err(),
            "[postgres] the write should still be waiting"
        );
        // Within a few seconds no fhirdir backend is waiting for the lock any more.
        let waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'fhirdir' \
                       AND datname = current_database() AND wait_event_type = 'Lock'";
        let mut left = i64::MAX;
        for _ in 0..50 {
            left = sqlx::query_scalar(waiting)
                .fetch_one(&mut other)
                .await
                .expect("pg_stat_activity");
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            left, 0,
            "[postgres] the dropped write still waits on the server"
        );
        sqlx::Executor::execute(&mut other, "ROLLBACK")
            .await
            .expect("rollback");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = c
            .store
            .read(&t, "Organization", "locked")
            .await
            .expect("read")
            .expect("exists");
        assert!(
            now.body.as_deref().unwrap_or_default().contains("Before"),
            "[postgres] the dropped, unacknowledged write happened after all"
        );
    }
}
