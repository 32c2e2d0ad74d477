//! Connecting, migrations, readiness, SQLite URL forms and `Send` futures.

use store::*;

use crate::support::*;

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
