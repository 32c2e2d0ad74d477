//! The jobs runner with a job kind of the test's own, on every backend: it runs a job's
//! steps from its params and cursor to completion, records progress after each step,
//! fails a job whose step fails without exposing the cause, and stops a job cancelled
//! while it runs at its next progress report.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use services::jobs::{self, BoxFuture, JobKind, Step};
use services::{App, Error, Result, Settings};
use store::{Job, JobState, NewJob, Store, StoreOptions, TenantName};

/// Counts from the cursor (`{"at": n}`) up to `params.to`, `batch` at a time; fails at
/// `params.fail_at`.
#[derive(Debug)]
struct Count;

async fn count_step(job: &Job, batch: u32) -> Result<Step> {
    let to = job.params["to"].as_u64().unwrap_or(0);
    let at = job
        .cursor
        .as_ref()
        .map_or(0, |c| c["at"].as_u64().unwrap_or(0));
    if job.params.get("fail_at").and_then(Value::as_u64) == Some(at) {
        return Err(Error::internal("secret detail"));
    }
    if at >= to {
        return Ok(Step::Finished);
    }
    let next = (at + u64::from(batch)).min(to);
    Ok(Step::Progress {
        done: job.done + (next - at),
        cursor: json!({"at": next}),
    })
}

impl JobKind for Count {
    fn name(&self) -> &'static str {
        "count"
    }

    fn step<'a>(
        &'a self,
        _app: &'a App,
        _tenant: &'a TenantName,
        job: &'a Job,
        batch: u32,
    ) -> BoxFuture<'a, Result<Step>> {
        Box::pin(count_step(job, batch))
    }
}

async fn app(url: &str) -> Arc<App> {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .expect("connect");
    let settings = Settings {
        base_url: "http://localhost".into(),
        max_body_bytes: 1 << 20,
        default_count: 10,
        max_count: 100,
        max_bundle_entries: 100,
        cursor_secret: None,
        auth_enforced: true,
        outbound_allow: Vec::new(),
        stale_after: finder::DEFAULT_STALE_AFTER_DURATION,
        subscription_give_up: Duration::from_secs(3600),
        export: services::bulk::ExportSettings::default(),
        import_dir: None,
    };
    let app = App::new(store, settings, Vec::new());
    app.jobs.set_batch(2);
    app.jobs.set_poll(Duration::from_millis(20));
    Arc::new(app)
}

async fn queue(app: &App, id: &str, params: Value) {
    let job = NewJob {
        id,
        kind: "count",
        params: &params,
        total: params["to"].as_u64().unwrap_or(0),
    };
    app.store
        .create_job(&TenantName::default_tenant(), job)
        .await
        .expect("queue");
    app.jobs.wake();
}

async fn job(app: &App, id: &str) -> Job {
    app.store
        .job(&TenantName::default_tenant(), id)
        .await
        .expect("read")
        .expect("job")
}

/// Polls until `id` satisfies `done` (at most 10 s).
async fn wait_for(app: &App, id: &str, done: impl Fn(&Job) -> bool) -> Job {
    for _ in 0..500 {
        let j = job(app, id).await;
        if done(&j) {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} never got there: {:?}", job(app, id).await);
}

#[tokio::test]
async fn the_runner_steps_a_job_to_completion_and_fails_a_failing_one() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let app = app(&db.url).await;
        let runner = jobs::spawn_with(app.clone(), vec![Arc::new(Count)]).expect("first start");
        assert!(
            jobs::spawn_with(app.clone(), vec![Arc::new(Count)]).is_none(),
            "[{be}] one runner"
        );

        queue(&app, "ok", json!({"to": 5})).await;
        let ok = wait_for(&app, "ok", |j| !j.state.is_unfinished()).await;
        assert_eq!(
            (ok.state, ok.done, ok.cursor, ok.owner),
            (JobState::Completed, 5, Some(json!({"at": 5})), None),
            "[{be}]"
        );

        queue(&app, "bad", json!({"to": 5, "fail_at": 4})).await;
        let bad = wait_for(&app, "bad", |j| !j.state.is_unfinished()).await;
        assert_eq!((bad.state, bad.done), (JobState::Failed, 4), "[{be}]");
        assert_eq!(
            bad.error.as_deref(),
            Some("the count failed; the server log has the cause"),
            "[{be}] the cause stays in the log"
        );
        runner.abort();
    }
}

#[tokio::test]
async fn a_job_cancelled_while_it_runs_stops_at_its_next_report() {
    for db in testkit::test_databases().await {
        let be = db.backend;
        let app = app(&db.url).await;
        app.jobs.pause();
        let runner = jobs::spawn_with(app.clone(), vec![Arc::new(Count)]).expect("start");
        queue(&app, "j", json!({"to": 100})).await;

        // One step, then the runner holds the job between steps.
        app.jobs.step(1);
        let running = wait_for(&app, "j", |j| j.done == 2).await;
        assert_eq!(running.state, JobState::Running, "[{be}]");

        let t = TenantName::default_tenant();
        assert!(
            app.store.cancel_job(&t, "j").await.expect("cancel"),
            "[{be}]"
        );
        app.jobs.resume();
        // The next step's report is refused and the runner lets the job go: nothing more is
        // recorded, and a new job still runs.
        queue(&app, "next", json!({"to": 1})).await;
        wait_for(&app, "next", |j| j.state == JobState::Completed).await;
        let cancelled = job(&app, "j").await;
        assert_eq!(
            (cancelled.state, cancelled.done),
            (JobState::Cancelled, 2),
            "[{be}]"
        );
        runner.abort();
    }
}
