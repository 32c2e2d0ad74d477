//! Read, vread, create, update and delete of single resources
//! (<https://hl7.org/fhir/R4/http.html>).

use serde_json::{Map, Value};
use store::{
    DeleteOutcome, Method, Precondition, TenantName, VersionRecord, WriteOutcome, WriteRequest,
};

use crate::error::{AppError, AppResult};
use crate::state::App;
use crate::tenant_conformance::{check_tenant_search_parameter, TenantConformance};

/// Writes of this type change the tenant's search parameters.
pub(crate) const SEARCH_PARAMETER: &str = "SearchParameter";

/// Turns "not found" into the right 404: unknown tenant or unknown resource.
async fn not_found(app: &App, tenant: &TenantName, what: String) -> AppError {
    match app.store.tenant_exists(tenant).await {
        Ok(true) => AppError::NotFound(what),
        Ok(false) => AppError::UnknownTenant(tenant.to_string()),
        Err(e) => e.into(),
    }
}

/// Fails with 404 when the tenant does not exist.
pub async fn ensure_tenant(app: &App, tenant: &TenantName) -> AppResult<()> {
    if app.store.tenant_exists(tenant).await? {
        Ok(())
    } else {
        Err(AppError::UnknownTenant(tenant.to_string()))
    }
}

/// The current version; 410 when deleted, 404 when never created.
pub async fn read(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    id: &str,
) -> AppResult<VersionRecord> {
    match app.store.read(tenant, rtype, id).await? {
        Some(r) if r.deleted => Err(AppError::Gone(format!(
            "{rtype}/{id} was deleted (version {})",
            r.version
        ))),
        Some(r) => Ok(r),
        None => Err(not_found(app, tenant, format!("{rtype}/{id} is not known")).await),
    }
}

/// One version; 410 when that version is a delete.
pub async fn vread(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    id: &str,
    version: i64,
) -> AppResult<VersionRecord> {
    match app.store.vread(tenant, rtype, id, version).await? {
        Some(r) if r.deleted => Err(AppError::Gone(format!(
            "version {version} of {rtype}/{id} is a delete"
        ))),
        Some(r) => Ok(r),
        None => Err(not_found(
            app,
            tenant,
            format!("{rtype}/{id} has no version {version}"),
        )
        .await),
    }
}

/// A write and the search index entries of its resource. Every write is prepared here, so
/// the API, Bundles and PATCH index resources the same way, with the tenant's search
/// parameters (`conf`, from [`App::conformance`]).
pub struct PreparedWrite {
    pub request: WriteRequest,
    pub index: Vec<search::IndexEntry>,
}

/// Most search index entries one resource written through the API may have. Writing them is
/// linear (about 50,000 identifiers a second in a debug build), and this bounds how long one
/// write can hold SQLite's single writer whatever `--max-body-bytes` allows; a Group of
/// 100,000 members still fits.
pub const MAX_INDEX_ENTRIES: usize = 250_000;

/// Prepares a write. A SearchParameter must be one fhirdir can use (422 otherwise); after it
/// commits, the caller reports it with [`App::search_parameters_changed`] (which
/// [`PreparedWrite::run`] does itself).
pub fn write_request(
    conf: &TenantConformance,
    rtype: &str,
    id: &str,
    body: Map<String, Value>,
    precondition: Precondition,
    method: Method,
) -> AppResult<PreparedWrite> {
    if rtype == SEARCH_PARAMETER {
        check_tenant_search_parameter(&body)?;
    }
    let resource = Value::Object(body);
    let index = conf.extractor.extract_all(&resource).map_err(|(code, e)| {
        AppError::Unprocessable(format!(
            "{rtype}/{id} cannot be indexed for the search parameter `{code}`: {e}"
        ))
    })?;
    if index.len() > MAX_INDEX_ENTRIES {
        return Err(AppError::Unprocessable(format!(
            "{rtype}/{id} has {} searchable values; at most {MAX_INDEX_ENTRIES} are accepted \
             in one resource",
            index.len()
        )));
    }
    let Value::Object(body) = resource else {
        unreachable!("built from an object just above")
    };
    Ok(PreparedWrite {
        request: WriteRequest {
            resource_type: rtype.to_owned(),
            id: id.to_owned(),
            resource: body,
            precondition,
            method,
        },
        index,
    })
}

impl PreparedWrite {
    /// Runs the write in its own transaction.
    pub async fn run(self, app: &App, tenant: &TenantName) -> AppResult<WriteOutcome> {
        let search_parameter = self.request.resource_type == SEARCH_PARAMETER;
        let outcome = app
            .store
            .write_indexed(tenant, self.request, &self.index)
            .await?;
        if search_parameter {
            app.search_parameters_changed(tenant).await;
        }
        Ok(outcome)
    }

