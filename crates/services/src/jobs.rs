//! The background jobs runner: one task per process that runs every kind of durable job
//! (`$reindex` today; bulk export, `$import`, subscription delivery and directory sync
//! later) from the store's job queue (`store::jobs`).
//!
//! A kind is a [`JobKind`]: its name in the queue and a [`JobKind::step`] that does one
//! bounded unit of work (one batch) from the job's params and cursor. The runner ([`spawn`])
//! claims the oldest runnable job of any registered kind under a lease ([`LEASE`]), runs
//! steps, and records the new `done` and cursor after each one, which extends the lease.
//! When a report answers that the job is no longer this process's (cancelled, or taken over
//! after the lease expired) it stops at once; when a step says the job is finished it
//! completes it; a failing step fails it. A process that dies leaves its job claimed until
//! the lease expires; then this or another process resumes it from the last recorded
//! cursor, so a step must be safe to redo.
//!
//! [`Jobs`] holds the runner's settings and the controls tests and maintenance use: pause,
//! single steps, batch size and poll interval.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use store::{Job, JobState, TenantName};
use tokio::sync::{watch, Notify};

use crate::error::Result;
use crate::App;

/// How long a claimed job stays this process's without a progress report.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often an idle runner looks for jobs queued by other processes (the default of
/// [`Jobs::set_poll`]).
pub const POLL: Duration = Duration::from_secs(5);

/// Items per step when none is set ([`Jobs::set_batch`]).
pub const DEFAULT_BATCH: u32 = 500;

/// A boxed future of a [`JobKind`] method: the kinds are held as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one [`JobKind::step`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Work was done and more may remain: the job's new `done`, and where it resumes.
    Progress { done: u64, cursor: Value },
    /// Nothing is left: the job is complete.
    Finished,
}

/// One kind of background job.
pub trait JobKind: Debug + Send + Sync + 'static {
    /// The `kind` of its jobs in the queue.
    fn name(&self) -> &'static str;

    /// Does one bounded unit of `job` (at most `batch` items, in the kind's unit), starting
    /// from its `params`, `cursor` and `done`. The runner records the answer before the next
    /// step; a step interrupted before that is redone, so it must be idempotent.
    fn step<'a>(
        &'a self,
        app: &'a App,
        tenant: &'a TenantName,
        job: &'a Job,
        batch: u32,
    ) -> BoxFuture<'a, Result<Step>>;

    /// Runs once when the runner starts, before it looks for jobs.
    fn started<'a>(&'a self, _app: &'a App) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Runs each time the idle runner's poll interval passes (to notice what other processes
    /// changed).
    fn idle<'a>(&'a self, _app: &'a App) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// A job of this kind in `tenant` stopped running here (completed, failed, cancelled or
    /// taken over).
    fn stopped(&self, _app: &App, _tenant: &TenantName) {}
}

/// The runner's kinds, settings and controls ([`App::jobs`]).
#[derive(Debug)]
pub struct Jobs {
    /// The kinds this process runs.
    kinds: Vec<Arc<dyn JobKind>>,
    /// This process's owner id in `jobs.owner`.
    owner: String,
    /// Items per step.
    batch: AtomicU32,
    /// Milliseconds between looks at the database when idle.
    poll_ms: AtomicU64,
    wake: Notify,
    /// Steps the runner may still run: `None` unlimited (normal), `Some(0)` paused.
    budget: watch::Sender<Option<u64>>,
    started: AtomicBool,
}

impl Jobs {
    /// A runner of `kinds` (not started: see [`spawn`]).
    pub fn new(kinds: Vec<Arc<dyn JobKind>>) -> Jobs {
        Jobs {
            kinds,
            owner: uuid::Uuid::new_v4().to_string(),
            batch: AtomicU32::new(DEFAULT_BATCH),
            poll_ms: AtomicU64::new(millis(POLL)),
            wake: Notify::new(),
            budget: watch::Sender::new(None),
            started: AtomicBool::new(false),
        }
    }

    /// Sets the number of items per step (one progress report each).
    pub fn set_batch(&self, batch: u32) {
        self.batch.store(batch.max(1), Ordering::SeqCst);
    }

