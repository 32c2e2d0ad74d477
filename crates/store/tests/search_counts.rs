//! `_total=accurate` stays exact while a store reuses its counts (`store::search::count_cache`):
//! after every kind of write, by this store or by another process on the same database, the
//! next search's total is the new one; a count made inside a write transaction (which sees
//! the transaction's own rows) is never handed to anyone else.

mod search_support;

use serde_json::{json, Value};

use search_support::{default_tenant, stores, tenant, Ctx};
use store::{Method, Precondition, WriteRequest};

fn practitioner(id: &str, gender: &str) -> Value {
    json!({"resourceType": "Practitioner", "id": id, "gender": gender})
}

// `_count=1`: the count statement runs whenever there are matches (a first page holding them
// all would make the total known without it).
const FEMALE: &str = "gender=female&_total=accurate&_count=1";

/// The accurate total of `Practitioner?gender=female`, asked twice (the second answer may come
/// from the cache, and must equal the first).
async fn females(c: &Ctx, t: &store::TenantName) -> u64 {
    let first = c.search_in(t, "Practitioner", FEMALE, None).await.total;
    let again = c.search_in(t, "Practitioner", FEMALE, None).await.total;
    assert_eq!(first, again, "[{}] the same search twice", c.be);
    first.unwrap_or_else(|| panic!("[{}] _total=accurate gave no total", c.be))
}

fn female_request(id: &str) -> WriteRequest {
    let resource = practitioner(id, "female");
    WriteRequest {
        resource_type: "Practitioner".into(),
        id: id.into(),
        resource: resource.as_object().cloned().unwrap_or_default(),
        precondition: Precondition::None,
        method: Method::Put,
    }
}

#[tokio::test]
async fn an_accurate_total_follows_every_write_of_this_store_and_of_another_process() {
    for c in stores().await {
        let be = c.be;
        let t = default_tenant();
        // 30 Practitioners, every third female: 10.
        let all = (0..30)
            .map(|i| {
                let g = if i % 3 == 0 { "female" } else { "male" };
                practitioner(&format!("p{i:02}"), g)
            })
            .collect();
        c.put_many(all).await;
        assert_eq!(females(&c, &t).await, 10, "[{be}] loaded");

        c.put(practitioner("new1", "female")).await;
        assert_eq!(females(&c, &t).await, 11, "[{be}] after a create");
        c.put(practitioner("p00", "male")).await;
        assert_eq!(females(&c, &t).await, 10, "[{be}] after an update");
        c.delete("Practitioner", "p03").await;
        assert_eq!(females(&c, &t).await, 9, "[{be}] after a delete");
        c.put_many(vec![
            practitioner("b1", "female"),
            practitioner("b2", "female"),
            practitioner("p01", "female"),
        ])
        .await;
        assert_eq!(females(&c, &t).await, 12, "[{be}] after a batch");

        // A write by another process on the same database: this store's cached count must
        // not survive it.
        let other = c.another_process().await;
        let entries = c.extractor.extract(&practitioner("x1", "female"));
        other
            .write_indexed(&t, female_request("x1"), &entries)
            .await
            .unwrap_or_else(|e| panic!("[{be}] write by another process: {e}"));
        other.close().await;
        assert_eq!(
            females(&c, &t).await,
            13,
            "[{be}] after another process wrote"
        );

        // A reindex changes rows without a new version.
        let entries = c.extractor.extract(&practitioner("p02", "female"));
        c.store
            .reindex(&t, "Practitioner", "p02", &entries)
            .await
            .unwrap_or_else(|e| panic!("[{be}] reindex: {e}"));
        assert_eq!(females(&c, &t).await, 14, "[{be}] after a reindex");

        // Inside a write transaction the count sees the transaction's own write; once it is
        // rolled back, nobody else may get that count.
        let mut tx = c.store.begin(&t).await.expect("begin");
        let entries = c.extractor.extract(&practitioner("tx1", "female"));
        tx.write_indexed(female_request("tx1"), &entries, &store::NOT_HIDDEN)
            .await
            .expect("write in tx");
        let inside = tx
            .search(
                &store::Viewer::System,
                &c.parse("Practitioner", FEMALE),
                &c.registry,
            )
            .await
            .expect("search in tx");
        assert_eq!(inside.total, Some(15), "[{be}] the transaction's own write");
        tx.rollback().await.expect("rollback");
        assert_eq!(females(&c, &t).await, 14, "[{be}] after the rollback");
    }
}

#[tokio::test]
async fn a_tenant_created_again_under_the_same_name_starts_from_zero() {
    for c in stores().await {
        let be = c.be;
        let t = tenant("acme");
        assert!(c.store.create_tenant(&t).await.expect("create"), "[{be}]");
        c.put_in(&t, practitioner("a", "female")).await;
        c.put_in(&t, practitioner("b", "female")).await;
        assert_eq!(females(&c, &t).await, 2, "[{be}] in acme");
        assert_eq!(females(&c, &default_tenant()).await, 0, "[{be}] default");
        assert!(c.store.delete_tenant(&t).await.expect("delete"), "[{be}]");
        assert!(c.store.create_tenant(&t).await.expect("again"), "[{be}]");
        assert_eq!(females(&c, &t).await, 0, "[{be}] acme created again, empty");
        // As many writes as before the delete: a generation that started again from zero
        // would now equal the one the count of 2 was made at.
        c.put_in(&t, practitioner("c", "female")).await;
        c.put_in(&t, practitioner("d", "male")).await;
        assert_eq!(
            females(&c, &t).await,
            1,
            "[{be}] acme created again, two writes"
        );
    }
}
