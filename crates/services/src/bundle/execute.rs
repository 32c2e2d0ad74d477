//! Running Bundle entries: the transaction (one store transaction, all or nothing) and the
//! batch (each entry on its own).

use std::collections::HashSet;

use base64::Engine;
use fhir::outcome::Issue;
use fhir::{BundleEntry, OperationOutcome};
use serde_json::{json, Map, Value};
use store::{
    BatchWrite, DeleteOutcome, Method, OnUnchanged, Precondition, StoreError, StoreTx,
    VersionRecord, WriteKind, WriteOutcome,
};

use super::entry::{parse_entry, Entry, EntryMethod, Target};
use super::references::{for_each_reference, is_conditional, rewrite, Identities};
use crate::conditional::Criteria;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::patch::{parameters_document, patch_in, PatchFormat};
use crate::request::{Prefer, ReturnPref};
use crate::resources;
use crate::restricted;
use crate::tenant_conformance::TenantConformance;
use crate::validation::integrity;

/// What an entry's write is checked against: the tenant's search parameters and its
/// validation setting, both loaded once per Bundle (per entry in a batch).
#[derive(Clone, Copy)]
struct Rules<'r> {
    conf: &'r TenantConformance,
    validation: &'r crate::validation::Active,
}

/// `Bundle.entry.response` (and the resource, when returned) of one entry.
#[derive(Debug, Default)]
pub struct EntryResponse {
    pub index: usize,
    pub status: String,
    pub location: Option<String>,
    pub etag: Option<i64>,
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
    pub resource: Option<String>,
    pub full_url: Option<String>,
    pub outcome: Option<Value>,
}

/// The created or updated entries among `responses`, as attestations to verify when the
/// tenant asks for it ([`crate::verify::attested`]).
async fn attested(ctx: &RequestCtx, base: &str, responses: &[EntryResponse]) {
    let written: Vec<(&str, &str)> = responses
        .iter()
        .filter(|r| r.status.starts_with("200") || r.status.starts_with("201"))
        .filter_map(|r| r.full_url.as_deref()?.strip_prefix(base))
        .filter_map(|path| path.trim_start_matches('/').split_once('/'))
        .collect();
    crate::verify::attested(ctx, &written).await;
}

impl EntryResponse {
    fn from_record(
        index: usize,
        status: &str,
        base: &str,
        r: &VersionRecord,
        with_body: bool,
    ) -> EntryResponse {
        EntryResponse {
            index,
            status: status.to_owned(),
            location: Some(format!(
                "{base}/{}/{}/_history/{}",
                r.resource_type, r.id, r.version
            )),
            etag: Some(r.version),
            last_modified: Some(r.last_updated),
            resource: if with_body { r.body.clone() } else { None },
            full_url: Some(format!("{base}/{}/{}", r.resource_type, r.id)),
            outcome: None,
        }
    }

    fn from_write(index: usize, base: &str, w: &WriteOutcome, with_body: bool) -> EntryResponse {
        let status = match w.kind {
            WriteKind::Created => "201 Created",
            WriteKind::Updated => "200 OK",
        };
        Self::from_record(index, status, base, &w.record, with_body)
    }

    /// Validation warnings about the entry's write, in `response.outcome`.
    fn warn(&mut self, issues: Vec<Issue>) {
        if !issues.is_empty() {
            self.outcome = Some(OperationOutcome { issues }.to_json());
        }
    }

    fn from_error(index: usize, e: &Error) -> EntryResponse {
        let status = e.status();
        EntryResponse {
            index,
            status: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            ),
            outcome: Some(e.outcome().to_json()),
            ..Default::default()
        }
    }

    pub fn into_bundle_entry(self) -> BundleEntry {
        let mut response = json!({ "status": self.status });
        if let Some(l) = self.location {
            response["location"] = json!(l);
        }
        if let Some(v) = self.etag {
            response["etag"] = json!(format!("W/\"{v}\""));
        }
        if let Some(t) = self.last_modified {
            response["lastModified"] = json!(fhir::meta::format_instant(t));
        }
        if let Some(o) = self.outcome {
            response["outcome"] = o;
        }
        BundleEntry {
            full_url: self.full_url,
            resource: self
                .resource
                .and_then(|b| serde_json::value::RawValue::from_string(b).ok()),
            request: None,
            response: Some(response),
            search: None,
        }
    }
}

