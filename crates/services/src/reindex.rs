//! `$reindex`: durable background jobs that rebuild a tenant's search index rows with the
//! tenant's current search parameters, and their status.
//!
//! Jobs are rows of the store's job queue of kind [`KIND`] (see `store::jobs`); they are
//! queued by
//! `POST [base]/$reindex` and whenever a tenant's search parameters change
//! ([`crate::tenant_conformance`]). One [`Reindexer`] task per process claims them, walks the
//! resources in key order a batch at a time, saves the new rows with
//! [`store::Store::reindex_many`], and records progress after every batch, so a restarted
//! server resumes where it stopped (once the lease of the old process, [`LEASE`], expires).
//!
//! The HTTP shape follows the FHIR asynchronous request pattern
//! (<https://hl7.org/fhir/R4/async.html>): kick-off answers `202 Accepted` with
//! `Content-Location` naming the job's status URL; the status URL answers `202` with an
//! `X-Progress` header while the job is queued or running and `200` once it has ended, each
//! time with a `Parameters` resource describing the job.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{Job, JobState, NewJob, TenantName};
use tokio::sync::{watch, Notify};

use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::App;

/// The kind of `$reindex` jobs in the job queue.
pub const KIND: &str = "reindex";

/// How long a claimed job stays this process's without a progress report.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often an idle runner looks for jobs queued by other processes and for search
/// parameters changed by them (the default of [`Reindexer::set_poll`]).
pub const POLL: Duration = Duration::from_secs(5);

/// A `$reindex` job as its status reports it: a job of the queue with its parameters read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReindexJob {
    pub id: String,
    pub state: JobState,
    /// Resource types it reindexes; empty: every type.
    pub types: Vec<String>,
    /// URLs of the search parameters whose values wait for this job.
    pub params: Vec<String>,
    /// Live resources of `types` when the job was queued.
    pub total: u64,
    /// Resources reindexed so far.
    pub done: u64,
    /// Why a failed job failed.
    pub error: Option<String>,
}

impl ReindexJob {
    fn of(job: Job) -> Result<ReindexJob> {
        let Params { types, params } = Params::of(&job)?;
        Ok(ReindexJob {
            id: job.id,
            state: job.state,
            types,
            params,
            total: job.total,
            done: job.done,
            error: job.error,
        })
    }
}

/// A reindex job's `params` in the queue.
#[derive(Debug, Serialize, Deserialize)]
struct Params {
    types: Vec<String>,
    params: Vec<String>,
}

impl Params {
    fn of(job: &Job) -> Result<Params> {
        serde_json::from_value(job.params.clone())
            .map_err(|e| Error::internal(format!("reindex job {}: parameters: {e}", job.id)))
    }
}

/// A reindex job's `cursor` in the queue: the last `(res_type, id)` done, after which the
/// job resumes.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    after_type: String,
    after_id: String,
}

impl Cursor {
    fn of(cursor: &Value) -> Result<(String, String)> {
        let c: Cursor = serde_json::from_value(cursor.clone())
            .map_err(|e| Error::internal(format!("reindex cursor {cursor}: {e}")))?;
        Ok((c.after_type, c.after_id))
    }

    fn to_json((after_type, after_id): &(String, String)) -> Value {
        json!(Cursor {
            after_type: after_type.clone(),
            after_id: after_id.clone(),
        })
    }
}

/// The `$reindex` jobs of `tenant`, oldest first; only queued and running ones when
/// `unfinished`.
pub async fn jobs(app: &App, tenant: &TenantName, unfinished: bool) -> Result<Vec<ReindexJob>> {
    app.store
        .jobs(tenant, Some(KIND), unfinished)
        .await?
        .into_iter()
        .map(ReindexJob::of)
        .collect()
}

/// Settings and controls of the background runner.
#[derive(Debug)]
pub struct Reindexer {
    /// This process's owner id in `jobs.owner`.
    owner: String,
    /// Resources per batch (one transaction each).
    batch: AtomicU32,
    /// Milliseconds between looks at the database when idle.
    poll_ms: AtomicU64,
    wake: Notify,
    /// Batches the runner may still run: `None` unlimited (normal), `Some(0)` paused.
    budget: watch::Sender<Option<u64>>,
    started: AtomicBool,
}

impl Reindexer {
    pub fn new(batch: u32) -> Reindexer {
        Reindexer {
            owner: uuid::Uuid::new_v4().to_string(),
            batch: AtomicU32::new(batch.max(1)),
            poll_ms: AtomicU64::new(u64::try_from(POLL.as_millis()).unwrap_or(5000)),
            wake: Notify::new(),
            budget: watch::Sender::new(None),
            started: AtomicBool::new(false),
        }
    }

