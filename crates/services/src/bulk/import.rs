//! `$import` in the Bulk Data "ping and pull" style
//! (<https://github.com/smart-on-fhir/bulk-import/blob/master/import-pnp.md>): `POST
//! [base]/$import` with a `Parameters` body naming NDJSON inputs (`inputFormat`, `inputSource`,
//! and `input` parts of `type` and `url`); the server fetches them and loads them through the
//! same code as `fhirdir import` ([`ingest::import_files`]: its checks, batches and speed; a
//! resource equal to the current version adds none). Status and cancel work as for export,
//! at `[base]/$import/{job}`.
//!
//! Where inputs may come from: an `http(s)` URL under the outbound rules every fetch of this
//! server follows ([`outbound`]: no loopback, private or link-local address, and https,
//! unless `--outbound-allow` names the host), or a file under the folder `--import-dir`
//! names (a relative path or `file://` URL; nothing outside it, and no files at all without
//! it). An input of more than [`MAX_INPUT_BYTES`] is refused.
//!
//! Who may import: writes of every type, so a token whose scopes grant create and update of
//! `*` (403 otherwise; 401 without a token), and, because an import may overwrite resources
//! a client cannot see, one that sees restricted content. Bad resources are skipped and listed
//! in the completion manifest's `error` (the first [`MAX_PROBLEMS`] of each input).
//!
//! The job fetches one input per step into its folder, then imports one input per step, so a
//! restarted server resumes at the input where it stopped (importing it again adds nothing).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{Job, JobState, NewJob, TenantName};

use super::files;
use super::job::Owner;
use super::request::NDJSON_FORMATS;
use super::{Accepted, ExportStatus};
use crate::auth::access::{Interaction, ALL_TYPES};
use crate::ctx::{Principal, RequestCtx};
use crate::error::{Error, Result};
use crate::jobs::{BoxFuture, JobKind, Step};
use crate::App;

/// The kind of import jobs in the job queue.
pub const KIND: &str = "import";

/// Largest input fetched over http(s), in bytes.
pub const MAX_INPUT_BYTES: usize = 512 * 1024 * 1024;

/// Bad resources listed per input.
pub const MAX_PROBLEMS: usize = 100;

/// How long one input's fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// One input of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    #[serde(rename = "type")]
    pub rtype: String,
    /// As the client gave it.
    pub url: String,
}

/// An import job's `params` in the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Params {
    request: String,
    transaction_time: i64,
    inputs: Vec<Input>,
    owner: Owner,
}

/// What importing one input did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Outcome {
    created: u64,
    updated: u64,
    unchanged: u64,
    skipped: u64,
    problems: Vec<String>,
}

/// An import job's `cursor` in the queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// Inputs fetched into the job's folder.
    fetched: usize,
    /// Inputs imported, with what each did.
    results: Vec<Outcome>,
}

/// Where an input is read from.
enum Source {
    Http(String),
    File(PathBuf),
}

/// `POST [base]/$import`.
pub async fn kick_off(ctx: &RequestCtx, body: &Value, request_url: String) -> Result<Accepted> {
    let owner = importer(ctx)?;
    let inputs = parse(body)?;
    for input in &inputs {
        source(ctx.app(), &input.url)?;
    }
    let params = Params {
        request: request_url,
        transaction_time: Utc::now().timestamp_micros(),
        inputs,
        owner,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let value = serde_json::to_value(&params)
        .map_err(|e| Error::internal(format!("import parameters: {e}")))?;
    let app = ctx.app();
    app.store
        .create_job(
            ctx.tenant(),
            NewJob {
                id: &id,
                kind: KIND,
                params: &value,
                total: params.inputs.len() as u64,
            },
        )
        .await?;
    app.jobs.wake();
    Ok(Accepted {
        status_url: format!("{}/$import/{id}", ctx.base()),
        outcome: fhir::OperationOutcome::information(format!(
            "import {id} queued: {} inputs",
            params.inputs.len()
        ))
        .to_json(),
        id,
    })
}

/// The caller as an importer (see the module documentation).
fn importer(ctx: &RequestCtx) -> Result<Owner> {
    let owner = super::owner(ctx)?;
    ctx.authorize(ALL_TYPES, Interaction::Create)?;
    ctx.authorize(ALL_TYPES, Interaction::Update)?;
    if let Principal::Client(c) = ctx.principal() {
        if ctx.policy().enforced && !c.see_restricted {
            return Err(Error::forbidden(
                "$import may overwrite restricted content, so it is open only to clients the \
                 operator lets see restricted content",
            ));
        }
    }
    Ok(owner)
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg)
}

