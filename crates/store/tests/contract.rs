//! The store contract: one backend-neutral suite, every test run against every database
//! `testkit::test_databases()` provides (SQLite always, Postgres when reachable). Assertion
//! messages start with the backend name.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use store::{
    DeleteOutcome, HistoryQuery, HistoryScope, Method, Precondition, Store, StoreError,
    StoreOptions, TenantName, VersionRecord, WriteKind, WriteOutcome, WriteRequest,
};
use testkit::TestDb;

/// A connected store plus the database it lives in (dropped after the store).
struct Ctx {
    store: Store,
    be: &'static str,
    _db: TestDb,
}

async fn stores() -> Vec<Ctx> {
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

fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).expect("valid tenant name")
}

fn def() -> TenantName {
    TenantName::default_tenant()
}

fn req(
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
async fn put(s: &Store, t: &TenantName, rt: &str, id: &str, n: i64) -> WriteOutcome {
    s.write(
        t,
        req(rt, id, json!({ "n": n }), Precondition::None, Method::Put),
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] PUT {rt}/{id}: {e}", s.backend()))
}

fn parse(r: &VersionRecord) -> Value {
    serde_json::from_str(r.body.as_deref().expect("body")).expect("body is JSON")
}

fn hq(scope: HistoryScope, count: u32) -> HistoryQuery {
    HistoryQuery {
        scope,
        since: None,
        at: None,
        count,
        before_seq: None,
    }
}

/// `(type, id, version)` of each entry, in page order.
fn keys(entries: &[VersionRecord]) -> Vec<(String, String, i64)> {
    entries
        .iter()
        .map(|r| (r.resource_type.clone(), r.id.clone(), r.version))
        .collect()
}

fn k(rt: &str, id: &str, v: i64) -> (String, String, i64) {
    (rt.to_owned(), id.to_owned(), v)
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::VersionConflict { .. }))
}

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

