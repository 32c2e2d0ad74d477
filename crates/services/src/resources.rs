//! Read, vread, create, update and delete of single resources
//! (<https://hl7.org/fhir/R4/http.html>).

use fhir::outcome::Issue;
use serde_json::{Map, Value};
use store::{
    BatchWrite, DeleteOutcome, Method, Precondition, VersionRecord, WriteOutcome, WriteRequest,
};
use writes::SEARCH_PARAMETER;

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::tenant_conformance::TenantConformance;
use crate::validation;
#[expect(unused_imports, reason = "named by the documentation")]
use crate::App;

/// The current version; 410 when deleted, 404 when never created.
pub async fn read(ctx: &RequestCtx, rtype: &str, id: &str) -> Result<VersionRecord> {
    if rtype == crate::audit::AUDIT_EVENT {
        return crate::audit::read(ctx, id).await;
    }
    if rtype == "Basic" {
        if let Some(topic) = crate::subscriptions::topic_read(ctx, id) {
            return topic;
        }
    }
    ctx.authorize(rtype, Interaction::Read)?;
    match ctx.app().store.read(ctx.scope(), rtype, id).await? {
        Some(r) if r.deleted => Err(Error::gone(format!(
            "{rtype}/{id} was deleted (version {})",
            r.version
        ))),
        Some(r) => Ok(r),
        // An unknown tenant is the store's error (`StoreError::UnknownTenant`), not `None`.
        None => Err(super::restricted::not_known(rtype, id)),
    }
}

/// One version; 410 when that version is a delete.
pub async fn vread(ctx: &RequestCtx, rtype: &str, id: &str, version: i64) -> Result<VersionRecord> {
    if rtype == crate::audit::AUDIT_EVENT {
        // An AuditEvent has one version.
        let record = crate::audit::read(ctx, id).await?;
        return match version {
            1 => Ok(record),
            _ => Err(Error::not_found(format!(
                "{rtype}/{id} has no version {version}"
            ))),
        };
    }
    ctx.authorize(rtype, Interaction::Read)?;
    match ctx
        .app()
        .store
        .vread(ctx.scope(), rtype, id, version)
        .await?
    {
        Some(r) if r.deleted => Err(Error::gone(format!(
            "version {version} of {rtype}/{id} is a delete"
        ))),
        Some(r) => Ok(r),
        None => Err(Error::not_found(format!(
            "{rtype}/{id} has no version {version}"
        ))),
    }
}

/// Stages 1–4 of the write pipeline ([`writes`]) for a write through the API, with the
/// tenant's search parameters (`conf`, from [`App::conformance`]) and validation setting
/// (`rules`, [`crate::validation::setting::get`]). Every API write is prepared here, so the
/// REST interactions, Bundles and PATCH check, validate and index alike. Answers the write
/// and the validation's warnings (in `enforce` mode an invalid resource is a 422 here).
pub fn write_request(
    conf: &TenantConformance,
    rules: &validation::Active,
    rtype: &str,
    id: &str,
    body: Map<String, Value>,
    precondition: Precondition,
    method: Method,
) -> Result<(BatchWrite, Vec<Issue>)> {
    let (body, warnings) = validation::check(rules, id, body)?;
    // A Subscription is checked here, for every API path (REST, Bundles, PATCH).
    let body = if rtype == writes::SUBSCRIPTION {
        crate::subscriptions::accept(conf, body)?
    } else {
        body
    };
    let request = WriteRequest {
        resource_type: rtype.to_owned(),
        id: id.to_owned(),
        resource: body,
        precondition,
        method,
    };
    let w = writes::prepare(&conf.extractor, writes::Source::Api, request)?;
    Ok((w, warnings))
}

/// The tenant's validation setting, for [`write_request`].
pub(crate) async fn rules(ctx: &RequestCtx) -> Result<validation::Active> {
    validation::active(ctx.app(), ctx.tenant()).await
}

/// Writes `w` in a transaction of its own.
pub async fn write(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    w: BatchWrite,
) -> Result<WriteOutcome> {
    let tx = ctx.begin().await?;
    commit_with(ctx, conf, tx, w).await
}