/// The inputs of a ping-and-pull `Parameters` body.
fn parse(body: &Value) -> Result<Vec<Input>> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(bad("the $import body must be a Parameters resource"));
    }
    let params = body
        .get("parameter")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Parameters.parameter must be an array"))?;
    let text = |p: &Value| -> Option<String> {
        p.as_object()?
            .iter()
            .find(|(k, _)| k.starts_with("value"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    let mut inputs = Vec::new();
    for p in params {
        match p.get("name").and_then(Value::as_str) {
            Some("inputFormat") => {
                let f = text(p).unwrap_or_default();
                if !NDJSON_FORMATS.contains(&f.as_str()) {
                    return Err(Error::bad_request(
                        fhir::IssueType::NotSupported,
                        format!("inputFormat {f:?} is not supported: use application/fhir+ndjson"),
                    ));
                }
            }
            Some("inputSource" | "storageDetail" | "mode") => {}
            Some("input") => {
                let parts = p.get("part").and_then(Value::as_array);
                let part = |name: &str| {
                    parts
                        .into_iter()
                        .flatten()
                        .find(|q| q.get("name").and_then(Value::as_str) == Some(name))
                        .and_then(text)
                };
                let (Some(rtype), Some(url)) = (part("type"), part("url")) else {
                    return Err(bad("each input needs a type and a url part"));
                };
                if !fhir::is_resource_type(&rtype) {
                    return Err(bad(format!(
                        "input type {rtype:?} is not a FHIR R4 resource type"
                    )));
                }
                inputs.push(Input { rtype, url });
            }
            Some(other) => {
                return Err(Error::bad_request(
                    fhir::IssueType::NotSupported,
                    format!("{other} is not a parameter of $import"),
                ))
            }
            None => return Err(bad("a parameter has no name")),
        }
    }
    if inputs.is_empty() {
        return Err(bad("$import needs at least one input"));
    }
    Ok(inputs)
}

/// Where `url` is read from, or the 400 saying why it may not be.
fn source(app: &App, url: &str) -> Result<Source> {
    if url.starts_with("http://") || url.starts_with("https://") {
        app.outbound
            .check_url(url)
            .map_err(|e| bad(format!("input {url}: this server may not fetch it ({e})")))?;
        return Ok(Source::Http(url.to_owned()));
    }
    let Some(root) = &app.settings.import_dir else {
        return Err(bad(format!(
            "input {url}: only http(s) URLs are accepted (files need the server's --import-dir)"
        )));
    };
    let relative = url.strip_prefix("file://").unwrap_or(url);
    let root = root
        .canonicalize()
        .map_err(|e| Error::internal(format!("--import-dir: {e}")))?;
    let path = root.join(relative.trim_start_matches('/'));
    let path = path.canonicalize().unwrap_or(path);
    let named = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !path.starts_with(&root) || !path.is_file() || ingest::reader::Format::of(&path).is_none() {
        return Err(bad(format!(
            "input {url}: not an .ndjson or .ndjson.gz file under the import folder ({named:?})"
        )));
    }
    Ok(Source::File(path))
}

/// The local file of input `i`.
fn input_file(dir: &Path, i: usize, url: &str) -> PathBuf {
    let gz = if url.ends_with(".gz") { ".gz" } else { "" };
    dir.join(format!("input-{i}.ndjson{gz}"))
}

/// The import job kind.
#[derive(Debug, Default)]
pub struct Import;

impl JobKind for Import {
    fn name(&self) -> &'static str {
        KIND
    }

    fn step<'a>(
        &'a self,
        app: &'a App,
        tenant: &'a TenantName,
        job: &'a Job,
        _batch: u32,
    ) -> BoxFuture<'a, Result<Step>> {
        Box::pin(step(app, tenant, job))
    }
}