    /// Sets the number of resources per batch (one transaction and one progress report each).
    pub fn set_batch(&self, batch: u32) {
        self.batch.store(batch.max(1), Ordering::SeqCst);
    }

    /// Sets how often the idle runner looks for work and for changes made by other
    /// processes (default [`POLL`]).
    pub fn set_poll(&self, every: Duration) {
        self.poll_ms.store(
            u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1),
            Ordering::SeqCst,
        );
        self.wake.notify_one();
    }

    /// Stops claiming jobs and holds running ones between batches (tests and maintenance).
    pub fn pause(&self) {
        self.budget.send_replace(Some(0));
    }

    /// Lets a paused runner run `batches` more batches, then pause again (tests).
    pub fn step(&self, batches: u64) {
        self.budget
            .send_modify(|b| *b = Some(b.unwrap_or(0) + batches));
        self.wake.notify_one();
    }

    /// Undoes [`Reindexer::pause`].
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

    /// Counts one batch against the budget.
    fn spend(&self) {
        self.budget.send_modify(|b| {
            if let Some(n) = b {
                *n = n.saturating_sub(1);
            }
        });
    }
}

impl Default for Reindexer {
    fn default() -> Self {
        Reindexer::new(500)
    }
}

/// Starts the runner of `app` on the current tokio runtime (once; later calls do nothing).
/// It runs until the returned handle is aborted.
pub fn spawn(app: std::sync::Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    if app.reindexer.started.swap(true, Ordering::SeqCst) {
        return None;
    }
    Some(tokio::spawn(run(app)))
}