/// Writes a small, timestamp-separated history and checks every history scope and filter.
#[tokio::test]
async fn history_scopes_since_at_and_count() {
    for Ctx { store: s, be, .. } in stores().await {
        let step = || tokio::time::sleep(Duration::from_millis(3));
        let a1 = put(&s, &def(), "Practitioner", "a", 1)
            .await
            .record
            .last_updated;
        step().await;
        let b1 = put(&s, &def(), "Organization", "b", 1)
            .await
            .record
            .last_updated;
        step().await;
        let a2 = put(&s, &def(), "Practitioner", "a", 2)
            .await
            .record
            .last_updated;
        step().await;
        let DeleteOutcome::Deleted {
            last_updated: b2, ..
        } = s
            .delete(&def(), "Organization", "b", Precondition::None)
            .await
            .unwrap()
        else {
            panic!("[{be}] delete b");
        };
        step().await;
        put(&s, &def(), "Practitioner", "c", 1).await;
        assert!(a1 < b1 && b1 < a2 && a2 < b2, "[{be}] timestamps separated");

        let all = s
            .history(&def(), &hq(HistoryScope::System, 100))
            .await
            .unwrap();
        assert_eq!(
            keys(&all.entries),
            vec![
                k("Practitioner", "c", 1),
                k("Organization", "b", 2),
                k("Practitioner", "a", 2),
                k("Organization", "b", 1),
                k("Practitioner", "a", 1)
            ],
            "[{be}] system history, newest first"
        );
        assert_eq!((all.total, all.next_before_seq), (5, None), "[{be}]");
        assert!(
            all.entries[1].deleted && all.entries[1].body.is_none(),
            "[{be}] tombstone entry"
        );

        let ty = s
            .history(&def(), &hq(HistoryScope::Type("Practitioner".into()), 100))
            .await
            .unwrap();
        assert_eq!(
            keys(&ty.entries),
            vec![
                k("Practitioner", "c", 1),
                k("Practitioner", "a", 2),
                k("Practitioner", "a", 1)
            ],
            "[{be}] type history"
        );
        let inst = s
            .history(
                &def(),
                &hq(
                    HistoryScope::Instance("Practitioner".into(), "a".into()),
                    100,
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            keys(&inst.entries),
            vec![k("Practitioner", "a", 2), k("Practitioner", "a", 1)],
            "[{be}]"
        );
        assert_eq!(
            parse(&inst.entries[1])["n"],
            1,
            "[{be}] history carries each version's body"
        );

        let mut q = hq(HistoryScope::System, 100);
        q.since = Some(a2);
        let since = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&since.entries),
            vec![
                k("Practitioner", "c", 1),
                k("Organization", "b", 2),
                k("Practitioner", "a", 2)
            ],
            "[{be}] _since is inclusive"
        );
        assert_eq!(since.total, 3, "[{be}]");

        // At a2: a was at version 2 (just written), b at version 1, c did not exist yet.
        let mut q = hq(HistoryScope::System, 100);
        q.at = Some(a2);
        let at = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&at.entries),
            vec![k("Practitioner", "a", 2), k("Organization", "b", 1)],
            "[{be}] _at"
        );
        // Between b1 and a2: a still at version 1.
        q.at = Some(a2 - chrono::Duration::microseconds(1));
        let at = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&at.entries),
            vec![k("Organization", "b", 1), k("Practitioner", "a", 1)],
            "[{be}] _at just before a2"
        );
        // After the delete: b's current version is its tombstone.
        q.at = Some(b2);
        let at = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&at.entries),
            vec![k("Organization", "b", 2), k("Practitioner", "a", 2)],
            "[{be}] _at after the delete"
        );
        q.at = Some(a1 - chrono::Duration::microseconds(1));
        assert_eq!(
            s.history(&def(), &q).await.unwrap().total,
            0,
            "[{be}] _at before anything"
        );

        let mut q = hq(HistoryScope::Type("Organization".into()), 100);
        q.since = Some(b1);
        q.at = Some(b1);
        let both = s.history(&def(), &q).await.unwrap();
        assert_eq!(
            keys(&both.entries),
            vec![k("Organization", "b", 1)],
            "[{be}] _since with _at"
        );

        let zero = s
            .history(&def(), &hq(HistoryScope::System, 0))
            .await
            .unwrap();
        assert_eq!(
            (zero.entries.len(), zero.total, zero.next_before_seq),
            (0, 5, None),
            "[{be}] _count=0"
        );
        let two = s
            .history(&def(), &hq(HistoryScope::System, 2))
            .await
            .unwrap();
        assert_eq!(
            keys(&two.entries),
            keys(&all.entries[..2]),
            "[{be}] _count=2"
        );
        assert_eq!(two.total, 5, "[{be}] total counts every page");
        assert!(two.next_before_seq.is_some(), "[{be}]");
    }
}

#[tokio::test]
async fn history_pages_have_no_duplicates_and_no_gaps() {
    for Ctx { store: s, be, .. } in stores().await {
        for n in 0..7 {
            put(&s, &def(), "Practitioner", &format!("p{}", n % 3), n).await;
            put(&s, &def(), "Location", "l", n).await;
        }
        for scope in [
            HistoryScope::System,
            HistoryScope::Type("Practitioner".into()),
        ] {
            let full = s.history(&def(), &hq(scope.clone(), 1000)).await.unwrap();
            let mut paged = Vec::new();
            let mut q = hq(scope.clone(), 3);
            let mut pages = 0;
            loop {
                let page = s.history(&def(), &q).await.unwrap();
                assert_eq!(page.total, full.total, "[{be}] total on every page");
                assert!(page.entries.len() <= 3, "[{be}]");
                paged.extend(keys(&page.entries));
                pages += 1;
                match page.next_before_seq {
                    Some(seq) => q.before_seq = Some(seq),
                    None => break,
                }
                assert!(pages < 100, "[{be}] paging does not end");
            }
            assert_eq!(
                paged,
                keys(&full.entries),
                "[{be}] {scope:?}: pages concatenate to the full history"
            );
            let distinct: BTreeSet<_> = paged.iter().collect();
            assert_eq!(distinct.len(), paged.len(), "[{be}] duplicates");
            let want = if scope == HistoryScope::System { 14 } else { 7 };
            assert_eq!(
                (paged.len(), full.total),
                (want, want as u64),
                "[{be}] {scope:?}"
            );
            assert_eq!(pages, want.div_ceil(3), "[{be}] {scope:?}: page count");
        }
    }
}