fn params_of(job: &Job) -> Result<Params> {
    serde_json::from_value(job.params.clone())
        .map_err(|e| Error::internal(format!("import job {}: parameters: {e}", job.id)))
}

fn cursor_of(job: &Job) -> Result<Cursor> {
    match &job.cursor {
        None => Ok(Cursor::default()),
        Some(c) => serde_json::from_value(c.clone())
            .map_err(|e| Error::internal(format!("import job {}: cursor: {e}", job.id))),
    }
}

async fn step(app: &App, tenant: &TenantName, job: &Job) -> Result<Step> {
    let params = params_of(job)?;
    let mut cursor = cursor_of(job)?;
    let dir = files::job_dir(&app.settings.export.dir, tenant.as_str(), &job.id);
    let n = params.inputs.len();
    if cursor.results.len() >= n {
        return Ok(Step::Finished);
    }
    if cursor.fetched < n {
        let i = cursor.fetched;
        let input = &params.inputs[i];
        if let Source::Http(url) = source(app, &input.url)? {
            let body = fetch(app, &url).await?;
            let path = input_file(&dir, i, &url);
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&path, &body)?;
                std::fs::File::open(&path)?.sync_all()
            })
            .await
            .map_err(|e| Error::internal(format!("import writer: {e}")))?
            .map_err(|e| Error::internal(format!("saving an import input: {e}")))?;
        }
        cursor.fetched += 1;
    } else {
        let i = cursor.results.len();
        let input = &params.inputs[i];
        let path = match source(app, &input.url)? {
            Source::Http(url) => input_file(&dir, i, &url),
            Source::File(path) => path,
        };
        cursor
            .results
            .push(import_one(app, tenant, &path, &input.url).await?);
    }
    let done = cursor
        .results
        .iter()
        .map(|r| r.created + r.updated + r.unchanged)
        .sum();
    Ok(Step::Progress {
        done,
        cursor: serde_json::to_value(&cursor)
            .map_err(|e| Error::internal(format!("import cursor: {e}")))?,
    })
}

/// Fetches one input (a failed fetch fails the job; the cause is in the server log).
async fn fetch(app: &App, url: &str) -> Result<Vec<u8>> {
    let answer = app
        .outbound
        .send(outbound::Request {
            method: outbound::Method::GET,
            url,
            headers: &[("Accept".into(), "application/fhir+ndjson".into())],
            body: None,
            timeout: FETCH_TIMEOUT,
            max_bytes: MAX_INPUT_BYTES,
        })
        .await
        .map_err(|e| Error::bad_gateway(format!("fetching {url}: {e}")))?;
    if answer.status != 200 {
        return Err(Error::bad_gateway(format!(
            "fetching {url}: status {}",
            answer.status
        )));
    }
    Ok(answer.body.to_vec())
}

/// Imports one input's file as `fhirdir import` would, bad resources skipped and listed.
async fn import_one(app: &App, tenant: &TenantName, path: &Path, url: &str) -> Result<Outcome> {
    let conf = app.conformance(tenant).await?;
    let opts = ingest::ImportOptions {
        registry: Some(conf.registry.clone()),
        on_error: ingest::OnError::Skip,
        // Searches keep running while a server imports: keep the indexes.
        defer_indexes: false,
        // A client's import is an API write: the tenant's validation applies.
        validate: {
            let active = crate::validation::active(app, tenant).await?;
            (active.mode == crate::validation::Mode::Enforce).then_some(active.policy)
        },
        ..ingest::ImportOptions::default()
    };
    let mut problems = Vec::new();
    let stats = ingest::import_files(&app.store, tenant, &[path.to_owned()], &opts, |e| {
        if let ingest::Event::Skipped(p) = e {
            if problems.len() < MAX_PROBLEMS {
                // The input's URL, not this server's copy of it.
                problems.push(format!("{url} line {}: {}", p.line, p.message));
            }
        }
    })
    .await
    .map_err(|e| match e {
        ingest::ImportError::Store(e) => Error::from(e),
        other => Error::internal(format!("import of {url}: {other}")),
    })?;
    Ok(Outcome {
        created: stats.created,
        updated: stats.updated,
        unchanged: stats.unchanged,
        skipped: stats.skipped,
        problems,
    })
}

