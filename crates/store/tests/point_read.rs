//! SQLite `read`/`vread` on a file go through the store's point-read connections (rusqlite, not
//! sqlx): they must answer exactly as the sqlx path does and see every committed write, from
//! this store's writer or another process's. The contract suite (`--test contract`) checks the
//! same semantics on both backends; these tests aim at what a second access path can get wrong.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use store::{
    DeleteOutcome, Method, Precondition, Store, StoreError, StoreOptions, TenantName,
    VersionRecord, WriteRequest,
};

async fn open(file: &Path) -> Store {
    Store::connect(
        &format!("sqlite://{}", file.display()),
        &StoreOptions::default(),
    )
    .await
    .expect("connect")
}

fn def() -> TenantName {
    TenantName::default_tenant()
}

/// An unconditional PUT of `{"n": n}`; returns the version written.
async fn put(s: &Store, id: &str, n: i64) -> i64 {
    let mut resource = serde_json::Map::new();
    resource.insert("resourceType".into(), "Practitioner".into());
    resource.insert("n".into(), json!(n));
    let req = WriteRequest {
        resource_type: "Practitioner".into(),
        id: id.into(),
        resource,
        precondition: Precondition::None,
        method: Method::Put,
    };
    s.write(&def(), req).await.expect("write").record.version
}

fn n_of(r: &VersionRecord) -> i64 {
    let body: Value = serde_json::from_str(r.body.as_deref().expect("body")).expect("JSON");
    body["n"].as_i64().expect("n")
}

async fn read(s: &Store, id: &str) -> Option<VersionRecord> {
    s.read(&def(), "Practitioner", id).await.expect("read")
}

#[tokio::test]
async fn reads_see_each_write_as_soon_as_it_is_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(&dir.path().join("f.db")).await;
    assert_eq!(read(&s, "a").await, None, "unknown id");
    for n in 1..=50 {
        let version = put(&s, "a", n).await;
        let r = read(&s, "a").await.expect("just written");
        assert_eq!((r.version, n_of(&r)), (version, n), "read after write {n}");
        let v = s
            .vread(&def(), "Practitioner", "a", version)
            .await
            .expect("vread")
            .expect("version");
        assert_eq!(n_of(&v), n, "vread after write {n}");
    }
    s.close().await;
}

#[tokio::test]
async fn tombstones_versions_and_unknown_tenants_answer_as_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(&dir.path().join("f.db")).await;
    put(&s, "a", 1).await;
    put(&s, "a", 2).await;
    let deleted = s
        .delete(&def(), "Practitioner", "a", Precondition::None)
        .await
        .expect("delete");
    assert!(matches!(deleted, DeleteOutcome::Deleted { version: 3, .. }));

    let gone = read(&s, "a")
        .await
        .expect("the tombstone is the current row");
    assert_eq!((gone.version, gone.deleted, gone.body), (3, true, None));
    assert_eq!(gone.method, Method::Delete);
    let t = def();
    let vread = |v| s.vread(&t, "Practitioner", "a", v);
    let v1 = vread(1).await.expect("vread").expect("v1");
    assert_eq!((n_of(&v1), v1.deleted), (1, false));
    let v3 = vread(3).await.expect("vread").expect("v3");
    assert!(v3.deleted && v3.body.is_none());
    assert_eq!(vread(4).await.expect("vread"), None, "no such version");
    assert_eq!(
        s.vread(&def(), "Practitioner", "zz", 1)
            .await
            .expect("vread"),
        None
    );
    assert_eq!(
        s.read(&def(), "Organization", "a").await.expect("read"),
        None,
        "the type is part of the key"
    );

    let nobody = TenantName::parse("nobody").expect("name");
    let r = s.read(&nobody, "Practitioner", "a").await;
    assert!(matches!(r, Err(StoreError::UnknownTenant(_))), "{r:?}");
    let r = s.vread(&nobody, "Practitioner", "a", 1).await;
    assert!(matches!(r, Err(StoreError::UnknownTenant(_))), "{r:?}");

    // A tenant created after the point-read connections were opened is seen at once.
    let late = TenantName::parse("late").expect("name");
    assert!(s.create_tenant(&late).await.expect("create tenant"));
    assert_eq!(
        s.read(&late, "Practitioner", "a").await.expect("read"),
        None
    );
    s.close().await;
}