#[tokio::test]
async fn tenants_are_isolated() {
    for Ctx { store: s, be, .. } in stores().await {
        let (ta, tb) = (tenant("t-a"), tenant("t-b"));
        assert!(s.create_tenant(&ta).await.unwrap(), "[{be}]");
        assert!(s.create_tenant(&tb).await.unwrap(), "[{be}]");
        put(&s, &ta, "Practitioner", "same", 10).await;
        put(&s, &ta, "Practitioner", "same", 11).await;
        put(&s, &tb, "Practitioner", "same", 20).await;
        put(&s, &ta, "Practitioner", "only-a", 1).await;

        let a = s
            .read(&ta, "Practitioner", "same")
            .await
            .unwrap()
            .expect("a");
        let b = s
            .read(&tb, "Practitioner", "same")
            .await
            .unwrap()
            .expect("b");
        assert_eq!(
            (a.version, parse(&a)["n"].clone()),
            (2, json!(11)),
            "[{be}]"
        );
        assert_eq!(
            (b.version, parse(&b)["n"].clone()),
            (1, json!(20)),
            "[{be}]"
        );
        assert_eq!(
            s.vread(&tb, "Practitioner", "same", 2).await.unwrap(),
            None,
            "[{be}] vread"
        );
        assert_eq!(
            s.read(&tb, "Practitioner", "only-a").await.unwrap(),
            None,
            "[{be}] read"
        );
        assert_eq!(
            s.read(&def(), "Practitioner", "same").await.unwrap(),
            None,
            "[{be}] default"
        );

        let hb = s
            .history(&tb, &hq(HistoryScope::System, 100))
            .await
            .unwrap();
        assert_eq!(
            (keys(&hb.entries), hb.total),
            (vec![k("Practitioner", "same", 1)], 1),
            "[{be}]"
        );
        let hb = s
            .history(
                &tb,
                &hq(
                    HistoryScope::Instance("Practitioner".into(), "only-a".into()),
                    100,
                ),
            )
            .await
            .unwrap();
        assert_eq!(hb.total, 0, "[{be}] instance history across tenants");

        let r = s
            .delete(&tb, "Practitioner", "only-a", Precondition::None)
            .await
            .unwrap();
        assert_eq!(r, DeleteOutcome::NotFound, "[{be}] delete across tenants");
        s.delete(&tb, "Practitioner", "same", Precondition::None)
            .await
            .unwrap();
        let a = s
            .read(&ta, "Practitioner", "same")
            .await
            .unwrap()
            .expect("a");
        assert_eq!(
            (a.version, a.deleted),
            (2, false),
            "[{be}] delete in b left a alone"
        );
        // An If-Match valid in one tenant means nothing in the other.
        let r = s
            .write(
                &tb,
                req(
                    "Practitioner",
                    "only-a",
                    json!({}),
                    Precondition::IfMatch(1),
                    Method::Put,
                ),
            )
            .await;
        assert!(is_conflict(&r), "[{be}] {r:?}");
    }
}

#[tokio::test]
async fn tenant_management() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = tenant("acme");
        assert!(
            s.tenant_exists(&def()).await.unwrap(),
            "[{be}] default exists after migrate"
        );
        assert!(!s.tenant_exists(&t).await.unwrap(), "[{be}]");
        assert!(s.create_tenant(&t).await.unwrap(), "[{be}] created");
        assert!(
            !s.create_tenant(&t).await.unwrap(),
            "[{be}] second create is false"
        );
        assert!(s.tenant_exists(&t).await.unwrap(), "[{be}]");
        let names: Vec<String> = s
            .list_tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            vec!["acme".to_owned(), "default".to_owned()],
            "[{be}] sorted"
        );
        let created = s.list_tenants().await.unwrap()[0].created_at;
        assert!(
            (chrono::Utc::now() - created).num_seconds().abs() < 60,
            "[{be}] created_at {created}"
        );

        assert!(
            matches!(
                s.delete_tenant(&def()).await,
                Err(StoreError::DefaultTenant)
            ),
            "[{be}]"
        );
        assert!(
            !s.delete_tenant(&tenant("never")).await.unwrap(),
            "[{be}] unknown -> false"
        );
    }
}