/// Resolves a conditional target to at most one id, inside `tx`; `None` when nothing
/// matches.
async fn resolve_one(
    tx: &mut StoreTx,
    ctx: &RequestCtx,
    conf: &TenantConformance,
    rtype: &str,
    criteria: &str,
    what: &str,
) -> Result<Option<String>> {
    let found = Criteria::parse(conf, rtype, criteria)?
        .find_in(tx, ctx, conf)
        .await?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.id.clone())),
        _ => Err(Error::precondition_failed(format!(
            "{what} {rtype}?{criteria} matches more than one resource"
        ))),
    }
}

/// A JSON Patch travels in a transaction as a Binary; FHIRPath Patch as Parameters.
fn patch_document(resource: &Map<String, Value>) -> Result<(PatchFormat, Value)> {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some("Parameters") => Ok((
            PatchFormat::FhirPath,
            parameters_document(Value::Object(resource.clone()))?,
        )),
        Some("Binary") => {
            let data = resource
                .get("data")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| Error::invalid("the Binary's data is not base64"))?;
            let doc = serde_json::from_slice(&bytes)
                .map_err(|e| Error::invalid(format!("the Binary's JSON Patch is not JSON: {e}")))?;
            Ok((PatchFormat::Json, doc))
        }
        _ => Err(Error::invalid(
            "a PATCH entry carries a Parameters (FHIRPath Patch) or a Binary (JSON Patch)",
        )),
    }
}

/// Takes the locks of the entries that may create depending on a search (`ifNoneExist`, a
/// conditional update), before any write of `tx` and in sorted order: a transaction never
/// waits for one of these locks while holding row locks or another key out of order, so
/// they cannot deadlock.
async fn lock_conditional_creates(
    tx: &mut StoreTx,
    conf: &TenantConformance,
    entries: &[Entry],
) -> Result<()> {
    let mut keys = std::collections::BTreeSet::new();
    for e in entries {
        let (t, criteria) = match (&e.method, &e.target, &e.if_none_exist) {
            (EntryMethod::Post, Target::Type(t), Some(c)) => (t, c),
            (EntryMethod::Put, Target::Search(t, c), _) => (t, c),
            _ => continue,
        };
        let c = Criteria::parse(conf, t, criteria).map_err(|err| e.locate(err))?;
        keys.insert(c.lock_key().to_owned());
    }
    for key in keys {
        tx.lock_condition(&key).await?;
    }
    Ok(())
}