    /// Runs the write as the last operation of `tx` and commits it.
    pub async fn commit_in(self, app: &App, mut tx: store::StoreTx) -> AppResult<WriteOutcome> {
        let search_parameter = self.request.resource_type == SEARCH_PARAMETER;
        let outcome = tx.write_indexed(self.request, &self.index).await?;
        let tenant = tx.tenant().clone();
        tx.commit().await?;
        if search_parameter {
            app.search_parameters_changed(&tenant).await;
        }
        Ok(outcome)
    }

    /// Runs the write inside `tx`.
    pub async fn run_in(self, tx: &mut store::StoreTx) -> AppResult<WriteOutcome> {
        Ok(tx.write_indexed(self.request, &self.index).await?)
    }
}

pub(crate) fn check_type(rtype: &str, body: &Map<String, Value>) -> AppResult<()> {
    let found = body
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if found == rtype {
        Ok(())
    } else {
        Err(AppError::invalid(format!(
            "resourceType {found:?} in the body does not match {rtype:?} in the URL"
        )))
    }
}

/// An update must carry the id of its URL (<https://hl7.org/fhir/R4/http.html#update>).
pub(crate) fn check_update_id(id: &str, body: &Map<String, Value>) -> AppResult<()> {
    match body.get("id") {
        Some(Value::String(body_id)) if body_id == id => {}
        Some(Value::String(body_id)) => {
            return Err(AppError::invalid(format!(
                "the id {body_id:?} in the body does not match the id {id:?} in the URL"
            )))
        }
        Some(_) => return Err(AppError::invalid("the id in the body must be a string")),
        None => {
            return Err(AppError::invalid(format!(
                "the body has no id: an update must carry id {id:?}"
            )))
        }
    }
    Ok(())
}

/// `POST [type]`: the server assigns the id (any id in the body is ignored, as the spec
/// says).
pub async fn create(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    body: Map<String, Value>,
    if_none_exist: Option<&str>,
) -> AppResult<WriteOutcome> {
    check_type(rtype, &body)?;
    let conf = app.conformance(tenant).await?;
    let req = write_request(
        &conf,
        rtype,
        &fhir::new_id(),
        body,
        Precondition::MustNotExist,
        Method::Post,
    )?;
    let Some(criteria) = if_none_exist else {
        return req.run(app, tenant).await;
    };
    // Conditional create (<https://hl7.org/fhir/R4/http.html#ccreate>): one match is
    // answered with that resource (200), several with 412. Checked in the write's
    // transaction, under the criteria's lock, so concurrent identical requests create once.
    let cond = super::conditional::Criteria::parse(&conf, rtype, criteria)?;
    let mut tx = app.store.begin(tenant).await?;
    cond.lock(&mut tx).await?;
    let found = cond.find_in(&mut tx, &conf).await?;
    match found.as_slice() {
        [] => req.commit_in(app, tx).await,
        [one] => Ok(WriteOutcome {
            kind: store::WriteKind::Updated,
            record: one.clone(),
        }),
        _ => Err(AppError::PreconditionFailed(format!(
            "If-None-Exist {criteria} matches more than one {rtype}"
        ))),
    }
}

/// `PUT [type]/[id]`: update, or create with the client's id. `create_only` is
/// `If-None-Match: *`.
pub async fn update(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    id: &str,
    body: Map<String, Value>,
    if_match: Option<i64>,
    create_only: bool,
) -> AppResult<WriteOutcome> {
    check_type(rtype, &body)?;
    check_update_id(id, &body)?;
    let precondition = match (if_match, create_only) {
        (Some(v), _) => Precondition::IfMatch(v),
        // `If-None-Match: *`: only if no such resource exists (RFC 9110 section 13.1.2).
        (None, true) => Precondition::MustNotExist,
        (None, false) => Precondition::None,
    };
    let conf = app.conformance(tenant).await?;
    let req = write_request(&conf, rtype, id, body, precondition, Method::Put)?;
    req.run(app, tenant).await
}

/// `DELETE [type]/[id]`.
pub async fn delete(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    id: &str,
    if_match: Option<i64>,
) -> AppResult<DeleteOutcome> {
    let precondition = if_match.map_or(Precondition::None, Precondition::IfMatch);
    let outcome = app.store.delete(tenant, rtype, id, precondition).await?;
    if rtype == SEARCH_PARAMETER && matches!(outcome, DeleteOutcome::Deleted { .. }) {
        app.search_parameters_changed(tenant).await;
    }
    if outcome == DeleteOutcome::NotFound {
        ensure_tenant(app, tenant).await?;
        if if_match.is_some() {
            return Err(AppError::PreconditionFailed(format!(
                "If-Match was given but {rtype}/{id} does not exist"
            )));
        }
    }
    Ok(outcome)
}