    /// Sets how often the idle runner looks for work and for changes made by other
    /// processes (default [`POLL`]).
    pub fn set_poll(&self, every: Duration) {
        self.poll_ms.store(millis(every).max(1), Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Stops claiming jobs and holds running ones between steps (tests and maintenance).
    pub fn pause(&self) {
        self.budget.send_replace(Some(0));
    }

    /// Lets a paused runner run `steps` more steps, then pause again (tests).
    pub fn step(&self, steps: u64) {
        self.budget
            .send_modify(|b| *b = Some(b.unwrap_or(0) + steps));
        self.wake.notify_one();
    }

    /// Undoes [`Jobs::pause`].
    pub fn resume(&self) {
        self.budget.send_replace(None);
        self.wake.notify_one();
    }

    /// Tells the runner a job was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn paused(&self) -> bool {
        *self.budget.borrow() == Some(0)
    }

    async fn wait_while_paused(&self) {
        let mut rx = self.budget.subscribe();
        // An error means the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|b| *b != Some(0)).await;
    }

    /// Counts one step against the budget.
    fn spend(&self) {
        self.budget.send_modify(|b| {
            if let Some(n) = b {
                *n = n.saturating_sub(1);
            }
        });
    }

    fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.name()).collect()
    }

    fn kind(&self, name: &str) -> Option<&Arc<dyn JobKind>> {
        self.kinds.iter().find(|k| k.name() == name)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Starts the runner of `app` on the current tokio runtime (once; later calls do nothing).
/// It runs until the returned handle is aborted.
pub fn spawn(app: Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    if app.jobs.started.swap(true, Ordering::SeqCst) {
        return None;
    }
    Some(tokio::spawn(run(app)))
}

async fn run(app: Arc<App>) {
    for kind in &app.jobs.kinds {
        kind.started(&app).await;
    }
    loop {
        // Paused, the runner takes no job but still notices other processes' changes.
        let worked = if app.jobs.paused() {
            false
        } else {
            match run_available(&app).await {
                Ok(worked) => worked,
                Err(e) => {
                    tracing::warn!(error = %e, "jobs runner: looking for jobs failed");
                    false
                }
            }
        };
        if !worked {
            let poll = Duration::from_millis(app.jobs.poll_ms.load(Ordering::SeqCst));
            tokio::select! {
                () = app.jobs.wake.notified() => {}
                () = tokio::time::sleep(poll) => {
                    for kind in &app.jobs.kinds {
                        kind.idle(&app).await;
                    }
                }
            }
        }
    }
}

/// Runs every job that can be claimed now; `true` when at least one ran.
async fn run_available(app: &App) -> Result<bool> {
    let jobs = &app.jobs;
    let names = jobs.names();
    let mut worked = false;
    for tenant in app.store.tenants_with_jobs(&names).await? {
        loop {
            if jobs.paused() {
                return Ok(worked);
            }
            let lease = lease_until();
            let Some(job) = app
                .store
                .claim_job(&tenant, &names, &jobs.owner, lease)
                .await?
            else {
                break;
            };
            worked = true;
            // Claimed among `names`, so the kind is registered.
            let Some(kind) = jobs.kind(&job.kind) else {
                continue;
            };
            let (id, name) = (job.id.clone(), kind.name());
            let result = run_job(app, kind.as_ref(), &tenant, job).await;
            match result {
                Ok(true) => {
                    app.store
                        .finish_job(&tenant, &id, &jobs.owner, JobState::Completed, None)
                        .await?;
                    tracing::info!(%tenant, job = %id, kind = name, "job completed");
                }
                Ok(false) => {
                    tracing::info!(%tenant, job = %id, kind = name, "job stopped (cancelled or taken over)")
                }
                // The database is away for now: the job stays claimed until its lease runs
                // out, then this or another process resumes it from the last step.
                Err(e) if e.status() == http::StatusCode::SERVICE_UNAVAILABLE => {
                    tracing::warn!(%tenant, job = %id, kind = name, error = %e, "job interrupted; it resumes when its lease expires");
                    kind.stopped(app, &tenant);
                    return Ok(worked);
                }
                Err(e) => {
                    tracing::error!(%tenant, job = %id, kind = name, error = %e, "job failed");
                    // The cause may hold internal detail: it goes to the log, not the job.
                    let error = format!("the {name} failed; the server log has the cause");
                    app.store
                        .finish_job(&tenant, &id, &jobs.owner, JobState::Failed, Some(&error))
                        .await?;
                }
            }
            kind.stopped(app, &tenant);
        }
    }
    Ok(worked)
}

fn lease_until() -> i64 {
    chrono::Utc::now().timestamp_micros() + i64::try_from(LEASE.as_micros()).unwrap_or(i64::MAX)
}

/// Runs `job`'s steps from where it stopped. `Ok(false)`: the job is no longer ours.
async fn run_job(app: &App, kind: &dyn JobKind, tenant: &TenantName, mut job: Job) -> Result<bool> {
    let jobs = &app.jobs;
    loop {
        jobs.wait_while_paused().await;
        let batch = jobs.batch.load(Ordering::SeqCst);
        let (done, cursor) = match kind.step(app, tenant, &job, batch).await? {
            Step::Finished => return Ok(true),
            Step::Progress { done, cursor } => (done, cursor),
        };
        let mine = app
            .store
            .record_job_progress(tenant, &job.id, &jobs.owner, done, &cursor, lease_until())
            .await?;
        if !mine {
            return Ok(false);
        }
        job.done = done;
        job.cursor = Some(cursor);
        jobs.spend();
    }
}
