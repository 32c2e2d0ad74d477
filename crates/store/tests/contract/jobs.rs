//! The job queue (migration 0010) for any kind: each job has one runner at a time, an
//! expired lease is taken over from the last recorded cursor, a stale or cancelled owner is
//! told to stop, listings are per tenant and kind, and the rows of the old `reindex_jobs`
//! table survive the migration.

use std::collections::BTreeSet;
use std::str::FromStr;

use serde_json::{json, Value};
use sqlx::Connection;
use store::*;

use crate::support::*;

const KINDS: &[&str] = &["test"];

async fn create(s: &Store, t: &TenantName, id: &str, kind: &str) -> Job {
    let params = json!({"job": id});
    let job = NewJob {
        id,
        kind,
        params: &params,
        total: 10,
    };
    s.create_job(t, job)
        .await
        .unwrap_or_else(|e| panic!("[{}] create job {id}: {e}", s.backend()))
}

fn micros_from_now(seconds: i64) -> i64 {
    chrono::Utc::now().timestamp_micros() + seconds * 1_000_000
}

async fn claim(s: &Store, t: &TenantName, owner: &str, lease: i64) -> Option<Job> {
    s.claim_job(t, KINDS, owner, lease)
        .await
        .unwrap_or_else(|e| panic!("[{}] claim: {e}", s.backend()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_never_both_claim_one_job() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        let ids: Vec<String> = (0..6).map(|i| format!("j{i}")).collect();
        for id in &ids {
            create(&s, &t, id, "test").await;
        }
        create(&s, &t, "other-kind", "other").await;

        let mut tasks = tokio::task::JoinSet::new();
        for owner in 0..8 {
            let (s, t) = (s.clone(), t.clone());
            tasks.spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = claim(&s, &t, &format!("o{owner}"), micros_from_now(30)).await
                {
                    assert_eq!(job.owner, Some(format!("o{owner}")));
                    mine.push(job.id);
                }
                mine
            });
        }
        let mut claimed = Vec::new();
        while let Some(mine) = tasks.join_next().await {
            claimed.extend(mine.expect("claimant"));
        }
        claimed.sort();
        assert_eq!(claimed, ids, "[{be}] every job claimed exactly once");
        let other = s.job(&t, "other-kind").await.unwrap().expect("job");
        assert_eq!(other.state, JobState::Queued, "[{be}] other kinds are left");
    }
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_where_the_job_stopped() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        create(&s, &t, "j", "test").await;
        let a = claim(&s, &t, "a", micros_from_now(30))
            .await
            .expect("claimed");
        assert_eq!((a.state, a.cursor), (JobState::Running, None), "[{be}]");
        assert!(
            claim(&s, &t, "b", micros_from_now(30)).await.is_none(),
            "[{be}] a live lease keeps the job a's"
        );

        // a records a step, then falls silent past its lease.
        let cursor = json!({"at": 4});
        assert!(
            s.record_job_progress(&t, "j", "a", 4, &cursor, micros_from_now(-1))
                .await
                .unwrap(),
            "[{be}]"
        );
        let b = claim(&s, &t, "b", micros_from_now(30))
            .await
            .expect("taken over");
        assert_eq!(
            (b.done, b.cursor.clone(), b.owner.as_deref()),
            (4, Some(cursor.clone()), Some("b")),
            "[{be}] b resumes where a stopped"
        );

        // a's late report and finish are refused; b's are not.
        assert!(
            !s.record_job_progress(&t, "j", "a", 5, &json!({"at": 5}), micros_from_now(30))
                .await
                .unwrap(),
            "[{be}] progress by a stale owner"
        );
        assert!(
            !s.finish_job(&t, "j", "a", JobState::Completed, None)
                .await
                .unwrap(),
            "[{be}] finish by a stale owner"
        );
        assert!(
            s.record_job_progress(&t, "j", "b", 10, &json!({"at": 10}), micros_from_now(30))
                .await
                .unwrap(),
            "[{be}]"
        );
        assert!(
            s.finish_job(&t, "j", "b", JobState::Failed, Some("boom"))
                .await
                .unwrap(),
            "[{be}]"
        );
        let ended = s.job(&t, "j").await.unwrap().expect("job");
        assert_eq!(
            (ended.state, ended.done, ended.error.as_deref(), ended.owner),
            (JobState::Failed, 10, Some("boom"), None),
            "[{be}]"
        );
        assert!(
            claim(&s, &t, "c", micros_from_now(30)).await.is_none(),
            "[{be}] an ended job is never claimed"
        );
    }
}

#[tokio::test]
async fn cancel_stops_a_running_job_at_its_next_progress_report() {
    for Ctx { store: s, be, .. } in stores().await {
        let t = def();
        create(&s, &t, "j", "test").await;
        claim(&s, &t, "a", micros_from_now(30))
            .await
            .expect("claimed");
        assert!(s.cancel_job(&t, "j").await.unwrap(), "[{be}]");
        assert!(
            !s.record_job_progress(&t, "j", "a", 1, &json!(1), micros_from_now(30))
                .await
                .unwrap(),
            "[{be}] the runner is told to stop"
        );
        assert!(
            !s.finish_job(&t, "j", "a", JobState::Completed, None)
                .await
                .unwrap(),
            "[{be}] and cannot finish it"
        );
        let job = s.job(&t, "j").await.unwrap().expect("job");
        assert_eq!((job.state, job.done), (JobState::Cancelled, 0), "[{be}]");
        assert!(
            !s.cancel_job(&t, "j").await.unwrap(),
            "[{be}] already ended"
        );
        assert!(
            claim(&s, &t, "b", micros_from_now(-1)).await.is_none(),
            "[{be}] a cancelled job is never claimed"
        );
    }
}