async fn run(app: std::sync::Arc<App>) {
    // Load every tenant's view once: a definition that changed while the server was down
    // (e.g. in `profiles/`) queues its reindex now rather than at the tenant's next request.
    match app.store.list_tenants().await {
        Ok(tenants) => {
            for t in tenants {
                if let Ok(name) = TenantName::parse(&t.name) {
                    if let Err(e) = app.conformance(&name).await {
                        tracing::warn!(tenant = %name, error = %e, "loading search parameters failed");
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "reindex runner: listing tenants failed"),
    }
    loop {
        // Paused, the runner takes no job but still notices other processes' changes.
        let worked = if app.reindexer.paused() {
            false
        } else {
            match run_available(&app).await {
                Ok(worked) => worked,
                Err(e) => {
                    tracing::warn!(error = %e, "reindex runner: looking for jobs failed");
                    false
                }
            }
        };
        if !worked {
            tokio::select! {
                () = app.reindexer.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(
                    app.reindexer.poll_ms.load(Ordering::SeqCst),
                )) => app.refresh_stale_conformance().await,
            }
        }
    }
}

/// Runs every job that can be claimed now; `true` when at least one ran.
async fn run_available(app: &App) -> Result<bool> {
    let mut worked = false;
    for tenant in app.store.tenants_with_jobs(&[KIND]).await? {
        loop {
            if app.reindexer.paused() {
                return Ok(worked);
            }
            let lease = lease_until();
            let Some(job) = app
                .store
                .claim_job(&tenant, &[KIND], &app.reindexer.owner, lease)
                .await?
            else {
                break;
            };
            worked = true;
            let id = job.id.clone();
            let result = run_job(app, &tenant, job).await;
            let owner = &app.reindexer.owner;
            match result {
                Ok(true) => {
                    app.store
                        .finish_job(&tenant, &id, owner, JobState::Completed, None)
                        .await?;
                    tracing::info!(%tenant, job = %id, "reindex completed");
                }
                Ok(false) => {
                    tracing::info!(%tenant, job = %id, "reindex stopped (cancelled or taken over)")
                }
                // The database is away for now: the job stays claimed until its lease runs
                // out, then this or another process resumes it from the last batch.
                Err(e) if e.status() == http::StatusCode::SERVICE_UNAVAILABLE => {
                    tracing::warn!(%tenant, job = %id, error = %e, "reindex interrupted; it resumes when its lease expires");
                    return Ok(worked);
                }
                Err(e) => {
                    tracing::error!(%tenant, job = %id, error = %e, "reindex failed");
                    app.store
                        .finish_job(
                            &tenant,
                            &id,
                            owner,
                            JobState::Failed,
                            Some("the reindex failed; the server log has the cause"),
                        )
                        .await?;
                }
            }
            // Pending parameters are part of the tenant's view.
            app.conformance.invalidate(&tenant);
        }
    }
    Ok(worked)
}

fn lease_until() -> i64 {
    chrono::Utc::now().timestamp_micros() + i64::try_from(LEASE.as_micros()).unwrap_or(i64::MAX)
}

/// Walks the job's resources from where it stopped. `Ok(false)`: the job is no longer ours.
async fn run_job(app: &App, tenant: &TenantName, job: Job) -> Result<bool> {
    let params = Params::of(&job)?;
    let mut after = job.cursor.as_ref().map(Cursor::of).transpose()?;
    let mut done = job.done;
    loop {
        app.reindexer.wait_while_paused().await;
        let batch = app.reindexer.batch.load(Ordering::SeqCst);
        let page = app
            .store
            .reindex_page(tenant, &params.types, after.as_ref(), batch)
            .await?;
        let Some(last) = page.last() else {
            return Ok(true);
        };
        let next = (last.resource_type.clone(), last.id.clone());
        let n = u64::try_from(page.len()).unwrap_or(0);
        reindex_batch(app, tenant, page).await?;
        done += n;
        let cursor = Cursor::to_json(&next);
        after = Some(next);
        let mine = app
            .store
            .record_job_progress(
                tenant,
                &job.id,
                &app.reindexer.owner,
                done,
                &cursor,
                lease_until(),
            )
            .await?;
        if !mine {
            return Ok(false);
        }
        app.reindexer.spend();
    }
}

/// Extracts and saves the rows of one page, then redoes any resource a concurrent write
/// changed in between (the write's own rows must win).
async fn reindex_batch(
    app: &App,
    tenant: &TenantName,
    page: Vec<store::ReindexItem>,
) -> Result<()> {
    let mut items = page;
    for _attempt in 0..5 {
        let conf = app.conformance(tenant).await?;
        let mut entries = Vec::with_capacity(items.len());
        for item in &items {
            let value: Value = serde_json::from_str(&item.body).map_err(|e| {
                Error::internal(format!(
                    "stored body of {}/{} is not JSON: {e}",
                    item.resource_type, item.id
                ))
            })?;
            entries.push(conf.extractor.extract(&value));
        }
        let indexed: Vec<store::IndexedResource<'_>> = items
            .iter()
            .zip(&entries)
            .map(|(item, entries)| store::IndexedResource {
                resource_type: &item.resource_type,
                id: &item.id,
                entries,
            })
            .collect();
        app.store.reindex_many(tenant, &indexed).await?;
        let keys: Vec<(String, String)> = items
            .iter()
            .map(|i| (i.resource_type.clone(), i.id.clone()))
            .collect();
        let now = app.store.live_versions(tenant, &keys).await?;
        let mut stale = Vec::new();
        for item in items {
            let key = (item.resource_type.clone(), item.id.clone());
            match now.get(&key) {
                Some(v) if *v == item.version => {}
                Some(_) => {
                    if let Some(r) = app.store.read(tenant, &key.0, &key.1).await? {
                        if let (false, Some(body)) = (r.deleted, r.body) {
                            stale.push(store::ReindexItem {
                                resource_type: key.0,
                                id: key.1,
                                version: r.version,
                                body,
                            });
                        }
                    }
                }
                // Deleted meanwhile: the delete removed the rows; remove any we wrote after.
                None => {
                    app.store.reindex(tenant, &key.0, &key.1, &[]).await?;
                }
            }
        }
        if stale.is_empty() {
            return Ok(());
        }
        items = stale;
    }
    Err(Error::internal(
        "resources kept changing while they were reindexed",
    ))
}

/// Queues a job over `types` (empty: all) of `tenant`, for the parameters `params`, and wakes
/// the runner.
pub async fn queue(
    app: &App,
    tenant: &TenantName,
    types: &[String],
    params: &[String],
) -> Result<ReindexJob> {
    let id = uuid::Uuid::new_v4().to_string();
    let total = app.store.live_resource_count(tenant, types).await?;
    let params = serde_json::to_value(Params {
        types: types.to_vec(),
        params: params.to_vec(),
    })
    .map_err(|e| Error::internal(format!("reindex parameters: {e}")))?;
    let new = NewJob {
        id: &id,
        kind: KIND,
        params: &params,
        total,
    };
    let job = ReindexJob::of(app.store.create_job(tenant, new).await?)?;
    app.reindexer.wake();
    Ok(job)
}

/// `POST [base]/$reindex`: queues a job over `types` (empty: every type).
pub async fn kick_off(ctx: &RequestCtx, types: Vec<String>) -> Result<ReindexJob> {
    let (app, tenant) = (ctx.app(), ctx.tenant());
    for t in &types {
        if !fhir::is_resource_type(t) {
            return Err(Error::invalid(format!(
                "type {t:?} is not an R4 resource type"
            )));
        }
    }
    queue(app, tenant, &types, &[]).await
}

/// The resource types named by `?type=A,B` and by a Parameters body's `type` parameters.
pub fn requested_types(query: &[(String, String)], body: Option<&Value>) -> Result<Vec<String>> {
    let mut types: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "type")
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(body) = body {
        if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
            return Err(Error::invalid(
                "the body of $reindex must be a Parameters resource",
            ));
        }
        for p in body["parameter"].as_array().into_iter().flatten() {
            if p["name"] == "type" {
                let v = p
                    .get("valueCode")
                    .or_else(|| p.get("valueString"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Error::invalid("parameter `type` needs a valueCode or valueString")
                    })?;
                types.extend(v.split(',').map(|t| t.trim().to_owned()));
            }
        }
    }
    types.sort();
    types.dedup();
    Ok(types)
}

