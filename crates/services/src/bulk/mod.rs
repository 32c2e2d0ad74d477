//! Bulk Data 2.0 export (<https://hl7.org/fhir/uv/bulkdata/STU2/export.html>): kick-off at
//! `[base]/$export` and `[base]/[type]/$export`, a status URL, a manifest, NDJSON files.
//!
//! - **Kick-off** ([`kick_off`]) checks the request (`request`), resolves the types the
//!   caller may read, and queues a durable job ([`job::Export`]) for the jobs runner: `202`
//!   with the status URL. `Prefer: respond-async` is what the specification asks clients to
//!   send; a kick-off without it is processed the same way (the specification allows either),
//!   and the 202's OperationOutcome says so.
//! - **Status** ([`status`]): the job while it runs ([`ExportStatus::Running`]), its
//!   manifest once complete, or the failure.
//! - **Files** ([`file`]) are served once the job is complete, to whoever may see its status.
//! - **Cancel** ([`cancel`]): a running job stops at its next step; the job and its files are
//!   removed at once (then its status is 404).
//!
//! Who may do what: with authorization enforced, only a client with a token (401 for
//! anonymous callers, whatever the tenant allows anonymous searches to do), reading only types
//! its scopes grant (a `_type` outside them is 403; without `_type`, the types it may read);
//! a job, its status and files are its own (another client gets the 404 of an unknown job).
//! The job reads as its owner would search: restricted content is left out or redacted the
//! same way. A client has at most `--export-max-jobs` unfinished exports; one more is 429.
//!
//! Consistency: `transactionTime` is a mark in the tenant's changes
//! ([`store::Store::change_mark`]): every write committed before it is in the export (the
//! walk starts after it), and every write committed after it is in the next
//! `_since=transactionTime` export. A resource written while the job runs appears at the
//! version the walk finds, possibly newer than `transactionTime`. `_since` selects by
//! `lastUpdated`, plus the resources whose write was still in flight at that instant
//! ([`store::Store::late_changes`]: its `lastUpdated`, taken when it began, is earlier than
//! its commit), so an incremental client loses nothing between two exports.

mod files;
mod group;
pub mod import;
mod job;
mod provenance;
mod request;
mod sweep;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use store::{JobState, NewJob};

pub use files::{is_file_name, OutputFile, Section};
pub use import::Import;
pub use job::{Export, Owner, KIND};
pub use request::{parameters_pairs, ExportRequest, Operation, EXPORT_TYPES, NDJSON_FORMATS};

use crate::auth::access::Interaction;
use crate::ctx::{Principal, RequestCtx};
use crate::error::{Error, Result};
use crate::request::Prefer;

/// Where the kick-off was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// `[base]/$export`
    System,
    /// `[base]/[type]/$export`
    Type(String),
    /// `[base]/Group/[id]/$export`, or `$davinci-data-export` when `davinci`.
    Group { id: String, davinci: bool },
}

impl Level {
    fn operation(&self) -> Operation {
        match self {
            Level::System | Level::Type(_) => Operation::Export,
            Level::Group { davinci: false, .. } => Operation::GroupExport,
            Level::Group { davinci: true, .. } => Operation::DavinciExport,
        }
    }
}

/// What a kick-off answers: the job and the status URL.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: String,
    pub status_url: String,
    /// The 202's OperationOutcome.
    pub outcome: Value,
}

/// What a status request answers.
#[derive(Debug, Clone)]
pub enum ExportStatus {
    /// Queued or running: resources written so far, and what it is doing.
    Running { progress: String },
    /// Complete: the manifest and when its files expire.
    Complete {
        manifest: Value,
        expires: DateTime<Utc>,
    },
}

/// Bulk export's settings ([`crate::Settings::export`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// Where exports write their files (`--export-dir`); every process serving the same
    /// database must see the same folder.
    pub dir: std::path::PathBuf,
    /// Unfinished exports one client may have at once (`--export-max-jobs`).
    pub max_jobs: usize,
    /// Size at which a file is split (`--export-file-size`).
    pub file_bytes: u64,
    /// How long a finished export's files are kept (`--export-keep`).
    pub keep: std::time::Duration,
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            dir: "fhirdir-exports".into(),
            max_jobs: 2,
            file_bytes: 256 * 1024 * 1024,
            keep: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