#[tokio::test]
async fn a_second_store_on_the_same_file_sees_the_first_ones_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shared.db");
    let (one, two) = (open(&file).await, open(&file).await);
    for n in 1..=20 {
        let (writer, reader) = if n % 2 == 0 {
            (&one, &two)
        } else {
            (&two, &one)
        };
        let version = put(writer, "x", n).await;
        let r = read(reader, "x").await.expect("written by the other store");
        assert_eq!((r.version, n_of(&r)), (version, n));
    }
    one.close().await;
    // Closing one store leaves the other's connections working.
    assert_eq!(read(&two, "x").await.map(|r| r.version), Some(20));
    two.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_during_writes_return_committed_versions() {
    const IDS: usize = 8;
    const WRITES: i64 = 40;
    const READERS: usize = 32;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(&dir.path().join("busy.db")).await;
    let ids: Vec<String> = (0..IDS).map(|i| format!("r{i}")).collect();
    // committed[i]: the latest version of ids[i] whose write has returned.
    let committed: Arc<Vec<AtomicI64>> = Arc::new((0..IDS).map(|_| AtomicI64::new(0)).collect());
    for (i, id) in ids.iter().enumerate() {
        committed[i].store(put(&s, id, 1).await, Ordering::SeqCst);
    }
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let (s, ids, committed) = (s.clone(), ids.clone(), committed.clone());
        tokio::spawn(async move {
            for n in 2..=WRITES {
                for (i, id) in ids.iter().enumerate() {
                    let version = put(&s, id, n).await;
                    committed[i].store(version, Ordering::SeqCst);
                }
            }
        })
    };
    let readers: Vec<_> = (0..READERS)
        .map(|k| {
            let (s, ids, committed, done) =
                (s.clone(), ids.clone(), committed.clone(), done.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                let mut i = k % IDS;
                while !done.load(Ordering::SeqCst) || reads < 10 {
                    let before = committed[i].load(Ordering::SeqCst);
                    let r = s.read(&def(), "Practitioner", &ids[i]).await;
                    let after = committed[i].load(Ordering::SeqCst);
                    let r = r.expect("read never fails").expect("exists");
                    // A write may have committed before its writer stored the version: +1.
                    assert!(
                        before <= r.version && r.version <= after + 1,
                        "{}: read v{} outside [{before}, {}]",
                        ids[i],
                        r.version,
                        after + 1
                    );
                    assert_eq!(n_of(&r), r.version, "body matches its version");
                    i = (i + 1) % IDS;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    writer.await.expect("writer");
    done.store(true, Ordering::SeqCst);
    let mut total = 0;
    for r in readers {
        total += r.await.expect("reader");
    }
    assert!(total >= READERS as u64 * 10);

    for id in &ids {
        assert_eq!(read(&s, id).await.map(|r| r.version), Some(WRITES));
    }
    s.close().await;
}

#[tokio::test]
async fn memory_databases_still_read_through_their_one_connection() {
    let s = Store::connect("sqlite::memory:", &StoreOptions::default())
        .await
        .expect("connect");
    let version = put(&s, "m", 7).await;
    let r = read(&s, "m").await.expect("read");
    assert_eq!((r.version, n_of(&r)), (version, 7));
    let v = s
        .vread(&def(), "Practitioner", "m", version)
        .await
        .expect("vread");
    assert!(v.is_some());
    let nobody = TenantName::parse("nobody").expect("name");
    let r = s.read(&nobody, "Practitioner", "m").await;
    assert!(matches!(r, Err(StoreError::UnknownTenant(_))), "{r:?}");
}
