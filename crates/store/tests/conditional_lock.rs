//! What conditional writes build on: [`store::StoreTx::search`] (a search inside the write
//! transaction, its own writes and `:in` ValueSets included) and
//! [`store::StoreTx::lock_condition`] (the second taker of a key waits for the first
//! transaction to end, then sees its commit); on every backend.

mod search_support;

use std::time::Duration;

use serde_json::{json, Value};
use store::{Method, Precondition, StoreTx, WriteRequest};

use search_support::{default_tenant, ids_of, stores, Ctx};

fn write(c: &Ctx, resource: Value) -> (WriteRequest, Vec<search::IndexEntry>) {
    let index = c.extractor.extract(&resource);
    let request = WriteRequest {
        resource_type: resource["resourceType"].as_str().unwrap().to_owned(),
        id: resource["id"].as_str().unwrap().to_owned(),
        resource: resource.as_object().cloned().unwrap_or_default(),
        precondition: Precondition::None,
        method: Method::Put,
    };
    (request, index)
}

async fn tx_ids(c: &Ctx, tx: &mut StoreTx, rt: &str, query: &str) -> Vec<String> {
    let q = c.parse(rt, query);
    let page = tx
        .search(&store::Viewer::System, &q, &c.registry)
        .await
        .unwrap_or_else(|e| panic!("[{}] tx search {rt}?{query}: {e}", c.be));
    ids_of(&page.matches)
}

#[tokio::test]
async fn a_transaction_search_sees_its_own_writes_and_expands_value_sets() {
    for c in stores().await {
        let t = default_tenant();
        c.put(json!({"resourceType": "ValueSet", "id": "kinds",
            "url": "http://ex.org/ValueSet/kinds",
            "compose": {"include": [{"system": "http://ex.org/kind",
                                      "concept": [{"code": "clinic"}]}]}}))
            .await;
        let mut tx = c.store.begin(&t).await.expect("begin");
        let (req, index) = write(
            &c,
            json!({"resourceType": "Organization", "id": "o1", "name": "Inside",
                "type": [{"coding": [{"system": "http://ex.org/kind", "code": "clinic"}]}]}),
        );
        tx.write_indexed(req, &index, &store::NOT_HIDDEN)
            .await
            .expect("write");
        assert_eq!(
            tx_ids(&c, &mut tx, "Organization", "name=inside").await,
            ["o1"],
            "[{}] own write",
            c.be
        );
        assert_eq!(
            tx_ids(
                &c,
                &mut tx,
                "Organization",
                "type:in=http://ex.org/ValueSet/kinds"
            )
            .await,
            ["o1"],
            "[{}] :in inside the transaction",
            c.be
        );
        assert!(
            c.ids("Organization", "name=inside").await.is_empty(),
            "[{}] not visible outside before the commit",
            c.be
        );
        tx.commit().await.expect("commit");
        assert_eq!(
            c.ids("Organization", "name=inside").await,
            ["o1"],
            "[{}]",
            c.be
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_taker_of_a_condition_lock_waits_and_then_sees_the_first_commit() {
    for c in stores().await {
        let c = std::sync::Arc::new(c);
        let t = default_tenant();
        let key = "Organization?name=racer";
        let mut first = c.store.begin(&t).await.expect("begin first");
        first.lock_condition(key).await.expect("lock first");

        let (took, mut took_rx) = tokio::sync::oneshot::channel();
        let second = tokio::spawn({
            let c = c.clone();
            async move {
                let t = default_tenant();
                // On SQLite this already waits in `begin` (BEGIN IMMEDIATE).
                let mut tx = c.store.begin(&t).await.expect("begin second");
                tx.lock_condition(key).await.expect("lock second");
                let _ = took.send(());
                let found = tx_ids(&c, &mut tx, "Organization", "name=racer").await;
                tx.rollback().await.expect("rollback");
                found
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            took_rx.try_recv().is_err(),
            "[{}] the second transaction took the lock while the first held it",
            c.be
        );
        if c.be == "postgres" {
            // Another key is not held up (on SQLite every writer waits anyway).
            let mut other = c.store.begin(&t).await.expect("begin other");
            tokio::time::timeout(Duration::from_secs(5), other.lock_condition("other"))
                .await
                .expect("another key does not wait")
                .expect("lock other");
            other.rollback().await.expect("rollback other");
        }
        let (req, index) = write(
            &c,
            json!({"resourceType": "Organization", "id": "r1", "name": "Racer"}),
        );
        first
            .write_indexed(req, &index, &store::NOT_HIDDEN)
            .await
            .expect("write");
        first.commit().await.expect("commit first");
        let found = tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .expect("the second transaction goes on once the first ends")
            .expect("second task");
        assert_eq!(
            found,
            ["r1"],
            "[{}] the second sees the first's commit",
            c.be
        );
    }
}