/// `PUT [type]?criteria` (<https://hl7.org/fhir/R4/http.html#cond-update>): no match creates
/// (with the body's id when it has one), one match updates it (a different id in the body is
/// a 400), several are a 412. Checked and written in one transaction under the criteria's
/// lock, so concurrent identical requests create once.
pub async fn conditional_update(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    criteria: &str,
    mut body: Map<String, Value>,
    if_match: Option<i64>,
) -> AppResult<WriteOutcome> {
    check_type(rtype, &body)?;
    let conf = app.conformance(tenant).await?;
    let cond = super::conditional::Criteria::parse(&conf, rtype, criteria)?;
    let mut tx = app.store.begin(tenant).await?;
    cond.lock(&mut tx).await?;
    let found = cond.find_in(&mut tx, &conf).await?;
    let body_id = body.get("id").and_then(Value::as_str).map(str::to_owned);
    let id = match (found.as_slice(), body_id) {
        ([], Some(id)) => id,
        ([], None) => fhir::new_id(),
        ([one], Some(id)) if id != one.id => {
            return Err(AppError::invalid(format!(
                "the body's id {id:?} is not the id of the {rtype} that matches {criteria} ({:?})",
                one.id
            )))
        }
        ([one], _) => one.id.clone(),
        _ => {
            return Err(AppError::PreconditionFailed(format!(
                "{rtype}?{criteria} matches more than one resource"
            )))
        }
    };
    body.insert("id".into(), Value::String(id.clone()));
    let precondition = if_match.map_or(Precondition::None, Precondition::IfMatch);
    let req = write_request(&conf, rtype, &id, body, precondition, Method::Put)?;
    req.commit_in(app, tx).await
}

/// `DELETE [type]?criteria` (<https://hl7.org/fhir/R4/http.html#3.1.0.7.1>): no match is a
/// no-op, one match is deleted, several are a 412 (fhirdir does not delete many at once).
pub async fn conditional_delete(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    criteria: &str,
) -> AppResult<(String, DeleteOutcome)> {
    let found = super::conditional::find(app, tenant, rtype, criteria).await?;
    match found.as_slice() {
        [] => Ok((format!("{rtype}?{criteria}"), DeleteOutcome::NotFound)),
        [one] => {
            let outcome = delete(app, tenant, rtype, &one.id, None).await?;
            Ok((format!("{rtype}/{}", one.id), outcome))
        }
        _ => Err(AppError::PreconditionFailed(format!(
            "{rtype}?{criteria} matches more than one resource"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_resource_with_more_index_entries_than_the_limit_is_422() {
        let registry = conformance::Registry::builtin();
        let conf = TenantConformance {
            extractor: Arc::new(search::Extractor::new(registry.clone())),
            registry: Arc::new(registry),
            pending: Default::default(),
            stamp: (0, 0),
        };
        let org = |n: usize| {
            let identifiers: Vec<Value> = (0..n)
                .map(|i| serde_json::json!({"system": "urn:test", "value": format!("v{i}")}))
                .collect();
            let Value::Object(body) = serde_json::json!({"resourceType": "Organization",
                "id": "o", "identifier": identifiers})
            else {
                unreachable!()
            };
            body
        };
        let write = |n| {
            write_request(
                &conf,
                "Organization",
                "o",
                org(n),
                Precondition::None,
                Method::Put,
            )
        };
        // Every identifier is an `identifier` token entry: over FHIRPath's collection limit
        // (250,000) the expression fails, and the write must say so rather than store a
        // resource that `identifier` would never find.
        match write(MAX_INDEX_ENTRIES + 1) {
            Err(AppError::Unprocessable(m)) => {
                assert!(m.contains("`identifier`"), "{m}")
            }
            other => panic!("expected 422, got {:?}", other.map(|w| w.index.len())),
        }
        // Each collection under FHIRPath's limit, but more entries in all than the cap:
        // 130,000 identifiers and 130,000 aliases (`name` covers `alias`).
        let mut body = org(130_000);
        let aliases: Vec<Value> = (0..130_000)
            .map(|i| Value::String(format!("a{i}")))
            .collect();
        body.insert("alias".into(), Value::Array(aliases));
        let written = write_request(
            &conf,
            "Organization",
            "o",
            body,
            Precondition::None,
            Method::Put,
        );
        match written {
            Err(AppError::Unprocessable(m)) => assert!(m.contains("at most 250000"), "{m}"),
            other => panic!("expected 422, got {:?}", other.map(|w| w.index.len())),
        }
        let ok = write(1000).expect("a thousand identifiers are fine");
        assert!(ok.index.len() >= 1000);
    }
}
