//! Concurrent writers: no lost updates, no version gaps, one If-Match winner.

use std::collections::BTreeSet;

use serde_json::json;
use store::*;

use crate::support::*;

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
