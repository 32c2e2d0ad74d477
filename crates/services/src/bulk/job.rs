//! The export job kind: what a queued `$export` remembers ([`Params`], fixed at kick-off),
//! where it is ([`Cursor`], recorded after every step), and the step that walks the
//! tenant's resources a page at a time into the job's files.
//!
//! The job walks its *parts* in order: each type's live resources, then (for a `_since`
//! export) each type's deletions. A step reads pages of the current part from the key after
//! the last one recorded ([`store::Store::export_page`]), appends their lines, syncs the
//! files and answers the new cursor; the runner records it, which is the commit point (see
//! `super::files`). The last step marks the cursor complete, and the step after that ends
//! the job, so a completed job's cursor always lists every file.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use search::{SearchLimits, SearchQuery};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{ExportWindow, Job, Scope, TenantName};

use super::files::{self, Appender, OutputFile, Section};
use super::group::{self, GroupPlan};
use crate::error::{Error, Result};
use crate::jobs::{BoxFuture, JobKind, Step};
use crate::App;

/// The kind of export jobs in the job queue.
pub const KIND: &str = "export";

/// Rows read per step for each item of the runner's batch (`Jobs::set_batch`, 500 by
/// default): a page of an export costs far less than a resource of a reindex, and each
/// recorded step is a write, so steps are larger.
const ROWS_PER_BATCH_ITEM: usize = 50;

/// Rows per database page within a step.
const PAGE: usize = 5000;

/// Ids per `_typeFilter` search (the search engine's limit of values in one parameter).
const FILTER_IDS: usize = 100;

/// Who started the export, as the job reads for them: the same view of restricted content
/// as their searches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The client; `None`: an anonymous caller (`--auth off`) or fhirdir itself.
    pub client_id: Option<String>,
    pub organization: Option<String>,
    pub purpose_of_use: Vec<String>,
    pub see_restricted: bool,
    /// fhirdir itself (tests, the CLI): sees everything.
    pub system: bool,
}

impl Owner {
    fn viewer<'a>(&'a self, tenant_base: &'a str) -> restrict::Viewer<'a> {
        if self.system {
            restrict::Viewer::System
        } else if self.client_id.is_some() {
            restrict::Viewer::Client {
                organization: self.organization.as_deref(),
                purpose_of_use: &self.purpose_of_use,
                see_restricted: self.see_restricted,
                tenant_base,
            }
        } else {
            restrict::Viewer::Anonymous
        }
    }
}

/// An export job's `params` in the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// The kick-off request's URL (the manifest's `request`).
    pub request: String,
    /// Epoch microseconds (the manifest's `transactionTime`).
    pub transaction_time: i64,
    /// The types walked, in order.
    pub types: Vec<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// `_typeFilter`, per type.
    pub type_filters: BTreeMap<String, Vec<Vec<(String, String)>>>,
    /// `_elements`, as the request gave them.
    pub elements: Vec<String>,
    /// What `Prefer: handling=lenient` ignored: written as the `error` file.
    pub ignored: Vec<String>,
    pub owner: Owner,
    /// The manifest's `requiresAccessToken`: the files are served to the owner's token only.
    pub requires_token: bool,
    /// A Group export: the Group and the members whose data is exported.
    #[serde(default)]
    pub group: Option<GroupPlan>,
    /// A `_since` export: the resources whose write committed after `since` although their
    /// `lastUpdated` is not (see `store::Store::late_changes`).
    #[serde(default)]
    pub late: Vec<(String, String)>,
    /// `includeAssociatedData=LatestProvenanceResources`: after the other parts, the latest
    /// Provenance of each exported resource.
    #[serde(default)]
    pub latest_provenance: bool,
}

impl Params {
    pub fn of(job: &Job) -> Result<Params> {
        serde_json::from_value(job.params.clone())
            .map_err(|e| Error::internal(format!("export job {}: parameters: {e}", job.id)))
    }