#[tokio::test]
async fn jobs_are_listed_per_tenant_and_kind() {
    for Ctx { store: s, be, .. } in stores().await {
        let (t, other) = (def(), tenant("jobs-other"));
        s.create_tenant(&other).await.unwrap();
        create(&s, &t, "a", "test").await;
        create(&s, &t, "b", "other").await;
        create(&s, &other, "c", "test").await;
        s.cancel_job(&t, "a").await.unwrap();
        let params = json!({});
        let unknown = NewJob {
            id: "x",
            kind: "test",
            params: &params,
            total: 0,
        };
        assert!(
            matches!(
                s.create_job(&tenant("jobs-nosuch"), unknown).await,
                Err(StoreError::UnknownTenant(_))
            ),
            "[{be}]"
        );

        let ids = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.jobs(&t, None, false).await.unwrap()),
            ["a", "b"],
            "[{be}]"
        );
        assert_eq!(
            ids(s.jobs(&t, Some("test"), false).await.unwrap()),
            ["a"],
            "[{be}]"
        );
        assert_eq!(ids(s.jobs(&t, None, true).await.unwrap()), ["b"], "[{be}]");
        assert!(s.job(&other, "a").await.unwrap().is_none(), "[{be}]");
        let job = s.job(&t, "b").await.unwrap().expect("job");
        assert_eq!(
            (job.kind.as_str(), job.params, job.total),
            ("other", json!({"job": "b"}), 10),
            "[{be}]"
        );
        let with_work: BTreeSet<TenantName> = s
            .tenants_with_jobs(KINDS)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(with_work, BTreeSet::from([other.clone()]), "[{be}]");
        assert_eq!(
            s.tenants_with_jobs(&["other"]).await.unwrap(),
            [t],
            "[{be}]"
        );
    }
}

/// Runs `sql` (several statements) on the test database behind the store's back.
async fn raw(db: &TestDb, sql: &str) {
    let run = async {
        if db.backend == "sqlite" {
            // The store has not created the file yet.
            let opts =
                sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)?.create_if_missing(true);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
            sqlx::raw_sql(sql).execute(&mut c).await?;
        } else {
            let mut c = sqlx::PgConnection::connect(&db.url).await?;
            sqlx::raw_sql(sql).execute(&mut c).await?;
        }
        Ok::<_, sqlx::Error>(())
    };
    run.await
        .unwrap_or_else(|e| panic!("[{}] {sql}: {e}", db.backend));
}

#[tokio::test]
async fn reindex_jobs_rows_move_into_the_jobs_table() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        // The schema as version 9 left it, by the migration files themselves.
        let dir = format!("{}/../../migrations/{be}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("migrations")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        raw(
            &db,
            "CREATE TABLE fhirdir_migrations (version BIGINT NOT NULL PRIMARY KEY, \
             name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await;
        for file in &files {
            let stem = file.file_stem().and_then(|s| s.to_str()).expect("stem");
            let version: i64 = stem[..4].parse().expect("numbered file");
            if version > 9 {
                continue;
            }
            raw(&db, &std::fs::read_to_string(file).expect("sql")).await;
            let ledger = format!(
                "INSERT INTO fhirdir_migrations VALUES ({version}, '{}', 0)",
                &stem[5..]
            );
            raw(&db, &ledger).await;
        }
        raw(
            &db,
            "INSERT INTO tenants (name, created_at) VALUES ('default', 0); \
             INSERT INTO reindex_jobs VALUES ('default', 'r1', 'running', '[\"Practitioner\"]', \
             '[\"http://x/p\"]', 7, 3, 'Practitioner', 'it''s \"b\"', NULL, 'old', 5, 1, 2); \
             INSERT INTO reindex_jobs VALUES ('default', 'r2', 'failed', '[]', '[]', 0, 0, \
             NULL, NULL, 'boom', NULL, 0, 3, 4)",
        )
        .await;

        let s = Store::connect(&db.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("[{be}] migrating: {e}"));
        let jobs = s.jobs(&def(), Some("reindex"), false).await.unwrap();
        let r1 = Job {
            id: "r1".into(),
            kind: "reindex".into(),
            state: JobState::Running,
            params: json!({"types": ["Practitioner"], "params": ["http://x/p"]}),
            cursor: Some(json!({"after_type": "Practitioner", "after_id": "it's \"b\""})),
            total: 7,
            done: 3,
            error: None,
            owner: Some("old".into()),
            created_at: 1,
            updated_at: 2,
        };
        let r2 = Job {
            id: "r2".into(),
            kind: "reindex".into(),
            state: JobState::Failed,
            params: json!({"types": [], "params": []}),
            cursor: None::<Value>,
            total: 0,
            done: 0,
            error: Some("boom".into()),
            owner: None,
            created_at: 3,
            updated_at: 4,
        };
        assert_eq!(jobs, [r1, r2], "[{be}]");
        // The lease moved too: r1's (5 µs after the epoch) has long expired.
        let resumed = s
            .claim_job(&def(), &["reindex"], "new", micros_from_now(30))
            .await
            .unwrap()
            .expect("taken over");
        assert_eq!(resumed.id, "r1", "[{be}]");
    }
}
