//! Reindex jobs on the job queue (migration 0010, kind `reindex`) on every backend: a job
//! counts its resources, is claimed by one owner at a time, walks live resources in key
//! order, records progress, can be taken over after its lease expires, and is cancelled or
//! finished; the record of indexed definitions (migration 0003) round-trips; everything is
//! scoped to its tenant. The queue's own rules for any kind: `tests/contract/jobs.rs`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use store::{
    Job, JobState, Method, NewJob, Precondition, Store, StoreError, StoreOptions, TenantName,
    WriteRequest,
};

fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).expect("tenant name")
}

async fn put(store: &Store, t: &TenantName, rtype: &str, id: &str) {
    let Value::Object(resource) = json!({"resourceType": rtype, "id": id}) else {
        unreachable!()
    };
    let resource: Map<String, Value> = resource;
    store
        .write(
            t,
            WriteRequest {
                resource_type: rtype.into(),
                id: id.into(),
                resource,
                precondition: Precondition::None,
                method: Method::Put,
            },
        )
        .await
        .expect("write");
}

const REINDEX: &[&str] = &["reindex"];

/// Queues a reindex of `types` for `params` the way the service does: counted now.
async fn queue(
    store: &Store,
    t: &TenantName,
    id: &str,
    types: &[String],
    params: &[String],
) -> Result<Job, StoreError> {
    let total = store.live_resource_count(t, types).await?;
    let params = json!({"types": types, "params": params});
    let job = NewJob {
        id,
        kind: "reindex",
        params: &params,
        total,
    };
    store.create_job(t, job).await
}

/// A reindex cursor: the last key done.
fn after(resource_type: &str, id: &str) -> Value {
    json!({"after_type": resource_type, "after_id": id})
}

fn micros_from_now(seconds: i64) -> i64 {
    chrono::Utc::now().timestamp_micros() + seconds * 1_000_000
}