#[tokio::test]
async fn delete_tenant_removes_all_its_data_and_only_its_data() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = tenant("gone");
        s.create_tenant(&t).await.unwrap();
        put(&s, &t, "Practitioner", "p", 1).await;
        put(&s, &t, "Practitioner", "p", 2).await;
        s.delete(&t, "Practitioner", "p", Precondition::None)
            .await
            .unwrap();
        put(&s, &def(), "Practitioner", "p", 1).await;

        assert!(s.delete_tenant(&t).await.unwrap(), "[{be}]");
        assert!(!s.tenant_exists(&t).await.unwrap(), "[{be}]");
        // Re-creating the name must not bring anything back.
        assert!(s.create_tenant(&t).await.unwrap(), "[{be}]");
        assert_eq!(
            s.read(&t, "Practitioner", "p").await.unwrap(),
            None,
            "[{be}] current rows"
        );
        assert_eq!(
            s.vread(&t, "Practitioner", "p", 1).await.unwrap(),
            None,
            "[{be}] versions"
        );
        assert_eq!(
            s.history(&t, &hq(HistoryScope::System, 10))
                .await
                .unwrap()
                .total,
            0,
            "[{be}]"
        );
        let p = put(&s, &t, "Practitioner", "p", 5).await;
        assert_eq!(
            (p.kind, p.record.version),
            (WriteKind::Created, 1),
            "[{be}] numbering restarts"
        );
        assert!(
            s.read(&def(), "Practitioner", "p").await.unwrap().is_some(),
            "[{be}] default untouched"
        );
    }
}