    /// The parts the job walks, in order: each type's resources, then its deletions.
    fn parts(&self) -> Vec<(&str, Section)> {
        let mut parts: Vec<(&str, Section)> = self
            .types
            .iter()
            .map(|t| (t.as_str(), Section::Output))
            .collect();
        if self.since.is_some() {
            parts.extend(self.types.iter().map(|t| (t.as_str(), Section::Deleted)));
        }
        parts
    }

    pub(super) fn elements_of(&self, rtype: &str) -> Vec<String> {
        super::request::ExportRequest {
            elements: self.elements.clone(),
            ..Default::default()
        }
        .elements_of(rtype)
    }
}

/// An export job's `cursor` in the queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The part being walked (an index into [`Params::parts`]).
    pub part: usize,
    /// The last id done in that part.
    pub after: Option<String>,
    /// Every file written, with its recorded length.
    pub files: Vec<OutputFile>,
    /// Every part is done: the next step ends the job.
    pub complete: bool,
    /// A Group export's keys file is written.
    #[serde(default)]
    pub collected: bool,
}

impl Cursor {
    pub fn of(job: &Job) -> Result<Cursor> {
        match &job.cursor {
            None => Ok(Cursor::default()),
            Some(c) => serde_json::from_value(c.clone())
                .map_err(|e| Error::internal(format!("export job {}: cursor: {e}", job.id))),
        }
    }
}

/// The export job kind.
#[derive(Debug, Default)]
pub struct Export {
    /// When expired exports were last swept (epoch seconds).
    last_sweep: std::sync::atomic::AtomicI64,
}

impl JobKind for Export {
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

    /// Expired exports and the files of removed ones are swept now and then.
    fn idle<'a>(&'a self, app: &'a App) -> BoxFuture<'a, ()> {
        Box::pin(super::sweep::maybe_sweep(app, &self.last_sweep))
    }
}

async fn step(app: &App, tenant: &TenantName, job: &Job, batch: u32) -> Result<Step> {
    let params = Params::of(job)?;
    let mut cursor = Cursor::of(job)?;
    if cursor.complete {
        return Ok(Step::Finished);
    }
    let base = app.tenant_base(tenant);
    let scope = Scope::viewing(tenant, params.owner.viewer(&base));
    let window = ExportWindow {
        since: params.since,
        until: params.until,
    };
    let budget = (batch as usize).max(1) * ROWS_PER_BATCH_ITEM;
    if let Some(plan) = &params.group {
        return group_step(app, scope, job, &params, plan, cursor, budget).await;
    }
    let parts = params.parts();
    let Cursor {
        part, after, files, ..
    } = &mut cursor;
    let dir = files::job_dir(&app.settings.export.dir, tenant.as_str(), &job.id);
    let mut out = Appender::new(files, app.settings.export.file_bytes, dir.clone());
    if job.cursor.is_none() {
        for why in &params.ignored {
            let oo = fhir::OperationOutcome::information(format!("ignored: {why}"));
            out.line(
                Section::Error,
                "OperationOutcome",
                oo.to_json().to_string().as_bytes(),
            );
        }
    }
    let mut scanned = 0;
    while scanned < budget && *part < parts.len() {
        let (rtype, section) = parts[*part];
        let limit = PAGE.min(budget - scanned);
        scanned += limit;
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let last = match section {
            // Whole resources of a type without filters: the page comes joined.
            Section::Output
                if !params.type_filters.contains_key(rtype) && params.elements.is_empty() =>
            {
                let chunk = app
                    .store
                    .export_chunk(scope, rtype, after.as_deref(), window, limit)
                    .await?;
                out.block(Section::Output, rtype, chunk.text.into_bytes(), chunk.count);
                for (_, body) in chunk.rows {
                    out.line(Section::Output, rtype, body.as_bytes());
                }
                out.spill().await?;
                chunk.last
            }
            Section::Output => {
                let page = app
                    .store
                    .export_page(scope, rtype, after.as_deref(), window, limit)
                    .await?;
                let rows = filtered(app, scope, &params, rtype, page.rows).await?;
                let elements = params.elements_of(rtype);
                for (_, body) in rows {
                    let line = subset(body, &elements)?;
                    out.line(Section::Output, rtype, line.as_bytes());
                }
                out.spill().await?;
                page.last
            }
            Section::Deleted | Section::Error => {
                let (ids, last) = app
                    .store
                    .deleted_page(scope, rtype, after.as_deref(), window, limit)
                    .await?;
                for id in ids {
                    out.line(Section::Deleted, "Bundle", deletion(rtype, &id).as_bytes());
                }
                last
            }
        };
        match last {
            Some(id) => *after = Some(id),
            None => {
                *part += 1;
                *after = None;
            }
        }
    }
    // After the walks: the late writes of a `_since` export, then associated Provenance.
    let extras = [params.since.is_some(), params.latest_provenance];
    while scanned < budget && *part >= parts.len() && *part < parts.len() + extras.len() {
        let extra = *part - parts.len();
        if extras[extra] && extra == 0 {
            late(app, scope, &params, &mut out).await?;
        } else if extras[extra] {
            for line in super::provenance::latest(app, scope, &params).await? {
                out.line(Section::Output, "Provenance", line.as_bytes());
            }
        }
        *part += 1;
    }
    out.flush().await?;
    cursor.complete = cursor.part >= parts.len() + extras.len();
    if cursor.complete {
        files::sync_all(dir, &cursor.files).await?;
    }
    progress(&cursor)
}