#[tokio::test]
async fn jobs_are_claimed_once_walk_live_resources_in_order_and_resume() {
    for db in testkit::test_databases().await {
        let b = db.backend;
        let store = Store::connect(&db.url, &StoreOptions::default())
            .await
            .expect("connect");
        let t = tenant("default");
        let other = tenant("other");
        store.create_tenant(&other).await.expect("tenant");
        for id in ["c", "a", "b"] {
            put(&store, &t, "Practitioner", id).await;
        }
        put(&store, &t, "Organization", "o").await;
        put(&store, &t, "Practitioner", "gone").await;
        store
            .delete(&t, "Practitioner", "gone", Precondition::None)
            .await
            .expect("delete");
        put(&store, &other, "Practitioner", "x").await;

        let types = vec!["Practitioner".to_owned()];
        let params = vec!["http://x/p".to_owned()];
        let job = queue(&store, &t, "j1", &types, &params)
            .await
            .expect("create");
        assert_eq!(
            (job.state, job.total, job.done),
            (JobState::Queued, 3, 0),
            "[{b}]"
        );
        assert_eq!(job.params["params"], json!(params), "[{b}]");
        assert!(
            queue(&store, &tenant("nosuch"), "j", &types, &[])
                .await
                .is_err(),
            "[{b}] unknown tenant"
        );
        assert_eq!(
            store.tenants_with_jobs(REINDEX).await.expect("work"),
            vec![t.clone()],
            "[{b}]"
        );
        assert!(
            store.job(&other, "j1").await.expect("read").is_none(),
            "[{b}]"
        );

        // One owner at a time.
        let lease = micros_from_now(30);
        let claimed = store
            .claim_job(&t, REINDEX, "owner-1", lease)
            .await
            .expect("claim")
            .expect("a job");
        assert_eq!(claimed.state, JobState::Running, "[{b}]");
        assert!(
            store
                .claim_job(&t, REINDEX, "owner-2", lease)
                .await
                .expect("claim")
                .is_none(),
            "[{b}] already claimed"
        );

        // Pages of live resources in key order, after the last key done.
        let page = store.reindex_page(&t, &types, None, 2).await.expect("page");
        let ids: Vec<&str> = page.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "[{b}]");
        assert!(page[0].body.contains("Practitioner"), "[{b}]");
        let last = ("Practitioner".to_owned(), "b".to_owned());
        let cursor = after("Practitioner", "b");
        assert!(store
            .record_job_progress(&t, "j1", "owner-1", 2, &cursor, lease)
            .await
            .expect("progress"));
        assert!(
            !store
                .record_job_progress(&t, "j1", "owner-2", 2, &cursor, lease)
                .await
                .expect("progress"),
            "[{b}] not owner-2's job"
        );
        let page = store
            .reindex_page(&t, &types, Some(&last), 2)
            .await
            .expect("page");
        let ids: Vec<&str> = page.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["c"], "[{b}] the deleted one is skipped");
        let all = store.reindex_page(&t, &[], None, 100).await.expect("page");
        assert_eq!(all.len(), 4, "[{b}] every live resource of the tenant only");

        let keys = vec![
            ("Practitioner".to_owned(), "a".to_owned()),
            ("Practitioner".to_owned(), "gone".to_owned()),
        ];
        let live = store.live_versions(&t, &keys).await.expect("versions");
        assert_eq!(live.len(), 1, "[{b}] {live:?}");
        assert_eq!(live[&keys[0]], 1, "[{b}]");

        // A lease that expired lets another owner resume from the recorded position.
        assert!(store
            .record_job_progress(&t, "j1", "owner-1", 2, &cursor, micros_from_now(-1))
            .await
            .expect("progress"));
        let resumed = store
            .claim_job(&t, REINDEX, "owner-2", lease)
            .await
            .expect("claim")
            .expect("taken over");
        assert_eq!(
            (resumed.done, resumed.cursor.clone()),
            (2, Some(cursor)),
            "[{b}]"
        );
        assert!(
            !store
                .finish_job(&t, "j1", "owner-1", JobState::Completed, None)
                .await
                .expect("finish"),
            "[{b}] owner-1 lost it"
        );
        assert!(store
            .finish_job(&t, "j1", "owner-2", JobState::Completed, None)
            .await
            .expect("finish"));
        let done = store.job(&t, "j1").await.expect("read").expect("job");
        assert_eq!(done.state, JobState::Completed, "[{b}]");
        assert!(!store.cancel_job(&t, "j1").await.expect("cancel"), "[{b}]");

        // Cancel a queued job; it is never claimed.
        queue(&store, &t, "j2", &[], &[]).await.expect("create");
        assert!(store.cancel_job(&t, "j2").await.expect("cancel"), "[{b}]");
        assert!(
            store
                .claim_job(&t, REINDEX, "o", lease)
                .await
                .expect("claim")
                .is_none(),
            "[{b}]"
        );
        let unfinished = store.jobs(&t, Some("reindex"), true).await.expect("jobs");
        assert!(unfinished.is_empty(), "[{b}] {unfinished:?}");
        assert_eq!(
            store
                .jobs(&t, Some("reindex"), false)
                .await
                .expect("jobs")
                .len(),
            2,
            "[{b}]"
        );

        // The record of indexed definitions.
        let mut record = BTreeMap::new();
        record.insert("http://x/p".to_owned(), "{\"code\":\"p\"}".to_owned());
        store
            .set_indexed_search_params(&t, &record)
            .await
            .expect("set");
        assert_eq!(
            store.indexed_search_params(&t).await.expect("get"),
            record,
            "[{b}]"
        );
        assert!(
            store
                .indexed_search_params(&other)
                .await
                .expect("get")
                .is_empty(),
            "[{b}]"
        );

        // Deleting a tenant deletes its jobs and its record.
        queue(&store, &other, "jo", &[], &[]).await.expect("create");
        store
            .set_indexed_search_params(&other, &record)
            .await
            .expect("set");
        store.delete_tenant(&other).await.expect("delete tenant");
        store.create_tenant(&other).await.expect("tenant again");
        assert!(
            store
                .jobs(&other, None, false)
                .await
                .expect("jobs")
                .is_empty(),
            "[{b}]"
        );
        assert!(
            store
                .indexed_search_params(&other)
                .await
                .expect("get")
                .is_empty(),
            "[{b}]"
        );
    }
}