#[tokio::test]
async fn unknown_tenants_are_errors_not_empty_results() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = tenant("nobody");
        let unknown = |r: &Result<_, StoreError>| matches!(r, Err(StoreError::UnknownTenant(n)) if n == "nobody");
        let w = s
            .write(
                &t,
                req(
                    "Practitioner",
                    "p",
                    json!({}),
                    Precondition::None,
                    Method::Put,
                ),
            )
            .await;
        assert!(unknown(&w.map(|_| ())), "[{be}] write");
        let d = s.delete(&t, "Practitioner", "p", Precondition::None).await;
        assert!(unknown(&d.map(|_| ())), "[{be}] delete");
        assert!(
            unknown(&s.read(&t, "Practitioner", "p").await.map(|_| ())),
            "[{be}] read"
        );
        assert!(
            unknown(&s.vread(&t, "Practitioner", "p", 1).await.map(|_| ())),
            "[{be}] vread"
        );
        let h = s.history(&t, &hq(HistoryScope::System, 10)).await;
        assert!(unknown(&h.map(|_| ())), "[{be}] history");
        assert!(
            !s.tenant_exists(&t).await.unwrap(),
            "[{be}] the failed write created nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_if_match_writes_exactly_one_wins() {
    // Several rounds: the first warms the pool, later rounds race on many connections.
    const ROUNDS: i64 = 5;
    for Ctx { store: s, be, .. } in stores().await {
        put(&s, &def(), "Practitioner", "race", 0).await;
        for round in 1..=ROUNDS {
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
            let mut tasks = tokio::task::JoinSet::new();
            for n in 1..=20 {
                let (s, barrier) = (s.clone(), barrier.clone());
                tasks.spawn(async move {
                    barrier.wait().await;
                    let body = json!({ "n": n });
                    let pre = Precondition::IfMatch(round);
                    s.write(&def(), req("Practitioner", "race", body, pre, Method::Put))
                        .await
                });
            }
            let (mut won, mut conflicts) = (0, 0);
            while let Some(r) = tasks.join_next().await {
                match r.expect("task") {
                    Ok(out) => {
                        assert_eq!(out.record.version, round + 1, "[{be}] round {round}");
                        won += 1;
                    }
                    Err(StoreError::VersionConflict { .. }) => conflicts += 1,
                    Err(e) => panic!("[{be}] round {round}: unexpected error: {e}"),
                }
            }
            assert_eq!(
                (won, conflicts),
                (1, 19),
                "[{be}] round {round}: exactly one If-Match write wins"
            );
        }
        let h = s
            .history(
                &def(),
                &hq(
                    HistoryScope::Instance("Practitioner".into(), "race".into()),
                    100,
                ),
            )
            .await
            .unwrap();
        let versions: Vec<i64> = h.entries.iter().map(|r| r.version).collect();
        let want: Vec<i64> = (1..=ROUNDS + 1).rev().collect();
        assert_eq!(versions, want, "[{be}] no gaps, no extra versions");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unconditional_writes_all_land_in_sequence() {
    for Ctx { store: s, be, .. } in stores().await {
        let mut tasks = tokio::task::JoinSet::new();
        for n in 1..=20 {
            let s = s.clone();
            tasks.spawn(async move {
                s.write(
                    &def(),
                    req(
                        "Practitioner",
                        "crowd",
                        json!({"n": n}),
                        Precondition::None,
                        Method::Put,
                    ),
                )
                .await
            });
        }
        let mut versions = BTreeSet::new();
        let mut created = 0;
        while let Some(r) = tasks.join_next().await {
            let out = r
                .expect("task")
                .unwrap_or_else(|e| panic!("[{be}] write failed: {e}"));
            created += usize::from(out.kind == WriteKind::Created);
            versions.insert(out.record.version);
        }
        assert_eq!(
            versions,
            (1..=20).collect::<BTreeSet<i64>>(),
            "[{be}] versions 1..=20"
        );
        assert_eq!(created, 1, "[{be}] one Created, the rest Updated");
        let h = s
            .history(
                &def(),
                &hq(
                    HistoryScope::Instance("Practitioner".into(), "crowd".into()),
                    100,
                ),
            )
            .await
            .unwrap();
        let in_history: Vec<i64> = h.entries.iter().map(|r| r.version).collect();
        assert_eq!(
            in_history,
            (1..=20).rev().collect::<Vec<i64>>(),
            "[{be}] history order = version order"
        );
        let mut prev = None;
        for r in h.entries.iter().rev() {
            assert_eq!(
                parse(r)["meta"]["versionId"],
                r.version.to_string(),
                "[{be}]"
            );
            if let Some(p) = prev {
                assert!(r.last_updated >= p, "[{be}] lastUpdated monotonic");
            }
            prev = Some(r.last_updated);
        }
    }
}

/// Two stores on one database, like `fhirdir serve` plus the CLI on the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_lose_no_writes() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let one = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap();
        let two = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..20 {
            let s = if n % 2 == 0 { one.clone() } else { two.clone() };
            tasks.spawn(async move {
                s.write(
                    &def(),
                    req(
                        "Organization",
                        "shared",
                        json!({"n": n}),
                        Precondition::None,
                        Method::Put,
                    ),
                )
                .await
                .map(|o| o.record.version)
            });
        }
        let mut versions = BTreeSet::new();
        while let Some(r) = tasks.join_next().await {
            versions.insert(r.expect("task").unwrap_or_else(|e| panic!("[{be}] {e}")));
        }
        assert_eq!(versions, (1..=20).collect::<BTreeSet<i64>>(), "[{be}]");
        let seen = two
            .read(&def(), "Organization", "shared")
            .await
            .unwrap()
            .expect("read");
        assert_eq!(
            seen.version, 20,
            "[{be}] the other store sees the last write at once"
        );
        one.close().await;
        two.close().await;
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_ready_reports_ok() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let first = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap();
        first
            .ready()
            .await
            .unwrap_or_else(|e| panic!("[{be}] ready: {e}"));
        put(&first, &def(), "Practitioner", "keep", 1).await;
        first.close().await;

        let second = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("[{be}] second connect: {e}"));
        second
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("[{be}] third migrate: {e}"));
        second
            .ready()
            .await
            .unwrap_or_else(|e| panic!("[{be}] ready: {e}"));
        let kept = second.read(&def(), "Practitioner", "keep").await.unwrap();
        assert_eq!(
            kept.map(|r| r.version),
            Some(1),
            "[{be}] data survives re-migration"
        );
        let names: Vec<String> = second
            .list_tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            vec!["default".to_owned()],
            "[{be}] default tenant once"
        );
        second.close().await;
    }
}

#[tokio::test]
async fn not_ready_before_migrations() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let opts = StoreOptions {
            migrate: false,
            ..StoreOptions::default()
        };
        let s = Store::connect(&db.url, &opts).await.unwrap();
        let r = s.ready().await;
        assert!(
            matches!(r, Err(StoreError::Migration { .. })),
            "[{be}] unmigrated: {r:?}"
        );
        s.migrate().await.unwrap();
        s.ready()
            .await
            .unwrap_or_else(|e| panic!("[{be}] after migrate: {e}"));
        s.close().await;
    }
}