/// Resolves conditional targets and `ifNoneExist` inside `tx` before its writes start, so
/// that the duplicate check sees every identity, and under the locks of
/// [`lock_conditional_creates`], so that concurrent identical Bundles create once. Returns
/// the entries whose POST is satisfied by an existing resource (`ifNoneExist` matched) as
/// finished responses.
async fn resolve_conditionals(
    tx: &mut StoreTx,
    ctx: &RequestCtx,
    conf: &TenantConformance,
    entries: &mut [Entry],
    ids: &mut Identities,
) -> Result<Vec<(usize, VersionRecord)>> {
    lock_conditional_creates(tx, conf, entries).await?;
    let mut existing = Vec::new();
    for e in entries.iter_mut() {
        let (label, index) = (e.label(), e.index);
        let at = |err: Error| err.at_entry(index, &label);
        match (&e.method, e.target.clone()) {
            (EntryMethod::Post, Target::Type(t)) => {
                if let Some(criteria) = &e.if_none_exist {
                    let found = async {
                        Criteria::parse(conf, &t, criteria)?
                            .find_in(tx, ctx, conf)
                            .await
                    }
                    .await
                    .map_err(at)?;
                    match found.as_slice() {
                        [] => {}
                        [one] => {
                            if let Some(u) = &e.full_url {
                                ids.by_full_url.insert(u.clone(), format!("{t}/{}", one.id));
                            }
                            existing.push((e.index, one.clone()));
                        }
                        _ => {
                            return Err(at(Error::precondition_failed(format!(
                                "ifNoneExist {criteria} matches more than one resource"
                            ))))
                        }
                    }
                }
            }
            (
                EntryMethod::Put | EntryMethod::Delete | EntryMethod::Patch,
                Target::Search(t, criteria),
            ) => {
                let id = resolve_one(tx, ctx, conf, &t, &criteria, "conditional target")
                    .await
                    .map_err(at)?;
                e.target = match (id, e.method) {
                    (Some(id), _) => Target::Instance(t.clone(), id),
                    // Conditional create-by-update: the body's id, or a new one.
                    (None, EntryMethod::Put) => {
                        let id = e
                            .resource
                            .as_ref()
                            .and_then(|r| r.get("id"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .unwrap_or_else(fhir::new_id);
                        Target::Instance(t.clone(), id)
                    }
                    (None, EntryMethod::Delete) => Target::Search(t.clone(), criteria),
                    (None, _) => {
                        return Err(at(Error::not_found(format!("no {t} matches {criteria}"))))
                    }
                };
                if let (Target::Instance(t, id), Some(u)) = (&e.target, &e.full_url) {
                    ids.by_full_url.insert(u.clone(), format!("{t}/{id}"));
                }
                // A conditional update may leave the id out: it is the matched (or new) one.
                if let (EntryMethod::Put, Target::Instance(_, id), Some(r)) =
                    (e.method, &e.target, e.resource.as_mut())
                {
                    r.entry("id").or_insert_with(|| Value::String(id.clone()));
                }
            }
            _ => {}
        }
    }
    Ok(existing)
}

/// Replaces conditional references (`Organization?identifier=...`) with the one resource
/// they match inside `tx`; none or several is an error.
async fn resolve_conditional_references(
    tx: &mut StoreTx,
    ctx: &RequestCtx,
    conf: &TenantConformance,
    e: &mut Entry,
) -> Result<()> {
    let Some(resource) = e.resource.take() else {
        return Ok(());
    };
    let mut value = Value::Object(resource);
    let mut pending = Vec::new();
    for_each_reference(&mut value, &mut |r| {
        if is_conditional(r) {
            pending.push(r.clone());
        }
        Ok(())
    })?;
    for reference in pending {
        let (t, criteria) = reference.split_once('?').unwrap_or_default();
        let id = resolve_one(tx, ctx, conf, t, criteria, "conditional reference")
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "conditional reference {reference} matches no resource"
                ))
            })?;
        let resolved = format!("{t}/{id}");
        for_each_reference(&mut value, &mut |r| {
            if *r == reference {
                *r = resolved.clone();
            }
            Ok(())
        })?;
    }
    if let Value::Object(m) = value {
        e.resource = Some(m);
    }
    Ok(())
}

