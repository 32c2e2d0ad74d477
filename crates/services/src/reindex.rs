//! `$reindex`: durable background jobs that rebuild a tenant's search index rows with the
//! tenant's current search parameters, and their status.
//!
//! Jobs are [`Reindex`] jobs of the jobs runner ([`crate::jobs`]), kind [`KIND`] in the
//! store's job queue, queued by `POST [base]/$reindex` and whenever a tenant's search
//! parameters change ([`crate::tenant_conformance`]). Each step walks one batch of the
//! resources in key order, saves their new rows with [`store::Store::reindex_many`] and
//! answers the last key done as the job's cursor, so a restarted server resumes where it
//! stopped (once the lease of the old process, [`crate::jobs::LEASE`], expires).
//!
//! The HTTP shape follows the FHIR asynchronous request pattern
//! (<https://hl7.org/fhir/R4/async.html>): kick-off answers `202 Accepted` with
//! `Content-Location` naming the job's status URL; the status URL answers `202` with an
//! `X-Progress` header while the job is queued or running and `200` once it has ended, each
//! time with a `Parameters` resource describing the job.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{Job, JobState, NewJob, TenantName};

use crate::auth::access::{Interaction, ALL_TYPES};
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::jobs::{BoxFuture, JobKind, Step};
use crate::App;

/// The kind of `$reindex` jobs in the job queue.
pub const KIND: &str = "reindex";

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

/// The `$reindex` job kind: each step reindexes one page of the job's resources.
#[derive(Debug, Default)]
pub struct Reindex;

impl JobKind for Reindex {
    fn name(&self) -> &'static str {
        KIND
    }

    fn step<'a>(
        &'a self,
        app: &'a App,
        tenant: &'a TenantName,
        job: &'a Job,
        batch: u32,
    ) -> BoxFuture<'a, Result<Step>> {
        Box::pin(step(app, tenant, job, batch))
    }

    /// Loads every tenant's view once: a definition that changed while the server was down
    /// (e.g. in `profiles/`) queues its reindex now rather than at the tenant's next request.
    fn started<'a>(&'a self, app: &'a App) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let tenants = match app.store.list_tenants().await {
                Ok(tenants) => tenants,
                Err(e) => {
                    tracing::warn!(error = %e, "reindex: listing tenants failed");
                    return;
                }
            };
            for t in tenants {
                if let Ok(name) = TenantName::parse(&t.name) {
                    if let Err(e) = app.conformance(&name).await {
                        tracing::warn!(tenant = %name, error = %e, "loading search parameters failed");
                    }
                }
            }
        })
    }

    /// Notices SearchParameters written and reindex jobs finished by other processes.
    fn idle<'a>(&'a self, app: &'a App) -> BoxFuture<'a, ()> {
        Box::pin(app.refresh_stale_conformance())
    }

    /// Pending parameters are part of the tenant's view.
    fn stopped(&self, app: &App, tenant: &TenantName) {
        app.conformance.invalidate(tenant);
    }
}

/// One page of `job`'s resources after its cursor, reindexed.
async fn step(app: &App, tenant: &TenantName, job: &Job, batch: u32) -> Result<Step> {
    let params = Params::of(job)?;
    let after = job.cursor.as_ref().map(Cursor::of).transpose()?;
    let page = app
        .store
        .reindex_page(tenant, &params.types, after.as_ref(), batch)
        .await?;
    let Some(last) = page.last() else {
        return Ok(Step::Finished);
    };
    let cursor = Cursor::to_json(&(last.resource_type.clone(), last.id.clone()));
    let done = job.done + u64::try_from(page.len()).unwrap_or(0);
    reindex_batch(app, tenant, page).await?;
    Ok(Step::Progress { done, cursor })
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
        let mut values = Vec::with_capacity(items.len());
        for item in &items {
            let value: Value = serde_json::from_str(&item.body).map_err(|e| {
                Error::internal(format!(
                    "stored body of {}/{} is not JSON: {e}",
                    item.resource_type, item.id
                ))
            })?;
            values.push(value);
        }
        let entries: Vec<_> = values.iter().map(|v| conf.extractor.extract(v)).collect();
        let indexed: Vec<store::IndexedResource<'_>> = items
            .iter()
            .zip(&entries)
            .map(|(item, entries)| store::IndexedResource {
                resource_type: &item.resource_type,
                id: &item.id,
                entries,
                hidden: &store::NOT_HIDDEN,
            })
            .collect();
        let keys: Vec<(String, String)> = items
            .iter()
            .map(|i| (i.resource_type.clone(), i.id.clone()))
            .collect();
        restricted_params(app, tenant, &conf, &keys, &values, &entries).await?;
        app.store.reindex_many(tenant, &indexed).await?;
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

/// Before the rows of a new search parameter are saved: the parameter is recorded as fed by
/// restricted elements for every resource of the page where it is, so its rows are never
/// matched by a caller those elements are hidden from.
async fn restricted_params(
    app: &App,
    tenant: &TenantName,
    conf: &crate::tenant_conformance::TenantConformance,
    keys: &[(String, String)],
    values: &[Value],
    entries: &[Vec<search::IndexEntry>],
) -> Result<()> {
    let mut tx = app.store.begin(tenant).await?;
    let policies = tx.element_policies(keys).await?;
    if policies.is_empty() {
        return Ok(());
    }
    let at: std::collections::HashMap<(&str, &str), usize> = keys
        .iter()
        .enumerate()
        .map(|(i, (t, id))| ((t.as_str(), id.as_str()), i))
        .collect();
    let mut rows = Vec::with_capacity(policies.len());
    for (t, id, policy) in policies {
        let Some(&i) = at.get(&(t.as_str(), id.as_str())) else {
            continue;
        };
        let params = writes::restriction::restricted_params(
            &conf.extractor,
            &policy,
            &values[i],
            &entries[i],
        );
        rows.push((t, id, params));
    }
    tx.add_restricted_params(&rows).await?;
    tx.commit().await?;
    Ok(())
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
    app.jobs.wake();
    Ok(job)
}

/// `POST [base]/$reindex`: queues a job over `types` (empty: every type).
pub async fn kick_off(ctx: &RequestCtx, types: Vec<String>) -> Result<ReindexJob> {
    ctx.authorize(ALL_TYPES, Interaction::Update)?;
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
    ctx.authorize(ALL_TYPES, Interaction::Read)?;
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
    ctx.authorize(ALL_TYPES, Interaction::Read)?;
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
    ctx.authorize(ALL_TYPES, Interaction::Update)?;
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