/// Writes `w` as the last operation of `tx` and commits; a SearchParameter written reloads
/// the tenant's parameters ([`App::search_parameters_changed`]).
pub async fn commit_with(
    ctx: &RequestCtx,
    conf: &TenantConformance,
    mut tx: store::StoreTx,
    w: BatchWrite,
) -> Result<WriteOutcome> {
    let search_parameter = w.request.resource_type == SEARCH_PARAMETER;
    let (rtype, id) = (&w.request.resource_type, &w.request.id);
    super::restricted::may_overwrite(ctx, &mut tx, rtype, id).await?;
    let outcome = writes::apply(&mut tx, w, &conf.extractor).await?;
    tx.commit().await?;
    if search_parameter {
        ctx.app().search_parameters_changed(ctx.tenant()).await;
    }
    let written = [(
        outcome.record.resource_type.as_str(),
        outcome.record.id.as_str(),
    )];
    crate::verify::attested(ctx, &written).await;
    Ok(outcome)
}

pub(crate) fn check_type(rtype: &str, body: &Map<String, Value>) -> Result<()> {
    let found = body
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if found == rtype {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "resourceType {found:?} in the body does not match {rtype:?} in the URL"
        )))
    }
}

/// An update must carry the id of its URL (<https://hl7.org/fhir/R4/http.html#update>).
pub(crate) fn check_update_id(id: &str, body: &Map<String, Value>) -> Result<()> {
    match body.get("id") {
        Some(Value::String(body_id)) if body_id == id => {}
        Some(Value::String(body_id)) => {
            return Err(Error::invalid(format!(
                "the id {body_id:?} in the body does not match the id {id:?} in the URL"
            )))
        }
        Some(_) => return Err(Error::invalid("the id in the body must be a string")),
        None => {
            return Err(Error::invalid(format!(
                "the body has no id: an update must carry id {id:?}"
            )))
        }
    }
    Ok(())
}

/// `POST [type]`: the server assigns the id (any id in the body is ignored, as the spec
/// says).
pub async fn create(
    ctx: &RequestCtx,
    rtype: &str,
    body: Map<String, Value>,
    if_none_exist: Option<&str>,
) -> Result<WriteOutcome> {
    ctx.authorize(rtype, Interaction::Create)?;
    let (app, tenant) = (ctx.app(), ctx.tenant());
    check_type(rtype, &body)?;
    let conf = app.conformance(tenant).await?;
    let rules = rules(ctx).await?;
    let (req, warnings) = write_request(
        &conf,
        &rules,
        rtype,
        &fhir::new_id(),
        body,
        Precondition::MustNotExist,
        Method::Post,
    )?;
    ctx.note(warnings);
    let Some(criteria) = if_none_exist else {
        let mut tx = ctx.begin().await?;
        validation::integrity::check(ctx, &rules, &mut tx, &req, &Default::default()).await?;
        return commit_with(ctx, &conf, tx, req).await;
    };
    // Conditional create (<https://hl7.org/fhir/R4/http.html#ccreate>): one match is
    // answered with that resource (200), several with 412. Checked in the write's
    // transaction, under the criteria's lock, so concurrent identical requests create once.
    let cond = super::conditional::Criteria::parse(&conf, rtype, criteria)?;
    let mut tx = ctx.begin().await?;
    cond.lock(&mut tx).await?;
    let found = cond.find_in(&mut tx, ctx, &conf).await?;
    match found.as_slice() {
        [] => {
            validation::integrity::check(ctx, &rules, &mut tx, &req, &Default::default()).await?;
            commit_with(ctx, &conf, tx, req).await
        }
        [one] => Ok(WriteOutcome {
            kind: store::WriteKind::Updated,
            record: one.clone(),
        }),
        _ => Err(Error::precondition_failed(format!(
            "If-None-Exist {criteria} matches more than one {rtype}"
        ))),
    }
}

/// `PUT [type]/[id]`: update, or create with the client's id. `create_only` is
/// `If-None-Match: *`.
pub async fn update(
    ctx: &RequestCtx,
    rtype: &str,
    id: &str,
    body: Map<String, Value>,
    if_match: Option<i64>,
    create_only: bool,
) -> Result<WriteOutcome> {
    ctx.authorize(rtype, Interaction::Update)?;
    let (app, tenant) = (ctx.app(), ctx.tenant());
    check_type(rtype, &body)?;
    check_update_id(id, &body)?;
    let precondition = match (if_match, create_only) {
        (Some(v), _) => Precondition::IfMatch(v),
        // `If-None-Match: *`: only if no such resource exists (RFC 9110 section 13.1.2).
        (None, true) => Precondition::MustNotExist,
        (None, false) => Precondition::None,
    };
    let conf = app.conformance(tenant).await?;
    let rules = rules(ctx).await?;
    let (req, warnings) = write_request(&conf, &rules, rtype, id, body, precondition, Method::Put)?;
    ctx.note(warnings);
    let mut tx = ctx.begin().await?;
    validation::integrity::check(ctx, &rules, &mut tx, &req, &Default::default()).await?;
    commit_with(ctx, &conf, tx, req).await
}