/// How long a suggested `Retry-After` is while a job runs (seconds).
pub const RETRY_AFTER_SECS: u64 = 1;

/// The status URL of export `id` of the tenant at `tenant_base`.
fn status_url(tenant_base: &str, id: &str) -> String {
    format!("{tenant_base}/$export/{id}")
}

/// `[base]/$export` and `[base]/[type]/$export`. `pairs`: the query string, or a POST's
/// Parameters as pairs; `request_url`: the kick-off URL as the client sent it.
pub async fn kick_off(
    ctx: &RequestCtx,
    level: Level,
    pairs: &[(String, String)],
    prefer: Prefer,
    request_url: String,
) -> Result<Accepted> {
    let owner = owner(ctx)?;
    let req = request::parse(pairs, level.operation(), prefer.lenient)?;
    let group = match &level {
        Level::Group { id, .. } => Some(group_plan(ctx, id, &req).await?),
        Level::System | Level::Type(_) => None,
    };
    let types = resolve_types(ctx, &level, &req).await?;
    check_filters(ctx, &req).await?;
    if req.latest_provenance {
        if group.is_some() {
            return Err(Error::bad_request(
                fhir::IssueType::NotSupported,
                "includeAssociatedData is supported by system and type exports, not yet by \
                 Group exports",
            ));
        }
        ctx.authorize("Provenance", Interaction::Read)?;
    }
    let app = ctx.app();
    let tenant = ctx.tenant();
    let running = app
        .store
        .jobs(tenant, Some(KIND), true)
        .await?
        .iter()
        .filter(|j| job::Params::of(j).is_ok_and(|p| p.owner.client_id == owner.client_id))
        .count();
    if running >= app.settings.export.max_jobs {
        return Err(Error::new(
            http::StatusCode::TOO_MANY_REQUESTS,
            fhir::IssueType::TooCostly,
            format!(
                "this client already has {running} exports running (at most {} at once): \
                 wait for one to complete, or cancel it with DELETE on its status URL",
                app.settings.export.max_jobs
            ),
        )
        .with_header(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(RETRY_AFTER_SECS * 5),
        ));
    }
    // The mark first: every write in flight at `_since` has committed once it is taken.
    let transaction_time = app.store.change_mark(tenant).await?;
    let late = match req.since {
        Some(since) if group.is_none() => app.store.late_changes(tenant, since).await?,
        _ => Vec::new(),
    };
    let params = job::Params {
        request: request_url,
        transaction_time,
        late,
        types,
        since: req.since,
        until: req.until,
        type_filters: req.type_filters,
        elements: req.elements,
        ignored: req.ignored,
        requires_token: owner.client_id.is_some(),
        owner,
        group,
        latest_provenance: req.latest_provenance,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let value = serde_json::to_value(&params)
        .map_err(|e| Error::internal(format!("export parameters: {e}")))?;
    app.store
        .create_job(
            tenant,
            NewJob {
                id: &id,
                kind: KIND,
                params: &value,
                total: 0,
            },
        )
        .await?;
    app.jobs.wake();
    let mut said = format!("export {id} queued");
    if !prefer.respond_async {
        said.push_str(
            " (the request did not say Prefer: respond-async; bulk export always runs \
             asynchronously here)",
        );
    }
    Ok(Accepted {
        status_url: status_url(&ctx.base(), &id),
        outcome: fhir::OperationOutcome::information(said).to_json(),
        id,
    })
}

/// The job's owner as the caller: with authorization enforced, a client with a token.
fn owner(ctx: &RequestCtx) -> Result<Owner> {
    match ctx.principal() {
        Principal::Client(c) => Ok(Owner {
            client_id: Some(c.client_id.clone()),
            organization: c.organization.clone(),
            purpose_of_use: c.purpose_of_use.clone(),
            see_restricted: c.see_restricted,
            system: false,
        }),
        Principal::System => Ok(Owner {
            system: true,
            ..Owner::default()
        }),
        Principal::Anonymous if !ctx.policy().enforced => Ok(Owner::default()),
        Principal::Anonymous => Err(anonymous(ctx)),
    }
}

/// The 401 of an anonymous caller where authorization is enforced.
fn anonymous(ctx: &RequestCtx) -> Error {
    Error::unauthorized(format!(
        "bulk export needs an access token: get one from {} (SMART Backend Services, e.g. \
         scope system/*.read) and send it as Authorization: Bearer <token>",
        crate::auth::token_url(&ctx.base())
    ))
}

/// The types the job walks: `_type` (each readable, else 403), the kick-off's type, or every
/// type the tenant holds that the caller may read.
async fn resolve_types(
    ctx: &RequestCtx,
    level: &Level,
    req: &ExportRequest,
) -> Result<Vec<String>> {
    let audit = crate::audit::AUDIT_EVENT;
    let asked: Vec<String> = match level {
        Level::Type(t) => {
            if !req.types.is_empty() && req.types != [t.clone()] {
                return Err(Error::invalid(format!(
                    "_type on {t}/$export may only name {t}; use [base]/$export for other types"
                )));
            }
            vec![t.clone()]
        }
        Level::System | Level::Group { .. } => req.types.clone(),
    };
    if asked.iter().any(|t| t == audit) {
        return Err(Error::bad_request(
            fhir::IssueType::NotSupported,
            "AuditEvent is not exported: the audit trail is served by AuditEvent search",
        ));
    }
    if !asked.is_empty() {
        for t in &asked {
            ctx.authorize(t, Interaction::Read)?;
        }
        return Ok(asked);
    }
    // A Group export's members may bring any type; a system export walks what the tenant has.
    let candidates = match level {
        Level::Group { .. } => fhir::RESOURCE_TYPES
            .iter()
            .map(|t| (*t).to_owned())
            .collect(),
        _ => ctx.app().store.types_held(ctx.tenant()).await?,
    };
    Ok(candidates
        .into_iter()
        .filter(|t| t != audit && ctx.may(t, Interaction::Read))
        .collect())
}

/// The Group to export as the caller sees it (404 when it cannot), and its members.
async fn group_plan(ctx: &RequestCtx, id: &str, req: &ExportRequest) -> Result<group::GroupPlan> {
    ctx.authorize("Group", Interaction::Read)?;
    let record = ctx
        .app()
        .store
        .read(ctx.scope(), "Group", id)
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(|| Error::not_found(format!("Group/{id} is not known")))?;
    let body: Value = record
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    group::plan(id, &body, &req.patients)
}

/// Each `_typeFilter` must be a search this server runs, on types the caller may search.
async fn check_filters(ctx: &RequestCtx, req: &ExportRequest) -> Result<()> {
    if req.type_filters.is_empty() {
        return Ok(());
    }
    let conf = ctx.app().conformance(ctx.tenant()).await?;
    for (rtype, filters) in &req.type_filters {
        for pairs in filters {
            let query = search::SearchQuery::parse(rtype, pairs, &conf.registry)
                .map_err(|e| Error::invalid(format!("_typeFilter on {rtype}: {e}")))?;
            query.require_all_understood().map_err(|e| {
                Error::bad_request(
                    fhir::IssueType::NotSupported,
                    format!("_typeFilter on {rtype}: {e}"),
                )
            })?;
            for c in &query.criteria {
                crate::search::authorize_filter(ctx, &c.filter)?;
            }
        }
    }
    Ok(())
}

/// The job `id` of `kind` if the caller may see it: its owner's (404 otherwise, as for an
/// unknown job, so another client learns nothing); 401 for anonymous callers where
/// authorization is enforced.
async fn owned(ctx: &RequestCtx, id: &str, kind: &str) -> Result<store::Job> {
    let caller = owner(ctx)?;
    let unknown = || Error::not_found(format!("there is no {kind} {id} here"));
    let job = ctx
        .app()
        .store
        .job(ctx.tenant(), id)
        .await?
        .filter(|j| j.kind == kind)
        .ok_or_else(unknown)?;
    let owner: Owner = serde_json::from_value(job.params["owner"].clone())
        .map_err(|e| Error::internal(format!("{kind} job {id}: owner: {e}")))?;
    if !caller.system && owner.client_id != caller.client_id {
        return Err(unknown());
    }
    Ok(job)
}

/// Stops the caller's job `id` of `kind` if it runs, and removes it with its folder.
async fn remove(ctx: &RequestCtx, id: &str, kind: &str) -> Result<()> {
    let job = owned(ctx, id, kind).await?;
    let app = ctx.app();
    if job.state.is_unfinished() {
        app.store.cancel_job(ctx.tenant(), id).await?;
    }
    app.store.delete_job(ctx.tenant(), id).await?;
    files::remove_job_dir(files::job_dir(
        &app.settings.export.dir,
        ctx.tenant().as_str(),
        id,
    ))
    .await;
    Ok(())
}

/// `GET` on a status URL.
pub async fn status(ctx: &RequestCtx, id: &str) -> Result<ExportStatus> {
    let job = owned(ctx, id, KIND).await?;
    let params = job::Params::of(&job)?;
    match job.state {
        JobState::Queued | JobState::Running => {
            let cursor = job::Cursor::of(&job)?;
            let now = cursor.files.last().map_or("starting", |f| f.rtype.as_str());
            Ok(ExportStatus::Running {
                progress: format!("{} resources written ({now})", job.done),
            })
        }
        JobState::Completed => {
            let cursor = job::Cursor::of(&job)?;
            let base = ctx.base();
            let finished = DateTime::from_timestamp_micros(job.updated_at).unwrap_or_default();
            let keep = chrono::Duration::from_std(ctx.app().settings.export.keep)
                .unwrap_or(chrono::Duration::days(1));
            Ok(ExportStatus::Complete {
                manifest: manifest(&base, id, &params, &cursor.files),
                expires: finished + keep,
            })
        }
        JobState::Failed => Err(Error::internal(format!(
            "export {id} failed: {}",
            job.error.as_deref().unwrap_or("no cause recorded")
        ))),
        JobState::Cancelled => Err(Error::not_found(format!("export {id} was cancelled"))),
    }
}

/// The completion manifest (export.html "Response - Complete Status").
fn manifest(base: &str, id: &str, params: &job::Params, files: &[OutputFile]) -> Value {
    let list = |section: Section| -> Vec<Value> {
        files
            .iter()
            .filter(|f| f.section == section && f.count > 0)
            .map(|f| {
                json!({"type": f.rtype, "url": format!("{}/{}", status_url(base, id), f.name()),
                       "count": f.count})
            })
            .collect()
    };
    let at = DateTime::from_timestamp_micros(params.transaction_time).unwrap_or_default();
    let mut m = json!({
        "transactionTime": fhir::meta::format_instant(at),
        "request": params.request,
        "requiresAccessToken": params.requires_token,
        "output": list(Section::Output),
        "error": list(Section::Error),
    });
    if params.since.is_some() {
        m["deleted"] = Value::Array(list(Section::Deleted));
    }
    m
}

/// `DELETE` on a status URL: stops the job if it runs and removes it with its files.
pub async fn cancel(ctx: &RequestCtx, id: &str) -> Result<()> {
    remove(ctx, id, KIND).await
}

/// A complete export's file `name`: its path on disk and its length (the caller streams
/// that many bytes).
pub async fn file(ctx: &RequestCtx, id: &str, name: &str) -> Result<(std::path::PathBuf, u64)> {
    let job = owned(ctx, id, KIND).await?;
    let missing = || Error::not_found(format!("export {id} has no file {name}"));
    if job.state != JobState::Completed {
        return Err(Error::not_found(format!(
            "export {id} is not complete: its files are served once its status URL answers 200"
        )));
    }
    let cursor = job::Cursor::of(&job)?;
    let file = cursor
        .files
        .iter()
        .find(|f| f.name() == name && is_file_name(name))
        .ok_or_else(missing)?;
    let dir = files::job_dir(&ctx.app().settings.export.dir, ctx.tenant().as_str(), id);
    Ok((dir.join(name), file.bytes))
}