#[tokio::test]
async fn migrations_run_concurrently_apply_once() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let opts = StoreOptions {
            migrate: false,
            ..StoreOptions::default()
        };
        let a = Store::connect(&db.url, &opts).await.unwrap();
        let b = Store::connect(&db.url, &opts).await.unwrap();
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        ra.unwrap_or_else(|e| panic!("[{be}] a: {e}"));
        rb.unwrap_or_else(|e| panic!("[{be}] b: {e}"));
        a.ready().await.unwrap();
        b.ready().await.unwrap();
        a.close().await;
        b.close().await;
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
async fn sqlite_memory_and_nested_paths_work() {
    let s = Store::connect("sqlite::memory:", &StoreOptions::default())
        .await
        .unwrap();
    put(&s, &def(), "Practitioner", "m", 1).await;
    assert!(
        s.read(&def(), "Practitioner", "m").await.unwrap().is_some(),
        "readers see writes"
    );
    assert_eq!(
        s.history(&def(), &hq(HistoryScope::System, 10))
            .await
            .unwrap()
            .total,
        1
    );
    s.ready().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a/b/fhirdir.db");
    let s = Store::connect(
        &format!("sqlite://{}", file.display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    assert!(file.is_file(), "file and parent directories created");
    put(&s, &def(), "Practitioner", "f", 1).await;
    s.close().await;
    let mode: String = {
        let s = Store::connect(
            &format!("sqlite://{}", file.display()),
            &StoreOptions::default(),
        )
        .await
        .unwrap();
        assert!(
            s.read(&def(), "Practitioner", "f").await.unwrap().is_some(),
            "data persisted"
        );
        s.close().await;
        std::fs::read(&file)
            .map(|b| {
                if b.get(18..20) == Some(&[2, 2]) {
                    "wal".into()
                } else {
                    "other".into()
                }
            })
            .unwrap()
    };
    assert_eq!(mode, "wal", "database file is in WAL mode");

    let bad = Store::connect("mysql://x", &StoreOptions::default()).await;
    assert!(matches!(bad, Err(StoreError::UnsupportedUrl(_))));
}

/// Several processes (server replicas, the CLI) may start at once on a brand-new database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_connects_all_succeed() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let url = db.url.clone();
            tasks.spawn(async move { Store::connect(&url, &StoreOptions::default()).await });
        }
        while let Some(r) = tasks.join_next().await {
            let s = r
                .expect("task")
                .unwrap_or_else(|e| panic!("[{be}] connect: {e}"));
            s.ready()
                .await
                .unwrap_or_else(|e| panic!("[{be}] ready: {e}"));
            s.close().await;
        }
    }
}

/// Compile-time check: every store future can be spawned (axum handlers and jobs need
/// `Send + 'static` futures). Never run: it only has to type-check.
#[expect(dead_code, reason = "a compile-time check, not a test")]
fn every_store_future_is_send(s: Store, t: TenantName, w: WriteRequest, q: HistoryQuery) {
    fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
    let (s2, s3, s4, s5, s6, s7, s8, s9, s10, s11) = (
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
        s.clone(),
    );
    let (t2, t3, t4, t5, t6, t7, t8, t9) = (
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
    );
    spawnable(async move { Store::connect("sqlite::memory:", &StoreOptions::default()).await });
    spawnable(async move { s2.migrate().await });
    spawnable(async move { s3.ready().await });
    spawnable(async move { s4.create_tenant(&t2).await });
    spawnable(async move { s5.list_tenants().await });
    spawnable(async move { s6.delete_tenant(&t3).await });
    spawnable(async move { s7.tenant_exists(&t4).await });
    spawnable(async move { s8.read(&t5, "Practitioner", "a").await });
    spawnable(async move { s9.vread(&t6, "Practitioner", "a", 1).await });
    spawnable(async move { s10.write(&t7, w).await });
    spawnable(async move {
        s11.delete(&t8, "Practitioner", "a", Precondition::None)
            .await
    });
    spawnable(async move { s.history(&t9, &q).await });
}