/// One job of the tenant (404 when unknown).
pub async fn status(ctx: &RequestCtx, id: &str) -> Result<ReindexJob> {
    let (app, tenant) = (ctx.app(), ctx.tenant());
    let unknown = || Error::not_found(format!("no reindex job {id:?} in this tenant"));
    // Job ids are UUIDs: anything else (a NUL character, kilobytes of text) is unknown
    // without asking the database.
    if !fhir::is_valid_id(id) {
        return Err(unknown());
    }
    match app.store.job(tenant, id).await? {
        // Another kind's job is not a `$reindex` one.
        Some(job) if job.kind == KIND => ReindexJob::of(job),
        _ => Err(unknown()),
    }
}

/// Every job of the tenant, oldest first.
pub async fn list(ctx: &RequestCtx) -> Result<Vec<ReindexJob>> {
    let (app, tenant) = (ctx.app(), ctx.tenant());
    // Loading the tenant's parameters queues the job a changed definition needs (404 for an
    // unknown tenant).
    app.conformance(tenant).await?;
    jobs(app, tenant, false).await
}

/// The jobs as one `Parameters` resource: a `job` parameter per job, whose parts are those
/// of [`job_parameters`].
pub fn jobs_parameters(jobs: &[ReindexJob]) -> Value {
    let params: Vec<Value> = jobs
        .iter()
        .map(|j| json!({"name": "job", "part": job_parameters(j)["parameter"].clone()}))
        .collect();
    json!({"resourceType": "Parameters", "parameter": params})
}

/// `DELETE` of a job's status URL: cancels it (a job that has ended is left as it is).
pub async fn cancel(ctx: &RequestCtx, id: &str) -> Result<ReindexJob> {
    let (app, tenant) = (ctx.app(), ctx.tenant());
    let job = status(ctx, id).await?;
    if job.state.is_unfinished() {
        app.store.cancel_job(tenant, id).await?;
        app.conformance.invalidate(tenant);
    }
    status(ctx, id).await
}

/// The job as a `Parameters` resource: `jobId`, `status`, `total`, `processed`, and each
/// `resourceType` and `searchParameter` it covers, plus `error` for a failed one.
pub fn job_parameters(job: &ReindexJob) -> Value {
    let int = |n: u64| {
        i64::try_from(n)
            .unwrap_or(i64::MAX)
            .min(i64::from(i32::MAX))
    };
    let total = job.total.max(job.done);
    let done = if job.state == JobState::Completed {
        total
    } else {
        job.done
    };
    let mut params = vec![
        json!({"name": "jobId", "valueString": job.id}),
        json!({"name": "status", "valueCode": job.state.as_str()}),
        json!({"name": "total", "valueInteger": int(total)}),
        json!({"name": "processed", "valueInteger": int(done)}),
    ];
    for t in &job.types {
        params.push(json!({"name": "resourceType", "valueCode": t}));
    }
    for p in &job.params {
        params.push(json!({"name": "searchParameter", "valueUri": p}));
    }
    if let Some(e) = &job.error {
        params.push(json!({"name": "error", "valueString": e}));
    }
    json!({"resourceType": "Parameters", "parameter": params})
}

/// The `X-Progress` text of a job (<https://hl7.org/fhir/R4/async.html>).
pub fn progress_text(job: &ReindexJob) -> String {
    format!(
        "{}: {} of {} resources reindexed",
        job.state.as_str(),
        job.done,
        job.total.max(job.done)
    )
}