/// A `_since` export's late writes (see [`Params::late`]) of its types: the live ones and the
/// deletions whose `lastUpdated` is at or before `since` (the walks wrote the others).
async fn late(app: &App, scope: Scope<'_>, params: &Params, out: &mut Appender<'_>) -> Result<()> {
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (t, id) in &params.late {
        if params.types.contains(t) {
            by_type.entry(t.as_str()).or_default().push(id.as_str());
        }
    }
    let window = ExportWindow {
        since: None,
        until: params.since,
    };
    for (rtype, ids) in by_type {
        let rows = app.store.export_by_ids(scope, rtype, &ids, window).await?;
        let elements = params.elements_of(rtype);
        for (_, body) in filtered(app, scope, params, rtype, rows).await? {
            out.line(Section::Output, rtype, subset(body, &elements)?.as_bytes());
        }
        for id in app.store.deleted_among(scope, rtype, &ids, window).await? {
            out.line(Section::Deleted, "Bundle", deletion(rtype, &id).as_bytes());
        }
    }
    Ok(())
}

/// One line of a `deleted` file: a transaction Bundle of one DELETE entry (export.html).
fn deletion(rtype: &str, id: &str) -> String {
    json!({"resourceType": "Bundle", "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": format!("{rtype}/{id}")}}]})
    .to_string()
}

/// The step's answer: resources written so far, and the cursor.
fn progress(cursor: &Cursor) -> Result<Step> {
    let done = cursor
        .files
        .iter()
        .filter(|f| f.section == Section::Output)
        .map(|f| f.count)
        .sum();
    Ok(Step::Progress {
        done,
        cursor: serde_json::to_value(cursor)
            .map_err(|e| Error::internal(format!("export cursor: {e}")))?,
    })
}

