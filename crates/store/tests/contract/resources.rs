//! Create, read, vread, update, delete and their preconditions, on every backend.

use serde_json::json;
use store::*;

use crate::support::*;

#[tokio::test]
async fn create_then_read_and_vread_return_the_stamped_body() {
    for Ctx { store: s, be, .. } in stores().await {
        let client = json!({"id": "client-id", "meta": {"versionId": "9", "profile": ["p"]},
                            "name": [{"family": "Smith"}]});
        let out = s
            .write(
                &def(),
                req(
                    "Practitioner",
                    "p1",
                    client,
                    Precondition::MustNotExist,
                    Method::Post,
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("[{be}] create: {e}"));
        assert_eq!(out.kind, WriteKind::Created, "[{be}]");
        let rec = &out.record;
        assert_eq!(
            (rec.version, rec.deleted, rec.method),
            (1, false, Method::Post),
            "[{be}]"
        );
        assert_eq!(
            rec.last_updated.timestamp_subsec_nanos() % 1000,
            0,
            "[{be}] micros only"
        );
        let body = parse(rec);
        assert_eq!(body["id"], "p1", "[{be}] server id wins");
        assert_eq!(body["meta"]["versionId"], "1", "[{be}]");
        assert_eq!(
            body["meta"]["profile"],
            json!(["p"]),
            "[{be}] client meta kept"
        );
        assert_eq!(
            body["meta"]["lastUpdated"],
            fhir::meta::format_instant(rec.last_updated),
            "[{be}]"
        );
        assert_eq!(body["name"][0]["family"], "Smith", "[{be}]");

        let read = s
            .read(&def(), "Practitioner", "p1")
            .await
            .unwrap()
            .expect("read");
        let vread = s
            .vread(&def(), "Practitioner", "p1", 1)
            .await
            .unwrap()
            .expect("vread");
        for got in [&read, &vread] {
            assert_eq!(
                (got.version, got.last_updated, got.method, got.deleted),
                (1, rec.last_updated, Method::Post, false),
                "[{be}]"
            );
            assert_eq!(parse(got), body, "[{be}] stored body");
            if be == "sqlite" {
                assert_eq!(got.body, rec.body, "[{be}] served byte-for-byte");
            }
        }
        assert_eq!(
            s.vread(&def(), "Practitioner", "p1", 2).await.unwrap(),
            None,
            "[{be}]"
        );
        assert_eq!(
            s.vread(&def(), "Practitioner", "p1", 0).await.unwrap(),
            None,
            "[{be}]"
        );
        assert_eq!(
            s.read(&def(), "Practitioner", "nope").await.unwrap(),
            None,
            "[{be}]"
        );
        assert_eq!(
            s.read(&def(), "Organization", "p1").await.unwrap(),
            None,
            "[{be}] type is part of the key"
        );
    }
}

#[tokio::test]
async fn updates_add_sequential_versions_and_keep_old_ones() {
    for Ctx { store: s, be, .. } in stores().await {
        let mut last = None;
        for n in 1..=3 {
            let out = put(&s, &def(), "Location", "l1", n).await;
            assert_eq!(out.record.version, n, "[{be}]");
            let want = if n == 1 {
                WriteKind::Created
            } else {
                WriteKind::Updated
            };
            assert_eq!(out.kind, want, "[{be}] kind of version {n}");
            if let Some(prev) = last {
                assert!(
                    out.record.last_updated >= prev,
                    "[{be}] lastUpdated monotonic"
                );
            }
            last = Some(out.record.last_updated);
        }
        for n in 1..=3 {
            let v = s
                .vread(&def(), "Location", "l1", n)
                .await
                .unwrap()
                .expect("vread");
            assert_eq!(parse(&v)["n"], n, "[{be}] content of version {n}");
            assert_eq!(parse(&v)["meta"]["versionId"], n.to_string(), "[{be}]");
        }
        let cur = s
            .read(&def(), "Location", "l1")
            .await
            .unwrap()
            .expect("read");
        assert_eq!(
            (cur.version, parse(&cur)["n"].clone()),
            (3, json!(3)),
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn put_to_a_new_id_creates_it() {
    for Ctx { store: s, be, .. } in stores().await {
        let out = put(&s, &def(), "Organization", "new-org", 1).await;
        assert_eq!(
            (out.kind, out.record.version, out.record.method),
            (WriteKind::Created, 1, Method::Put),
            "[{be}]"
        );
        assert!(
            s.read(&def(), "Organization", "new-org")
                .await
                .unwrap()
                .is_some(),
            "[{be}]"
        );
    }
}

#[tokio::test]
async fn must_not_exist_conflicts_with_live_and_deleted_resources() {
    for Ctx { store: s, be, .. } in stores().await {
        put(&s, &def(), "Endpoint", "e1", 1).await;
        let r = s
            .write(
                &def(),
                req(
                    "Endpoint",
                    "e1",
                    json!({}),
                    Precondition::MustNotExist,
                    Method::Post,
                ),
            )
            .await;
        assert!(is_conflict(&r), "[{be}] live: {r:?}");
        s.delete(&def(), "Endpoint", "e1", Precondition::None)
            .await
            .unwrap();
        let r = s
            .write(
                &def(),
                req(
                    "Endpoint",
                    "e1",
                    json!({}),
                    Precondition::MustNotExist,
                    Method::Post,
                ),
            )
            .await;
        assert!(is_conflict(&r), "[{be}] tombstone: {r:?}");
        let cur = s
            .read(&def(), "Endpoint", "e1")
            .await
            .unwrap()
            .expect("read");
        assert_eq!(
            (cur.version, cur.deleted),
            (2, true),
            "[{be}] nothing written"
        );
    }
}

#[tokio::test]
async fn if_match_updates_only_the_named_live_version() {
    for Ctx { store: s, be, .. } in stores().await {
        put(&s, &def(), "Practitioner", "p", 1).await;
        let ok = s
            .write(
                &def(),
                req(
                    "Practitioner",
                    "p",
                    json!({"n": 2}),
                    Precondition::IfMatch(1),
                    Method::Put,
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("[{be}] matching If-Match: {e}"));
        assert_eq!(
            (ok.kind, ok.record.version),
            (WriteKind::Updated, 2),
            "[{be}]"
        );

        let stale = s
            .write(
                &def(),
                req(
                    "Practitioner",
                    "p",
                    json!({"n": 3}),
                    Precondition::IfMatch(1),
                    Method::Put,
                ),
            )
            .await;
        match &stale {
            Err(StoreError::VersionConflict {
                expected, current, ..
            }) => {
                assert_eq!((expected.as_str(), current.as_str()), ("1", "2"), "[{be}]");
            }
            other => panic!("[{be}] stale If-Match gave {other:?}"),
        }
        let r = s
            .write(
                &def(),
                req(
                    "Practitioner",
                    "none",
                    json!({}),
                    Precondition::IfMatch(1),
                    Method::Put,
                ),
            )
            .await;
        assert!(is_conflict(&r), "[{be}] If-Match on a missing id: {r:?}");
        assert_eq!(
            s.read(&def(), "Practitioner", "none").await.unwrap(),
            None,
            "[{be}]"
        );

        s.delete(&def(), "Practitioner", "p", Precondition::None)
            .await
            .unwrap();
        let r = s
            .write(
                &def(),
                req(
                    "Practitioner",
                    "p",
                    json!({}),
                    Precondition::IfMatch(3),
                    Method::Put,
                ),
            )
            .await;
        assert!(
            is_conflict(&r),
            "[{be}] If-Match on the tombstone version: {r:?}"
        );
        let cur = s
            .read(&def(), "Practitioner", "p")
            .await
            .unwrap()
            .expect("read");
        assert_eq!(
            (cur.version, cur.deleted),
            (3, true),
            "[{be}] conflicts wrote nothing"
        );
    }
}

#[tokio::test]
async fn delete_writes_a_tombstone_and_a_later_write_revives() {
    for Ctx { store: s, be, .. } in stores().await {
        put(&s, &def(), "Practitioner", "d", 1).await;
        let del = s
            .delete(&def(), "Practitioner", "d", Precondition::None)
            .await
            .unwrap();
        let DeleteOutcome::Deleted {
            version,
            last_updated,
        } = del
        else {
            panic!("[{be}] delete gave {del:?}");
        };
        assert_eq!(version, 2, "[{be}]");
        let tomb = s
            .read(&def(), "Practitioner", "d")
            .await
            .unwrap()
            .expect("tombstone");
        assert_eq!(
            (
                tomb.version,
                tomb.deleted,
                tomb.method,
                tomb.body.clone(),
                tomb.last_updated
            ),
            (2, true, Method::Delete, None, last_updated),
            "[{be}] read returns the tombstone"
        );
        assert_eq!(
            s.vread(&def(), "Practitioner", "d", 2).await.unwrap(),
            Some(tomb),
            "[{be}]"
        );
        let v1 = s
            .vread(&def(), "Practitioner", "d", 1)
            .await
            .unwrap()
            .expect("v1");
        assert_eq!(parse(&v1)["n"], 1, "[{be}] old version survives delete");

        let again = s
            .delete(&def(), "Practitioner", "d", Precondition::None)
            .await
            .unwrap();
        assert_eq!(
            again,
            DeleteOutcome::AlreadyDeleted { version: 2 },
            "[{be}]"
        );

        let revived = put(&s, &def(), "Practitioner", "d", 3).await;
        assert_eq!(
            (revived.kind, revived.record.version),
            (WriteKind::Created, 3),
            "[{be}]"
        );
        let h = s
            .history(
                &def(),
                &hq(
                    HistoryScope::Instance("Practitioner".into(), "d".into()),
                    10,
                ),
            )
            .await
            .unwrap();
        let shape: Vec<(i64, bool)> = h.entries.iter().map(|r| (r.version, r.deleted)).collect();
        assert_eq!(shape, vec![(3, false), (2, true), (1, false)], "[{be}]");
        assert_eq!(h.total, 3, "[{be}]");
    }
}

#[tokio::test]
async fn delete_of_unknown_ids_and_stale_if_match_write_nothing() {
    for Ctx { store: s, be, .. } in stores().await {
        let r = s
            .delete(&def(), "Practitioner", "ghost", Precondition::None)
            .await
            .unwrap();
        assert_eq!(r, DeleteOutcome::NotFound, "[{be}]");
        let h = s
            .history(&def(), &hq(HistoryScope::System, 10))
            .await
            .unwrap();
        assert_eq!(h.total, 0, "[{be}] NotFound wrote a version");

        put(&s, &def(), "Practitioner", "x", 1).await;
        let r = s
            .delete(&def(), "Practitioner", "x", Precondition::IfMatch(7))
            .await;
        assert!(is_conflict(&r), "[{be}] stale If-Match delete: {r:?}");
        let cur = s
            .read(&def(), "Practitioner", "x")
            .await
            .unwrap()
            .expect("read");
        assert_eq!((cur.version, cur.deleted), (1, false), "[{be}]");
        let r = s
            .delete(&def(), "Practitioner", "x", Precondition::IfMatch(1))
            .await
            .unwrap();
        assert!(
            matches!(r, DeleteOutcome::Deleted { version: 2, .. }),
            "[{be}] {r:?}"
        );
    }
}

#[tokio::test]
async fn odd_inputs_are_handled_without_panics() {
    for Ctx { store: s, be, .. } in stores().await {
        let weird = "a'; DROP TABLE resources; --";
        let out = put(&s, &def(), "Practitioner", weird, 1).await;
        assert_eq!(out.record.id, weird, "[{be}] ids are bound, not spliced");
        assert!(
            s.read(&def(), "Practitioner", weird)
                .await
                .unwrap()
                .is_some(),
            "[{be}]"
        );
        assert_eq!(
            s.vread(&def(), "Practitioner", weird, i64::MAX)
                .await
                .unwrap(),
            None,
            "[{be}]"
        );
        assert_eq!(
            s.vread(&def(), "Practitioner", weird, -1).await.unwrap(),
            None,
            "[{be}]"
        );
        let mut q = hq(HistoryScope::System, u32::MAX);
        q.before_seq = Some(i64::MIN);
        assert_eq!(
            s.history(&def(), &q).await.unwrap().entries.len(),
            0,
            "[{be}]"
        );
        q.before_seq = None;
        q.since = Some(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        assert_eq!(s.history(&def(), &q).await.unwrap().total, 0, "[{be}]");
        let unicode = put(&s, &def(), "Practitioner", "ü", 1).await;
        assert_eq!(unicode.record.version, 1, "[{be}]");
    }
}

#[tokio::test]
async fn inconsistent_rows_are_reported_as_corrupt_not_panics() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let s = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap();
        put(&s, &def(), "Practitioner", "c", 1).await;
        // The current row vanishes but its history stays: version 1 would be written twice.
        raw_exec(&db, "DELETE FROM resources WHERE id = 'c'").await;
        let r = s
            .write(
                &def(),
                req(
                    "Practitioner",
                    "c",
                    json!({}),
                    Precondition::None,
                    Method::Put,
                ),
            )
            .await;
        assert!(matches!(r, Err(StoreError::Corrupt(_))), "[{be}] {r:?}");
        let kept = s
            .vread(&def(), "Practitioner", "c", 1)
            .await
            .unwrap()
            .expect("v1");
        assert_eq!(parse(&kept)["n"], 1, "[{be}] the failed write rolled back");

        put(&s, &def(), "Practitioner", "m", 1).await;
        raw_exec(&db, "UPDATE resources SET method = 'GET' WHERE id = 'm'").await;
        let r = s.read(&def(), "Practitioner", "m").await;
        assert!(matches!(r, Err(StoreError::Corrupt(_))), "[{be}] {r:?}");
        s.close().await;
    }
}