/// Runs a transaction: all entries or none.
pub async fn transaction(
    ctx: &RequestCtx,
    mut entries: Vec<Entry>,
    prefer: Prefer,
) -> Result<Vec<EntryResponse>> {
    // Every entry's access first: a transaction with one entry the caller may not do is
    // refused whole, before anything is read or written.
    for e in &entries {
        e.authorize(ctx)?;
    }
    let (app, tenant) = (ctx.app(), ctx.tenant());
    let base = app.tenant_base(tenant);
    let mut ids = Identities::assign(&entries)?;
    // Loaded before the transaction: loading may write (a reindex job), and on SQLite the
    // open transaction holds the one writer.
    let conf = app.conformance(tenant).await?;
    let validation = resources::rules(ctx).await?;
    let rules = Rules {
        conf: &conf,
        validation: &validation,
    };
    // Conditionals are resolved inside the transaction that writes: see
    // `resolve_conditionals`.
    let mut tx = ctx.begin().await?;
    let satisfied = resolve_conditionals(&mut tx, ctx, &conf, &mut entries, &mut ids).await?;

    // Two entries may not touch the same resource.
    let mut seen = HashSet::new();
    for e in &entries {
        if let (
            EntryMethod::Put | EntryMethod::Delete | EntryMethod::Patch,
            Target::Instance(t, id),
        ) = (&e.method, &e.target)
        {
            if !seen.insert((t.clone(), id.clone())) {
                return Err(Error::invalid(format!(
                    "{}: another entry of this transaction also changes {t}/{id}",
                    e.label()
                )));
            }
        }
    }
    for e in entries.iter_mut() {
        let (label, index) = (e.label(), e.index);
        resolve_conditional_references(&mut tx, ctx, &conf, e)
            .await
            .map_err(|err| err.at_entry(index, &label))?;
        if let Some(r) = e.resource.take() {
            let mut v = Value::Object(r);
            rewrite(&mut v, &ids).map_err(|err| err.at_entry(index, &label))?;
            if let Value::Object(m) = v {
                e.resource = Some(m);
            }
        }
    }

    let with_body = prefer.return_pref == ReturnPref::Representation;
    let mut responses: Vec<EntryResponse> = satisfied
        .iter()
        .map(|(i, r)| EntryResponse::from_record(*i, "200 OK", &base, r, with_body))
        .collect();
    let done: HashSet<usize> = satisfied.iter().map(|(i, _)| *i).collect();

    let mut order: Vec<&Entry> = entries
        .iter()
        .filter(|e| !done.contains(&e.index))
        .collect();
    order.sort_by_key(|e| e.method.rank());
    let mut reads = Vec::new();
    // Consecutive creates and updates (in processing order) go to the store as one batch:
    // a handful of statements for the whole run instead of several per entry.
    let mut run: Vec<(&Entry, BatchWrite, Vec<Issue>)> = Vec::new();
    // What the Bundle writes: references to it resolve whatever the order of entries.
    let written: HashSet<integrity::Key> = entries
        .iter()
        .filter_map(|e| match (&e.method, &e.target) {
            (EntryMethod::Post, Target::Type(t)) => {
                ids.new_ids.get(&e.index).map(|id| (t.clone(), id.clone()))
            }
            (EntryMethod::Put, Target::Instance(t, id)) => Some((t.clone(), id.clone())),
            _ => None,
        })
        .collect();
    for e in order {
        if matches!(e.method, EntryMethod::Get | EntryMethod::Head) {
            reads.push(e);
            continue;
        }
        if let Some((w, warnings)) =
            prepare_create_or_update(rules, e, &ids).map_err(|err| e.locate(err))?
        {
            integrity::check(ctx, &validation, &mut tx, &w, &written)
                .await
                .map_err(|err| e.locate(err))?;
            run.push((e, w, warnings));
            continue;
        }
        write_run(
            &mut tx,
            ctx,
            &conf,
            &base,
            &mut run,
            with_body,
            &mut responses,
        )
        .await?;
        let r = write_entry(&mut tx, ctx, rules, &base, e, &ids, with_body)
            .await
            .map_err(|err| e.locate(err))?;
        responses.push(r);
    }
    write_run(
        &mut tx,
        ctx,
        &conf,
        &base,
        &mut run,
        with_body,
        &mut responses,
    )
    .await?;
    tx.commit().await?;
    if entries.iter().any(changes_search_parameters) {
        app.search_parameters_changed(tenant).await;
    }
    attested(ctx, &base, &responses).await;
    // The writes are committed: a read that fails (404, a bad search) is that entry's own
    // status, never an error answer for a transaction whose changes are stored.
    for e in reads {
        responses.push(
            read_entry(ctx, &base, e)
                .await
                .unwrap_or_else(|err| EntryResponse::from_error(e.index, &err)),
        );
    }
    responses.sort_by_key(|r| r.index);
    Ok(responses)
}

/// Whether `e` writes a SearchParameter (the tenant's search parameters change).
fn changes_search_parameters(e: &Entry) -> bool {
    let rtype = match &e.target {
        Target::Type(t) | Target::Instance(t, _) | Target::Search(t, _) => t,
        Target::Version(..) => return false,
    };
    rtype == writes::SEARCH_PARAMETER && !matches!(e.method, EntryMethod::Get | EntryMethod::Head)
}

/// The write of a create (`POST type`) or update (`PUT type/id`) entry, checked, validated
/// and indexed, with its validation warnings; `None` for the other kinds of entry.
fn prepare_create_or_update(
    rules: Rules<'_>,
    e: &Entry,
    ids: &Identities,
) -> Result<Option<(BatchWrite, Vec<Issue>)>> {
    let Rules { conf, validation } = rules;
    let precondition = e.if_match.map_or(Precondition::None, Precondition::IfMatch);
    match (&e.method, &e.target) {
        (EntryMethod::Post, Target::Type(t)) => {
            let id = ids
                .new_ids
                .get(&e.index)
                .cloned()
                .unwrap_or_else(fhir::new_id);
            let body = e.resource.clone().unwrap_or_default();
            let req = resources::write_request(
                conf,
                validation,
                t,
                &id,
                body,
                Precondition::MustNotExist,
                Method::Post,
            )?;
            Ok(Some(req))
        }
        (EntryMethod::Put, Target::Instance(t, id)) => {
            // A body without the URL's id is refused as a single update's would be; a
            // conditional entry got its id in `resolve_conditionals`.
            let body = e.resource.clone().unwrap_or_default();
            resources::check_update_id(id, &body)?;
            let req =
                resources::write_request(conf, validation, t, id, body, precondition, Method::Put)?;
            Ok(Some(req))
        }
        _ => Ok(None),
    }
}

