//! Multi-operation transactions ([`store::StoreTx`]) and the batch write path, on every
//! database `testkit::test_databases()` provides. Assertion messages start with the backend.

use serde_json::{json, Value};
use store::*;

struct Ctx {
    store: Store,
    be: &'static str,
    _db: testkit::TestDb,
}

async fn stores() -> Vec<Ctx> {
    let mut out = Vec::new();
    for db in testkit::test_databases().await {
        let store = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("[{}] connect: {e}", db.backend));
        out.push(Ctx {
            store,
            be: db.backend,
            _db: db,
        });
    }
    out
}

fn def() -> TenantName {
    TenantName::default_tenant()
}

fn req(rt: &str, id: &str, body: Value, precondition: Precondition) -> WriteRequest {
    let mut resource = body.as_object().cloned().unwrap_or_default();
    resource.insert("resourceType".into(), Value::String(rt.to_owned()));
    WriteRequest {
        resource_type: rt.to_owned(),
        id: id.to_owned(),
        resource,
        precondition,
        method: Method::Put,
    }
}

fn put(rt: &str, id: &str, n: i64) -> WriteRequest {
    req(rt, id, json!({ "n": n }), Precondition::None)
}

fn batch(reqs: Vec<WriteRequest>) -> Vec<BatchWrite> {
    reqs.into_iter()
        .map(|request| BatchWrite {
            request,
            index: Vec::new(),
            restriction: None,
            hidden: Default::default(),
        })
        .collect()
}

fn n_of(r: &VersionRecord) -> i64 {
    let v: Value = serde_json::from_str(r.body.as_deref().expect("body")).expect("JSON");
    v["n"].as_i64().expect("n")
}

/// A record with its body parsed (Postgres re-serialises `jsonb`, so the text may differ).
fn comparable(r: &VersionRecord) -> (String, i64, Method, bool, String, Option<Value>) {
    let body = r
        .body
        .as_deref()
        .map(|b| serde_json::from_str(b).expect("JSON"));
    (
        r.id.clone(),
        r.version,
        r.method,
        r.deleted,
        r.last_updated.to_rfc3339(),
        body,
    )
}

/// Every version of every resource of the tenant, oldest first: (type, id, version, method,
/// deleted, body without meta.lastUpdated).
async fn all_history(s: &Store, t: &TenantName) -> Vec<(String, String, i64, Method, Value)> {
    let page = s
        .history(
            t,
            &HistoryQuery {
                scope: HistoryScope::System,
                since: None,
                at: None,
                count: 10_000,
                before_seq: None,
            },
        )
        .await
        .expect("history");
    page.entries
        .into_iter()
        .rev()
        .map(|r| {
            let mut body: Value = r
                .body
                .as_deref()
                .map_or(Value::Null, |b| serde_json::from_str(b).expect("JSON"));
            if let Some(meta) = body.get_mut("meta").and_then(Value::as_object_mut) {
                meta.remove("lastUpdated");
            }
            (r.resource_type, r.id, r.version, r.method, body)
        })
        .collect()
}

#[tokio::test]
async fn commit_makes_every_operation_visible_at_once() {
    for Ctx { store: s, be, .. } in stores().await {
        s.write(&def(), put("Practitioner", "gone", 0))
            .await
            .unwrap();
        let mut tx = s.begin(&def()).await.unwrap();
        tx.write(put("Practitioner", "a", 1)).await.unwrap();
        tx.write(put("Organization", "b", 2)).await.unwrap();
        let del = tx.delete("Practitioner", "gone", Precondition::None).await;
        assert!(
            matches!(del, Ok(DeleteOutcome::Deleted { version: 2, .. })),
            "[{be}] {del:?}"
        );
        assert_eq!(
            s.read(&def(), "Practitioner", "a").await.unwrap(),
            None,
            "[{be}] not visible outside before commit"
        );
        tx.commit().await.unwrap();
        assert_eq!(
            s.read(&def(), "Practitioner", "a")
                .await
                .unwrap()
                .map(|r| r.version),
            Some(1)
        );
        assert_eq!(
            s.read(&def(), "Organization", "b")
                .await
                .unwrap()
                .map(|r| r.version),
            Some(1)
        );
        let gone = s
            .read(&def(), "Practitioner", "gone")
            .await
            .unwrap()
            .unwrap();
        assert!(gone.deleted, "[{be}]");
        assert_eq!(all_history(&s, &def()).await.len(), 4, "[{be}]");
    }
}