/// `DELETE [type]/[id]`.
pub async fn delete(
    ctx: &RequestCtx,
    rtype: &str,
    id: &str,
    if_match: Option<i64>,
) -> Result<DeleteOutcome> {
    ctx.authorize(rtype, Interaction::Delete)?;
    let (app, tenant) = (ctx.app(), ctx.tenant());
    let precondition = if_match.map_or(Precondition::None, Precondition::IfMatch);
    let rules = rules(ctx).await?;
    // Loaded before the transaction: loading may write (on SQLite the open transaction would
    // hold the one writer it needs).
    let conf = app.conformance(tenant).await?;
    let mut tx = ctx.begin().await?;
    validation::integrity::may_delete(ctx, &rules.setting, &mut tx, rtype, id).await?;
    let outcome =
        super::restricted::delete(ctx, &mut tx, rtype, id, precondition, &conf.extractor).await?;
    tx.commit().await?;
    if rtype == SEARCH_PARAMETER && matches!(outcome, DeleteOutcome::Deleted { .. }) {
        app.search_parameters_changed(tenant).await;
    }
    if outcome == DeleteOutcome::NotFound && if_match.is_some() {
        return Err(Error::precondition_failed(format!(
            "If-Match was given but {rtype}/{id} does not exist"
        )));
    }
    Ok(outcome)
}

/// `PUT [type]?criteria` (<https://hl7.org/fhir/R4/http.html#cond-update>): no match creates
/// (with the body's id when it has one), one match updates it (a different id in the body is
/// a 400), several are a 412. Checked and written in one transaction under the criteria's
/// lock, so concurrent identical requests create once.
pub async fn conditional_update(
    ctx: &RequestCtx,
    rtype: &str,
    criteria: &str,
    mut body: Map<String, Value>,
    if_match: Option<i64>,
) -> Result<WriteOutcome> {
    ctx.authorize(rtype, Interaction::Update)?;
    let (app, tenant) = (ctx.app(), ctx.tenant());
    check_type(rtype, &body)?;
    let conf = app.conformance(tenant).await?;
    let rules = rules(ctx).await?;
    let cond = super::conditional::Criteria::parse(&conf, rtype, criteria)?;
    let mut tx = ctx.begin().await?;
    cond.lock(&mut tx).await?;
    let found = cond.find_in(&mut tx, ctx, &conf).await?;
    let body_id = body.get("id").and_then(Value::as_str).map(str::to_owned);
    let id = match (found.as_slice(), body_id) {
        ([], Some(id)) => id,
        ([], None) => fhir::new_id(),
        ([one], Some(id)) if id != one.id => {
            return Err(Error::invalid(format!(
                "the body's id {id:?} is not the id of the {rtype} that matches {criteria} ({:?})",
                one.id
            )))
        }
        ([one], _) => one.id.clone(),
        _ => {
            return Err(Error::precondition_failed(format!(
                "{rtype}?{criteria} matches more than one resource"
            )))
        }
    };
    body.insert("id".into(), Value::String(id.clone()));
    let precondition = if_match.map_or(Precondition::None, Precondition::IfMatch);
    let (req, warnings) =
        write_request(&conf, &rules, rtype, &id, body, precondition, Method::Put)?;
    validation::integrity::check(ctx, &rules, &mut tx, &req, &Default::default()).await?;
    ctx.note(warnings);
    commit_with(ctx, &conf, tx, req).await
}

/// `DELETE [type]?criteria` (<https://hl7.org/fhir/R4/http.html#3.1.0.7.1>): no match is a
/// no-op, one match is deleted, several are a 412 (fhirdir does not delete many at once).
pub async fn conditional_delete(
    ctx: &RequestCtx,
    rtype: &str,
    criteria: &str,
) -> Result<(String, DeleteOutcome)> {
    // Before the search: a caller who may not delete learns nothing of what matches.
    ctx.authorize(rtype, Interaction::Delete)?;
    let found = super::conditional::find(ctx, rtype, criteria).await?;
    match found.as_slice() {
        [] => Ok((format!("{rtype}?{criteria}"), DeleteOutcome::NotFound)),
        [one] => {
            let outcome = delete(ctx, rtype, &one.id, None).await?;
            Ok((format!("{rtype}/{}", one.id), outcome))
        }
        _ => Err(Error::precondition_failed(format!(
            "{rtype}?{criteria} matches more than one resource"
        ))),
    }
}