/// Writes a run of prepared creates and updates with one [`writes::apply_batch`] and empties
/// it. A failed precondition names its entry, as a single write would.
async fn write_run(
    tx: &mut StoreTx,
    ctx: &RequestCtx,
    conf: &TenantConformance,
    base: &str,
    run: &mut Vec<(&Entry, BatchWrite, Vec<Issue>)>,
    with_body: bool,
    responses: &mut Vec<EntryResponse>,
) -> Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let mut entries = Vec::with_capacity(run.len());
    let mut batch = Vec::with_capacity(run.len());
    let mut warnings = Vec::with_capacity(run.len());
    for (e, w, issues) in run.drain(..) {
        entries.push((
            e.index,
            e.label(),
            w.request.resource_type.clone(),
            w.request.id.clone(),
        ));
        batch.push(w);
        warnings.push(issues);
    }
    for w in &batch {
        restricted::may_overwrite(ctx, tx, &w.request.resource_type, &w.request.id).await?;
    }
    let outcomes = writes::apply_batch(tx, batch, OnUnchanged::NewVersion, &conf.extractor)
        .await
        .map_err(|err| {
            let label = match &err {
                StoreError::VersionConflict {
                    resource_type, id, ..
                } => entries
                    .iter()
                    .find(|(_, _, t, i)| t == resource_type && i == id)
                    .map(|(index, label, _, _)| (*index, label.clone())),
                _ => None,
            };
            let err = Error::from(err);
            match label {
                Some((index, label)) => err.at_entry(index, &label),
                None => err,
            }
        })?;
    for (((index, ..), o), issues) in entries.iter().zip(outcomes).zip(warnings) {
        let mut r = EntryResponse::from_write(*index, base, &o.outcome, with_body);
        r.warn(issues);
        responses.push(r);
    }
    Ok(())
}

/// One write of a transaction or batch, inside `tx`.
async fn write_entry(
    tx: &mut StoreTx,
    ctx: &RequestCtx,
    rules: Rules<'_>,
    base: &str,
    e: &Entry,
    ids: &Identities,
    with_body: bool,
) -> Result<EntryResponse> {
    let conf = rules.conf;
    if let Some((req, warnings)) = prepare_create_or_update(rules, e, ids)? {
        integrity::check(ctx, rules.validation, tx, &req, &HashSet::new()).await?;
        let (t, id) = (&req.request.resource_type, &req.request.id);
        restricted::may_overwrite(ctx, tx, t, id).await?;
        let outcome = writes::apply(tx, req, &conf.extractor).await?;
        let mut r = EntryResponse::from_write(e.index, base, &outcome, with_body);
        r.warn(warnings);
        return Ok(r);
    }
    let precondition = e.if_match.map_or(Precondition::None, Precondition::IfMatch);
    match (&e.method, &e.target) {
        (EntryMethod::Delete, Target::Instance(t, id)) => {
            integrity::may_delete(ctx, rules.validation, tx, t, id).await?;
            let outcome = restricted::delete(ctx, tx, t, id, precondition, &conf.extractor).await?;
            if outcome == DeleteOutcome::NotFound && e.if_match.is_some() {
                return Err(Error::precondition_failed(format!(
                    "If-Match was given but {t}/{id} does not exist"
                )));
            }
            let etag = match outcome {
                DeleteOutcome::Deleted { version, .. }
                | DeleteOutcome::AlreadyDeleted { version } => Some(version),
                DeleteOutcome::NotFound => None,
            };
            Ok(EntryResponse {
                index: e.index,
                status: "204 No Content".into(),
                etag,
                ..Default::default()
            })
        }
        // A conditional delete that matched nothing.
        (EntryMethod::Delete, Target::Search(..)) => Ok(EntryResponse {
            index: e.index,
            status: "204 No Content".into(),
            ..Default::default()
        }),
        (EntryMethod::Patch, Target::Instance(t, id)) => {
            let (format, doc) = patch_document(e.resource.as_ref().unwrap_or(&Map::new()))?;
            let w = patch_in(tx, ctx, conf, t, id, format, &doc, e.if_match).await?;
            Ok(EntryResponse::from_write(e.index, base, &w, with_body))
        }
        _ => Err(Error::invalid(
            "this combination of method and url cannot be written",
        )),
    }
}