#[tokio::test]
async fn rollback_and_drop_discard_everything() {
    for Ctx { store: s, be, .. } in stores().await {
        s.write(&def(), put("Practitioner", "keep", 0))
            .await
            .unwrap();
        let before = all_history(&s, &def()).await;

        let mut tx = s.begin(&def()).await.unwrap();
        tx.write(put("Practitioner", "keep", 1)).await.unwrap();
        tx.write(put("Practitioner", "new", 1)).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(all_history(&s, &def()).await, before, "[{be}] rollback");

        {
            let mut tx = s.begin(&def()).await.unwrap();
            tx.write(put("Practitioner", "keep", 2)).await.unwrap();
            tx.write_batch(
                batch(vec![put("Practitioner", "new", 2)]),
                OnUnchanged::NewVersion,
            )
            .await
            .unwrap();
            tx.delete("Practitioner", "keep", Precondition::None)
                .await
                .unwrap();
        }
        assert_eq!(all_history(&s, &def()).await, before, "[{be}] drop");
        // The connection that carried the dropped transaction is usable again.
        let out = s
            .write(&def(), put("Practitioner", "keep", 3))
            .await
            .unwrap();
        assert_eq!(out.record.version, 2, "[{be}]");
    }
}

#[tokio::test]
async fn a_failing_last_operation_rolls_back_everything() {
    for Ctx { store: s, be, .. } in stores().await {
        s.write(&def(), put("Practitioner", "p", 0)).await.unwrap();
        let before = all_history(&s, &def()).await;
        let mut tx = s.begin(&def()).await.unwrap();
        tx.write(put("Practitioner", "p", 1)).await.unwrap();
        tx.write_batch(
            batch(vec![
                put("Organization", "o1", 1),
                put("Organization", "o2", 1),
            ]),
            OnUnchanged::NewVersion,
        )
        .await
        .unwrap();
        let stale = req(
            "Practitioner",
            "p",
            json!({"n": 2}),
            Precondition::IfMatch(1),
        );
        assert!(
            matches!(
                tx.write(stale).await,
                Err(StoreError::VersionConflict { .. })
            ),
            "[{be}] stale If-Match fails"
        );
        // The transaction is aborted: nothing more runs, and commit refuses.
        assert!(
            matches!(
                tx.read("Practitioner", "p").await,
                Err(StoreError::TransactionAborted)
            ),
            "[{be}]"
        );
        assert!(
            matches!(tx.commit().await, Err(StoreError::TransactionAborted)),
            "[{be}]"
        );
        assert_eq!(
            all_history(&s, &def()).await,
            before,
            "[{be}] nothing left behind"
        );
        assert_eq!(
            s.read(&def(), "Organization", "o1").await.unwrap(),
            None,
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn a_failing_batch_leaves_nothing_behind() {
    for Ctx { store: s, be, .. } in stores().await {
        let before = all_history(&s, &def()).await;
        let mut tx = s.begin(&def()).await.unwrap();
        let mut reqs: Vec<WriteRequest> = (0..50)
            .map(|i| put("Location", &format!("l{i}"), i))
            .collect();
        reqs.push(req("Location", "l3", json!({}), Precondition::MustNotExist));
        let r = tx.write_batch(batch(reqs), OnUnchanged::NewVersion).await;
        assert!(
            matches!(r, Err(StoreError::VersionConflict { .. })),
            "[{be}] {r:?}"
        );
        drop(tx);
        assert_eq!(all_history(&s, &def()).await, before, "[{be}]");
    }
}

#[tokio::test]
async fn reads_see_the_transactions_own_writes() {
    for Ctx { store: s, be, .. } in stores().await {
        let mut tx = s.begin(&def()).await.unwrap();
        assert_eq!(tx.read("Practitioner", "x").await.unwrap(), None, "[{be}]");
        tx.write(put("Practitioner", "x", 7)).await.unwrap();
        let seen = tx
            .read("Practitioner", "x")
            .await
            .unwrap()
            .expect("own write");
        assert_eq!((seen.version, n_of(&seen)), (1, 7), "[{be}]");
        tx.write_batch(
            batch(vec![put("Practitioner", "x", 8)]),
            OnUnchanged::NewVersion,
        )
        .await
        .unwrap();
        let seen = tx
            .read("Practitioner", "x")
            .await
            .unwrap()
            .expect("own batch");
        assert_eq!((seen.version, n_of(&seen)), (2, 8), "[{be}]");
        tx.delete("Practitioner", "x", Precondition::IfMatch(2))
            .await
            .unwrap();
        assert!(
            tx.read("Practitioner", "x").await.unwrap().unwrap().deleted,
            "[{be}]"
        );
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn begin_on_an_unknown_tenant_fails() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = TenantName::parse("nobody").unwrap();
        let r = s.begin(&t).await;
        assert!(
            matches!(r, Err(StoreError::UnknownTenant(_))),
            "[{be}] {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_modify_write_transactions_lose_no_update() {
    const WRITERS: i64 = 12;
    for Ctx { store: s, be, .. } in stores().await {
        s.write(&def(), put("Practitioner", "counter", 0))
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..WRITERS {
            let s = s.clone();
            tasks.spawn(async move {
                loop {
                    let mut tx = s.begin(&def()).await?;
                    let cur = tx.read("Practitioner", "counter").await?.expect("exists");
                    let next = req(
                        "Practitioner",
                        "counter",
                        json!({ "n": n_of(&cur) + 1 }),
                        Precondition::IfMatch(cur.version),
                    );
                    match tx.write(next).await {
                        Ok(_) => return tx.commit().await,
                        Err(StoreError::VersionConflict { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("task").unwrap_or_else(|e| panic!("[{be}] {e}"));
        }
        let last = s
            .read(&def(), "Practitioner", "counter")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (n_of(&last), last.version),
            (WRITERS, WRITERS + 1),
            "[{be}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unconditional_transactions_all_land() {
    for Ctx { store: s, be, .. } in stores().await {
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..10 {
            let s = s.clone();
            tasks.spawn(async move {
                let mut tx = s.begin(&def()).await?;
                tx.write(put("Practitioner", "crowd", n)).await?;
                tx.write_batch(
                    batch(vec![put("Organization", "crowd", n)]),
                    OnUnchanged::NewVersion,
                )
                .await?;
                tx.commit().await
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("task").unwrap_or_else(|e| panic!("[{be}] {e}"));
        }
        for rt in ["Practitioner", "Organization"] {
            let cur = s.read(&def(), rt, "crowd").await.unwrap().unwrap();
            assert_eq!(cur.version, 10, "[{be}] {rt}: ten versions, none lost");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_creating_what_another_transaction_just_created_adds_a_version() {
    for Ctx { store: s, be, .. } in stores().await {
        let mut first = s.begin(&def()).await.unwrap();
        first.write(put("Endpoint", "e", 1)).await.unwrap();
        let s2 = s.clone();
        let second = tokio::spawn(async move {
            let mut tx = s2.begin(&def()).await?;
            let out = tx
                .write_batch(
                    batch(vec![put("Endpoint", "e", 2), put("Endpoint", "f", 2)]),
                    OnUnchanged::NewVersion,
                )
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(out)
        });
        // Let the batch plan "e" as new (Postgres) or queue for the writer (SQLite).
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        first.commit().await.unwrap();
        let out = second
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("[{be}] {e}"));
        let got: Vec<(i64, WriteKind)> = out
            .iter()
            .map(|o| (o.outcome.record.version, o.outcome.kind))
            .collect();
        assert_eq!(
            got,
            vec![(2, WriteKind::Updated), (1, WriteKind::Created)],
            "[{be}]"
        );
        let e = s.read(&def(), "Endpoint", "e").await.unwrap().unwrap();
        assert_eq!((e.version, n_of(&e)), (2, 2), "[{be}]");
    }
}

/// A mix that exercises every path: new, updated, revived after delete, repeated in the batch,
/// and enough rows to need several statements.
fn mixed_requests() -> Vec<WriteRequest> {
    let mut reqs = Vec::new();
    for i in 0..1_203 {
        reqs.push(put("Practitioner", &format!("p{i}"), i));
    }
    reqs.push(put("Organization", "existing", 10));
    reqs.push(put("Organization", "deleted", 10));
    reqs.push(put("Practitioner", "p7", 1_000));
    reqs.push(req(
        "Organization",
        "existing",
        json!({"n": 11, "meta": {"tag": [{"code": "t"}], "versionId": "99"}}),
        Precondition::IfMatch(2),
    ));
    reqs.push(put("Practitioner", "p7", 1_001));
    reqs
}

async fn seed(s: &Store, t: &TenantName) {
    s.write(t, put("Organization", "existing", 0))
        .await
        .unwrap();
    s.write(t, put("Organization", "deleted", 0)).await.unwrap();
    s.delete(t, "Organization", "deleted", Precondition::None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_batch_stores_what_single_writes_would() {
    for Ctx { store: s, be, .. } in stores().await {
        let (singles, batched) = (
            TenantName::parse("singles").unwrap(),
            TenantName::parse("batched").unwrap(),
        );
        for t in [&singles, &batched] {
            s.create_tenant(t).await.unwrap();
            seed(&s, t).await;
        }
        let mut one_by_one = Vec::new();
        for r in mixed_requests() {
            let out = s
                .write(&singles, r)
                .await
                .unwrap_or_else(|e| panic!("[{be}] {e}"));
            one_by_one.push((out.kind, out.record.version));
        }
        let mut tx = s.begin(&batched).await.unwrap();
        let outs = tx
            .write_batch(batch(mixed_requests()), OnUnchanged::NewVersion)
            .await
            .unwrap_or_else(|e| panic!("[{be}] {e}"));
        tx.commit().await.unwrap();
        assert!(outs.iter().all(|o| !o.unchanged), "[{be}]");
        let outs: Vec<WriteOutcome> = outs.into_iter().map(|o| o.outcome).collect();
        let in_batch: Vec<(WriteKind, i64)> =
            outs.iter().map(|o| (o.kind, o.record.version)).collect();
        assert_eq!(in_batch, one_by_one, "[{be}] same outcomes");
        for o in &outs {
            let stored = s
                .vread(
                    &batched,
                    &o.record.resource_type,
                    &o.record.id,
                    o.record.version,
                )
                .await
                .unwrap();
            assert_eq!(
                stored.as_ref().map(comparable),
                Some(comparable(&o.record)),
                "[{be}] outcome = stored version"
            );
        }
        assert_eq!(
            all_history(&s, &batched).await,
            all_history(&s, &singles).await,
            "[{be}] same history: bodies, versions, methods, seq order"
        );
    }
}

#[tokio::test]
async fn keep_current_skips_unchanged_content_only() {
    for Ctx { store: s, be, .. } in stores().await {
        let first: Vec<WriteRequest> = (0..20)
            .map(|i| put("Location", &format!("l{i}"), i))
            .collect();
        let mut tx = s.begin(&def()).await.unwrap();
        tx.write_batch(batch(first.clone()), OnUnchanged::KeepCurrent)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        s.delete(&def(), "Location", "l0", Precondition::None)
            .await
            .unwrap();
        let before = all_history(&s, &def()).await;

        let mut again = first.clone();
        again[5] = put("Location", "l5", 500);
        let mut tx = s.begin(&def()).await.unwrap();
        let outs = tx
            .write_batch(batch(again), OnUnchanged::KeepCurrent)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let flags: Vec<usize> = (0..outs.len()).filter(|i| !outs[*i].unchanged).collect();
        assert_eq!(
            flags,
            vec![0, 5],
            "[{be}] written: l0 (revived) and l5 (changed)"
        );
        let outs: Vec<WriteOutcome> = outs.into_iter().map(|o| o.outcome).collect();
        let after = all_history(&s, &def()).await;
        assert_eq!(
            after.len(),
            before.len() + 2,
            "[{be}] only l5 (changed) and l0 (revived)"
        );
        assert_eq!(
            (outs[0].kind, outs[0].record.version),
            (WriteKind::Created, 3),
            "[{be}]"
        );
        assert_eq!(
            (outs[5].kind, outs[5].record.version),
            (WriteKind::Updated, 2),
            "[{be}]"
        );
        assert_eq!(
            (outs[9].kind, outs[9].record.version),
            (WriteKind::Updated, 1),
            "[{be}]"
        );
        let current = s.read(&def(), "Location", "l9").await.unwrap();
        assert_eq!(
            current.as_ref().map(comparable),
            Some(comparable(&outs[9].record)),
            "[{be}] answers the current version"
        );

        // NewVersion (the API's rule) writes a version even when nothing changed.
        let mut tx = s.begin(&def()).await.unwrap();
        let outs = tx
            .write_batch(
                batch(vec![put("Location", "l9", 9)]),
                OnUnchanged::NewVersion,
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(outs[0].outcome.record.version, 2, "[{be}]");
        assert!(!outs[0].unchanged, "[{be}]");
    }
}

/// The ids a search finds in tenant `default`.
async fn found(
    s: &Store,
    registry: &conformance::Registry,
    rt: &str,
    param: &str,
    value: &str,
) -> Vec<String> {
    let pairs = [(param.to_owned(), value.to_owned())];
    let q = search::SearchQuery::parse(rt, &pairs, registry).expect("query");
    let page = s.search(&def(), &q, registry, None).await.expect("search");
    page.matches.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn batch_index_rows_commit_roll_back_and_follow_the_content() {
    let registry = conformance::Registry::builtin();
    let extractor = search::Extractor::new(registry.clone());
    let indexed = |r: WriteRequest| {
        let index = extractor.extract(&Value::Object(r.resource.clone()));
        BatchWrite {
            request: r,
            index,
            restriction: None,
            hidden: Default::default(),
        }
    };
    let alpha = || {
        req(
            "Practitioner",
            "p1",
            json!({"name": [{"family": "Alpha"}]}),
            Precondition::None,
        )
    };
    for Ctx { store: s, be, .. } in stores().await {
        let mut tx = s.begin(&def()).await.unwrap();
        tx.write_batch(vec![indexed(alpha())], OnUnchanged::KeepCurrent)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert!(
            found(&s, &registry, "Practitioner", "family", "alpha")
                .await
                .is_empty(),
            "[{be}] rolled back"
        );

        let mut tx = s.begin(&def()).await.unwrap();
        tx.write_batch(vec![indexed(alpha())], OnUnchanged::KeepCurrent)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            found(&s, &registry, "Practitioner", "family", "alpha").await,
            vec!["p1"],
            "[{be}]"
        );

        // An unchanged batch write adds no version and leaves the rows alone.
        let mut tx = s.begin(&def()).await.unwrap();
        let out = tx
            .write_batch(
                vec![BatchWrite {
                    request: alpha(),
                    index: Vec::new(),
                    restriction: None,
                    hidden: Default::default(),
                }],
                OnUnchanged::KeepCurrent,
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(out[0].unchanged, "[{be}]");
        assert_eq!(out[0].outcome.record.version, 1, "[{be}]");
        assert_eq!(
            found(&s, &registry, "Practitioner", "family", "alpha").await,
            vec!["p1"],
            "[{be}]"
        );
        // A changed one replaces them.
        let beta = req(
            "Practitioner",
            "p1",
            json!({"name": [{"family": "Beta"}]}),
            Precondition::None,
        );
        let mut tx = s.begin(&def()).await.unwrap();
        tx.write_batch(vec![indexed(beta)], OnUnchanged::KeepCurrent)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            found(&s, &registry, "Practitioner", "family", "alpha")
                .await
                .is_empty(),
            "[{be}]"
        );
        assert_eq!(
            found(&s, &registry, "Practitioner", "family", "beta").await,
            vec!["p1"],
            "[{be}]"
        );
    }
}