/// A step of a Group export (`super::group`): the first collects the keys; the others walk
/// them a type at a time (parts are the types of the keys file, in name order).
async fn group_step(
    app: &App,
    scope: Scope<'_>,
    job: &Job,
    params: &Params,
    plan: &GroupPlan,
    mut cursor: Cursor,
    budget: usize,
) -> Result<Step> {
    let dir = files::job_dir(&app.settings.export.dir, scope.tenant().as_str(), &job.id);
    if !cursor.collected {
        let keys = group::collect(app, scope, plan, &params.types).await?;
        group::save_keys(&dir, &keys).await?;
        cursor.collected = true;
        return progress(&cursor);
    }
    let keys = group::load_keys(&dir).await?;
    let types: Vec<&String> = keys.keys().collect();
    let window = ExportWindow {
        since: params.since,
        until: params.until,
    };
    let Cursor {
        part, after, files, ..
    } = &mut cursor;
    let mut out = Appender::new(files, app.settings.export.file_bytes, dir.clone());
    let mut scanned = 0;
    while scanned < budget && *part < types.len() {
        let rtype = types[*part].as_str();
        let all = &keys[rtype];
        let take = PAGE.min(budget - scanned);
        let ids: Vec<&str> = match after.as_deref() {
            Some(a) => all
                .range::<str, _>((Bound::Excluded(a), Bound::Unbounded))
                .map(String::as_str)
                .take(take)
                .collect(),
            None => all.iter().map(String::as_str).take(take).collect(),
        };
        scanned += take;
        // The Group itself is in every export of it, whatever `_since` says.
        let (own, others): (Vec<&str>, Vec<&str>) = ids
            .iter()
            .partition(|id| rtype == "Group" && **id == plan.id);
        let mut rows = app
            .store
            .export_by_ids(scope, rtype, &own, ExportWindow::default())
            .await?;
        rows.extend(
            app.store
                .export_by_ids(scope, rtype, &others, window)
                .await?,
        );
        rows.sort();
        let rows = filtered(app, scope, params, rtype, rows).await?;
        let elements = params.elements_of(rtype);
        for (_, body) in rows {
            let line = subset(body, &elements)?;
            out.line(Section::Output, rtype, line.as_bytes());
        }
        let last = ids.last().map(|l| (*l).to_owned());
        let more = last.as_deref().is_some_and(|l| {
            all.range::<str, _>((Bound::Excluded(l), Bound::Unbounded))
                .next()
                .is_some()
        });
        if more {
            *after = last;
        } else {
            *part += 1;
            *after = None;
        }
    }
    out.flush().await?;
    cursor.complete = cursor.part >= types.len();
    if cursor.complete {
        files::sync_all(dir, &cursor.files).await?;
    }
    progress(&cursor)
}

/// `_elements` applied to one resource (tagged SUBSETTED); unchanged without any.
pub(super) fn subset(body: String, elements: &[String]) -> Result<String> {
    if elements.is_empty() {
        return Ok(body);
    }
    let mut value: serde_json::Map<String, Value> = serde_json::from_str(&body)
        .map_err(|e| Error::internal(format!("stored resource is not JSON: {e}")))?;
    fhir::shape::select_elements(&mut value, elements);
    Ok(Value::Object(value).to_string())
}

/// The rows of a page that match one of the type's `_typeFilter` searches (all of them when
/// it has none). Each search runs on the page's ids only (`_id=...`), so an OR of several
/// filters keeps the walk's id order and resumes with it.
pub(super) async fn filtered(
    app: &App,
    scope: Scope<'_>,
    params: &Params,
    rtype: &str,
    rows: Vec<(String, String)>,
) -> Result<Vec<(String, String)>> {
    let Some(filters) = params.type_filters.get(rtype) else {
        return Ok(rows);
    };
    if rows.is_empty() {
        return Ok(rows);
    }
    let conf = app.conformance(scope.tenant()).await?;
    let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    let mut matched: HashSet<String> = HashSet::new();
    for chunk in ids.chunks(FILTER_IDS) {
        let n = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        let limits = SearchLimits {
            default_count: n,
            max_count: n,
        };
        for filter in filters {
            let mut pairs = filter.clone();
            pairs.push(("_id".into(), chunk.join(",")));
            pairs.push(("_count".into(), n.to_string()));
            let query = SearchQuery::parse_with_limits(rtype, &pairs, &conf.registry, limits)
                .map_err(Error::from)?;
            let page = app
                .store
                .search(scope, &query, &conf.registry, None)
                .await?;
            matched.extend(page.matches.into_iter().map(|r| r.id));
        }
    }
    Ok(rows
        .into_iter()
        .filter(|(id, _)| matched.contains(id))
        .collect())
}