/// A GET or HEAD entry: read, vread or search.
async fn read_entry(ctx: &RequestCtx, base: &str, e: &Entry) -> Result<EntryResponse> {
    let with_body = e.method == EntryMethod::Get;
    let record = match &e.target {
        Target::Instance(t, id) => resources::read(ctx, t, id).await?,
        Target::Version(t, id, v) => resources::vread(ctx, t, id, *v).await?,
        Target::Type(t) | Target::Search(t, _) => {
            let query = match &e.target {
                Target::Search(_, q) => q.clone(),
                _ => String::new(),
            };
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&query)
                .map_err(|err| Error::invalid(format!("malformed query: {err}")))?;
            let body = crate::search::search(ctx, t, pairs, Prefer::default()).await?;
            return Ok(EntryResponse {
                index: e.index,
                status: "200 OK".into(),
                resource: with_body.then_some(body),
                ..Default::default()
            });
        }
    };
    if e.if_none_match == Some(record.version)
        || e.if_modified_since
            .is_some_and(|since| record.last_updated.timestamp() <= since.timestamp())
    {
        let mut r = EntryResponse::from_record(e.index, "304 Not Modified", base, &record, false);
        r.location = None;
        return Ok(r);
    }
    let mut r = EntryResponse::from_record(e.index, "200 OK", base, &record, with_body);
    r.location = None;
    Ok(r)
}

/// Runs a batch: each entry on its own, each with its own status.
pub async fn batch(ctx: &RequestCtx, raw: &[Value], prefer: Prefer) -> Vec<EntryResponse> {
    let (app, tenant) = (ctx.app(), ctx.tenant());
    let base = app.tenant_base(tenant);
    let with_body = prefer.return_pref == ReturnPref::Representation;
    let mut out = Vec::with_capacity(raw.len());
    for (i, raw_entry) in raw.iter().enumerate() {
        let result = async {
            let mut e = parse_entry(i, raw_entry, &base)?;
            e.authorize(ctx)?;
            let mut ids = Identities::assign(std::slice::from_ref(&e))?;
            // In a batch a fullUrl names nothing else: entries may not refer to each other.
            ids.by_full_url.clear();
            if matches!(e.method, EntryMethod::Get | EntryMethod::Head) {
                // Nothing conditional or to rewrite: no write transaction (on SQLite it
                // would wait for every writer).
                return read_entry(ctx, &base, &e).await;
            }
            let conf = app.conformance(tenant).await?;
            let validation = resources::rules(ctx).await?;
            let rules = Rules {
                conf: &conf,
                validation: &validation,
            };
            // Conditionals are resolved in the transaction that writes (see
            // `resolve_conditionals`).
            let mut tx = ctx.begin().await?;
            let satisfied =
                resolve_conditionals(&mut tx, ctx, &conf, std::slice::from_mut(&mut e), &mut ids)
                    .await?;
            if let Some((_, r)) = satisfied.first() {
                return Ok(EntryResponse::from_record(i, "200 OK", &base, r, with_body));
            }
            resolve_conditional_references(&mut tx, ctx, &conf, &mut e).await?;
            // ... so a `urn:` reference could never resolve: refused, as in a transaction
            // (<https://hl7.org/fhir/R4/http.html#brules>: such references are non-conformant).
            if let Some(r) = e.resource.take() {
                let mut v = Value::Object(r);
                rewrite(&mut v, &ids)?;
                if let Value::Object(m) = v {
                    e.resource = Some(m);
                }
            }
            let r = write_entry(&mut tx, ctx, rules, &base, &e, &ids, with_body).await?;
            tx.commit().await?;
            attested(ctx, &base, std::slice::from_ref(&r)).await;
            if changes_search_parameters(&e) {
                app.search_parameters_changed(tenant).await;
            }
            Ok::<_, Error>(r)
        }
        .await;
        out.push(result.unwrap_or_else(|err| EntryResponse::from_error(i, &err)));
    }
    out
}