/// `GET [base]/$import/{job}`.
pub async fn status(ctx: &RequestCtx, id: &str) -> Result<ExportStatus> {
    let job = super::owned(ctx, id, KIND).await?;
    let params = params_of(&job)?;
    let cursor = cursor_of(&job)?;
    match job.state {
        JobState::Queued | JobState::Running => Ok(ExportStatus::Running {
            progress: format!(
                "{} of {} inputs fetched, {} imported ({} resources)",
                cursor.fetched,
                params.inputs.len(),
                cursor.results.len(),
                job.done
            ),
        }),
        JobState::Completed => {
            let finished = DateTime::from_timestamp_micros(job.updated_at).unwrap_or_default();
            let keep = chrono::Duration::from_std(ctx.app().settings.export.keep)
                .unwrap_or(chrono::Duration::days(1));
            Ok(ExportStatus::Complete {
                manifest: manifest(&params, &cursor),
                expires: finished + keep,
            })
        }
        JobState::Failed => Err(Error::internal(format!(
            "import {id} failed: {}",
            job.error.as_deref().unwrap_or("no cause recorded")
        ))),
        JobState::Cancelled => Err(Error::not_found(format!("import {id} was cancelled"))),
    }
}

/// The completion manifest: per input, what was written, and the bad resources skipped.
fn manifest(params: &Params, cursor: &Cursor) -> Value {
    let at = DateTime::from_timestamp_micros(params.transaction_time).unwrap_or_default();
    let pairs = params.inputs.iter().zip(&cursor.results);
    let output: Vec<Value> = pairs
        .clone()
        .map(|(input, r)| {
            json!({"type": input.rtype, "inputUrl": input.url,
                   "count": r.created + r.updated + r.unchanged,
                   "created": r.created, "updated": r.updated, "unchanged": r.unchanged})
        })
        .filter(|o| o["count"] != 0)
        .collect();
    let error: Vec<Value> = pairs
        .filter(|(_, r)| r.skipped > 0)
        .map(|(input, r)| {
            let issues: Vec<Value> = r
                .problems
                .iter()
                .map(|p| json!({"severity": "error", "code": "invalid", "diagnostics": p}))
                .collect();
            json!({"type": "OperationOutcome", "inputUrl": input.url, "count": r.skipped,
                   "outcome": {"resourceType": "OperationOutcome", "issue": issues}})
        })
        .collect();
    json!({
        "transactionTime": fhir::meta::format_instant(at),
        "request": params.request,
        "requiresAccessToken": params.owner.client_id.is_some(),
        "output": output,
        "error": error,
    })
}

/// `DELETE [base]/$import/{job}`: stops the job and removes it with its fetched inputs (what
/// was imported stays).
pub async fn cancel(ctx: &RequestCtx, id: &str) -> Result<()> {
    super::remove(ctx, id, KIND).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(rtype: &str, url: &str) -> Value {
        json!({"name": "input", "part": [
            {"name": "type", "valueCode": rtype}, {"name": "url", "valueUrl": url}]})
    }

    #[test]
    fn inputs_are_read_and_bad_bodies_refused() {
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
            {"name": "inputSource", "valueUri": "https://src.example"},
            input("Practitioner", "https://src.example/p.ndjson")]});
        assert_eq!(
            parse(&body).unwrap(),
            [Input {
                rtype: "Practitioner".into(),
                url: "https://src.example/p.ndjson".into()
            }]
        );
        for bad in [
            json!({"resourceType": "Bundle"}),
            json!({"resourceType": "Parameters", "parameter": []}),
            json!({"resourceType": "Parameters", "parameter": [input("Doctor", "https://x/y")]}),
            json!({"resourceType": "Parameters", "parameter": [
                {"name": "inputFormat", "valueCode": "text/csv"}, input("Practitioner", "https://x/y")]}),
            json!({"resourceType": "Parameters", "parameter": [{"name": "input", "part": []}]}),
        ] {
            assert_eq!(parse(&bad).unwrap_err().status(), 400, "{bad}");
        }
    }
}
