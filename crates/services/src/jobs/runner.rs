//! The jobs runner: one task per process ([`spawn`]) that claims and runs the jobs of every
//! registered [`JobKind`] (see the `jobs` module documentation).

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use store::{Job, JobState, TenantName};

use crate::error::Result;
use crate::App;

/// How long a claimed job stays this process's without a progress report, unless
/// [`super::Jobs::set_lease`] says otherwise.
pub const LEASE: Duration = Duration::from_secs(30);

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

/// Starts the runner of `app` on the current tokio runtime (once; later calls do nothing).
/// It runs until the returned handle is aborted.
///
/// fhirdir's kinds run in two lanes, each one job at a time: the local lane (reindex, event
/// trimming, export, import) and the remote lane (harvest passes, which wait on other servers
/// that may be slow or ask to wait), so that a slow source never holds up an export. The
/// remote lane's scheduler (queueing harvest passes as their schedules say) and verification's
/// due work (retries, revalidation, verification on attestation) run beside them.
pub fn spawn(app: Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    if app.jobs.started.swap(true, Ordering::SeqCst) {
        return None;
    }
    let remote = tokio::spawn(run(
        app.clone(),
        Kinds(vec![Arc::new(crate::harvest::Harvest)]),
        Lane::Remote,
    ));
    let schedule = crate::harvest::schedule::spawn(app.clone());
    let due = crate::verify::due::spawn(app.clone());
    let local = Kinds(vec![
        Arc::new(crate::reindex::Reindex),
        Arc::new(crate::event_retention::EventTrim::default()),
        Arc::new(crate::bulk::Export::default()),
        Arc::new(crate::bulk::Import),
    ]);
    Some(tokio::spawn(async move {
        // Aborting the returned handle stops both lanes.
        let _remote = AbortOnDrop(remote);
        let _schedule = AbortOnDrop(schedule);
        let _due = AbortOnDrop(due);
        run(app, local, Lane::Local).await;
    }))
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Which wake-up a runner loop listens to.
#[derive(Debug, Clone, Copy)]
enum Lane {
    Local,
    Remote,
}

impl Lane {
    fn wake(self, app: &App) -> &tokio::sync::Notify {
        match self {
            Lane::Local => &app.jobs.wake,
            Lane::Remote => &app.harvest.wake,
        }
    }
}

/// [`spawn`] with the given kinds instead of fhirdir's own (tests define kinds of their own).
pub fn spawn_with(
    app: Arc<App>,
    kinds: Vec<Arc<dyn JobKind>>,
) -> Option<tokio::task::JoinHandle<()>> {
    if app.jobs.started.swap(true, Ordering::SeqCst) {
        return None;
    }
    Some(tokio::spawn(run(app, Kinds(kinds), Lane::Local)))
}

/// The kinds one runner runs.
struct Kinds(Vec<Arc<dyn JobKind>>);

impl Kinds {
    fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|k| k.name()).collect()
    }

    fn kind(&self, name: &str) -> Option<&Arc<dyn JobKind>> {
        self.0.iter().find(|k| k.name() == name)
    }
}

async fn run(app: Arc<App>, kinds: Kinds, lane: Lane) {
    for kind in &kinds.0 {
        kind.started(&app).await;
    }
    loop {
        // Paused, the runner takes no job but still notices other processes' changes.
        let worked = if app.jobs.paused() {
            false
        } else {
            match run_available(&app, &kinds).await {
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
                () = lane.wake(&app).notified() => {}
                () = tokio::time::sleep(poll) => {
                    for kind in &kinds.0 {
                        kind.idle(&app).await;
                    }
                    // Tenants another process deleted are forgotten (see `KnownTenants`).
                    if let Err(e) = app.tenants.retain_existing(&app.store).await {
                        tracing::warn!(error = %e, "jobs runner: listing tenants failed");
                    }
                }
            }
        }
    }
}

/// Runs every job that can be claimed now; `true` when at least one ran.
async fn run_available(app: &App, kinds: &Kinds) -> Result<bool> {
    let jobs = &app.jobs;
    let names = kinds.names();
    let mut worked = false;
    for tenant in app.store.tenants_with_jobs(&names).await? {
        loop {
            if jobs.paused() {
                return Ok(worked);
            }
            let lease = jobs.lease_until();
            let Some(job) = app
                .store
                .claim_job(&tenant, &names, &jobs.owner, lease)
                .await?
            else {
                break;
            };
            worked = true;
            // Claimed among `names`, so the kind is registered.
            let Some(kind) = kinds.kind(&job.kind) else {
                continue;
            };
            if !finish(app, kind.as_ref(), &tenant, job).await? {
                return Ok(worked);
            }
        }
    }
    Ok(worked)
}

/// Runs the claimed `job` to its end and records how it ended. `Ok(false)`: the database is
/// away for now, so the runner stops looking (the job resumes when its lease expires).
async fn finish(app: &App, kind: &dyn JobKind, tenant: &TenantName, job: Job) -> Result<bool> {
    let jobs = &app.jobs;
    let (id, name) = (job.id.clone(), kind.name());
    let result = run_job(app, kind, tenant, job).await;
    match result {
        Ok(true) => {
            app.store
                .finish_job(tenant, &id, &jobs.owner, JobState::Completed, None)
                .await?;
            tracing::info!(%tenant, job = %id, kind = name, "job completed");
        }
        Ok(false) => {
            tracing::info!(%tenant, job = %id, kind = name, "job stopped (cancelled or taken over)")
        }
        Err(e) if e.status() == http::StatusCode::SERVICE_UNAVAILABLE => {
            tracing::warn!(%tenant, job = %id, kind = name, error = %e, "job interrupted; it resumes when its lease expires");
            kind.stopped(app, tenant);
            return Ok(false);
        }
        Err(e) => {
            tracing::error!(%tenant, job = %id, kind = name, error = %e, "job failed");
            // The cause may hold internal detail: it goes to the log, not the job.
            let error = format!("the {name} failed; the server log has the cause");
            app.store
                .finish_job(tenant, &id, &jobs.owner, JobState::Failed, Some(&error))
                .await?;
        }
    }
    kind.stopped(app, tenant);
    Ok(true)
}

/// Claims and runs, in the calling task, the oldest runnable job of `kind` in `tenant` (how
/// the command line runs a job without a server); answers its id, `None` when there was none.
pub async fn run_next(
    app: &App,
    kind: &dyn JobKind,
    tenant: &TenantName,
) -> Result<Option<String>> {
    let lease = app.jobs.lease_until();
    let Some(job) = app
        .store
        .claim_job(tenant, &[kind.name()], &app.jobs.owner, lease)
        .await?
    else {
        return Ok(None);
    };
    let id = job.id.clone();
    finish(app, kind, tenant, job).await?;
    Ok(Some(id))
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
            .record_job_progress(
                tenant,
                &job.id,
                &jobs.owner,
                done,
                &cursor,
                jobs.lease_until(),
            )
            .await?;
        if !mine {
            return Ok(false);
        }
        job.done = done;
        job.cursor = Some(cursor);
        jobs.spend();
    }
}
