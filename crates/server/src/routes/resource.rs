//! Instance and type-level interactions: read, vread, create, update, delete.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use store::{DeleteOutcome, VersionRecord, WriteKind, WriteOutcome};

use crate::error::AppResult;
use crate::extract::{
    Conditional, FhirBody, InstancePath, Prefer, RawBody, ReturnPref, TypePath, VersionPath,
};
use crate::response::{fhir_json, set_location, set_version_headers};
use crate::service::resources;
use crate::state::{App, AppState};

/// A stored version as a 200 response, or 304 when the client's copy is current.
fn version_response(r: VersionRecord, cond: &Conditional) -> Response {
    let mut resp = if cond.not_modified(r.version, r.last_updated) {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else {
        fhir_json(StatusCode::OK, r.body.unwrap_or_default())
    };
    set_version_headers(&mut resp, r.version, r.last_updated);
    resp
}

/// `GET [base]/[type]/[id]`
pub async fn read(
    State(app): State<AppState>,
    p: InstancePath,
    cond: Conditional,
) -> AppResult<Response> {
    let r = resources::read(&app, &p.tenant, &p.resource_type, &p.id).await?;
    Ok(version_response(r, &cond))
}

/// `GET [base]/[type]/[id]/_history/[vid]`
pub async fn vread(
    State(app): State<AppState>,
    p: VersionPath,
    cond: Conditional,
) -> AppResult<Response> {
    let r = resources::vread(&app, &p.tenant, &p.resource_type, &p.id, p.version).await?;
    Ok(version_response(r, &cond))
}

/// The answer to a create or update, shaped by `Prefer: return=`.
fn write_response(
    app: &App,
    tenant: &store::TenantName,
    w: WriteOutcome,
    prefer: Prefer,
) -> Response {
    let r = w.record;
    let status = match w.kind {
        WriteKind::Created => StatusCode::CREATED,
        WriteKind::Updated => StatusCode::OK,
    };
    let mut resp = match prefer.return_pref {
        ReturnPref::Representation => fhir_json(status, r.body.unwrap_or_default()),
        ReturnPref::Minimal => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = status;
            resp
        }
        ReturnPref::OperationOutcome => {
            let verb = if w.kind == WriteKind::Created {
                "created"
            } else {
                "updated"
            };
            let oo = fhir::OperationOutcome::information(format!(
                "{}/{} {verb}: version {}",
                r.resource_type, r.id, r.version
            ));
            fhir_json(status, oo.to_json().to_string())
        }
    };
    set_version_headers(&mut resp, r.version, r.last_updated);
    let url = format!(
        "{}/{}/{}/_history/{}",
        app.tenant_base(tenant),
        r.resource_type,
        r.id,
        r.version
    );
    set_location(&mut resp, &url);
    resp
}

/// `POST [base]/[type]`
pub async fn create(
    State(app): State<AppState>,
    p: TypePath,
    cond: Conditional,
    prefer: Prefer,
    FhirBody(body): FhirBody,
) -> AppResult<Response> {
    let w = resources::create(
        &app,
        &p.tenant,
        &p.resource_type,
        body,
        cond.if_none_exist.as_deref(),
    )
    .await?;
    Ok(write_response(&app, &p.tenant, w, prefer))
}

/// `PUT [base]/[type]/[id]`
pub async fn update(
    State(app): State<AppState>,
    p: InstancePath,
    cond: Conditional,
    prefer: Prefer,
    FhirBody(body): FhirBody,
) -> AppResult<Response> {
    let w = resources::update(
        &app,
        &p.tenant,
        &p.resource_type,
        &p.id,
        body,
        cond.if_match,
        cond.if_none_match_any,
    )
    .await?;
    Ok(write_response(&app, &p.tenant, w, prefer))
}

/// `PATCH [base]/[type]/[id]` (JSON Patch or FHIRPath Patch)
pub async fn patch(
    State(app): State<AppState>,
    p: InstancePath,
    cond: Conditional,
    prefer: Prefer,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let format = patch_format(&headers)?;
    let w = crate::service::patch::patch(
        &app,
        &p.tenant,
        &p.resource_type,
        &p.id,
        format,
        &body,
        cond.if_match,
    )
    .await?;
    Ok(write_response(&app, &p.tenant, w, prefer))
}

/// `PATCH [base]/[type]?criteria` (<https://hl7.org/fhir/R4/http.html#patch>): the one match
/// is patched; no match is a 404, several a 412.
pub async fn conditional_patch(
    State(app): State<AppState>,
    p: TypePath,
    uri: axum::http::Uri,
    cond: Conditional,
    prefer: Prefer,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let criteria = criteria(&uri)?;
    let format = patch_format(&headers)?;
    let w = crate::service::patch::conditional_patch(
        &app,
        &p.tenant,
        &p.resource_type,
        &criteria,
        format,
        &body,
        cond.if_match,
    )
    .await?;
    Ok(write_response(&app, &p.tenant, w, prefer))
}

fn patch_format(headers: &axum::http::HeaderMap) -> AppResult<crate::service::patch::PatchFormat> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    crate::service::patch::PatchFormat::from_content_type(ct)
}

/// The answer to a delete: 200 with an OperationOutcome saying what happened (204 with
/// `Prefer: return=minimal`).
fn delete_response(what: &str, outcome: DeleteOutcome, prefer: Prefer) -> Response {
    let (message, version) = match outcome {
        DeleteOutcome::Deleted { version, .. } => {
            (format!("{what} deleted (version {version})"), Some(version))
        }
        DeleteOutcome::AlreadyDeleted { version } => {
            (format!("{what} was already deleted"), Some(version))
        }
        DeleteOutcome::NotFound => (format!("{what}: nothing to delete"), None),
    };
    let mut resp = if prefer.return_pref == ReturnPref::Minimal {
        StatusCode::NO_CONTENT.into_response()
    } else {
        fhir_json(
            StatusCode::OK,
            fhir::OperationOutcome::information(message)
                .to_json()
                .to_string(),
        )
    };
    if let Some(v) = version {
        resp.headers_mut()
            .insert(axum::http::header::ETAG, crate::response::etag(v));
    }
    resp
}

/// `DELETE [base]/[type]/[id]`
pub async fn delete(
    State(app): State<AppState>,
    p: InstancePath,
    cond: Conditional,
    prefer: Prefer,
) -> AppResult<Response> {
    let outcome =
        resources::delete(&app, &p.tenant, &p.resource_type, &p.id, cond.if_match).await?;
    Ok(delete_response(
        &format!("{}/{}", p.resource_type, p.id),
        outcome,
        prefer,
    ))
}

/// The search criteria of a conditional interaction: the query string, which must not be
/// empty (an empty one would match everything).
fn criteria(uri: &axum::http::Uri) -> AppResult<String> {
    match uri.query() {
        Some(q) if !q.trim().is_empty() => Ok(q.to_owned()),
        _ => Err(crate::error::AppError::invalid(
            "a conditional update or delete needs search criteria in the query string",
        )),
    }
}

/// `PUT [base]/[type]?criteria`
pub async fn conditional_update(
    State(app): State<AppState>,
    p: TypePath,
    uri: axum::http::Uri,
    cond: Conditional,
    prefer: Prefer,
    FhirBody(body): FhirBody,
) -> AppResult<Response> {
    let criteria = criteria(&uri)?;
    let w = resources::conditional_update(
        &app,
        &p.tenant,
        &p.resource_type,
        &criteria,
        body,
        cond.if_match,
    )
    .await?;
    Ok(write_response(&app, &p.tenant, w, prefer))
}

/// `DELETE [base]/[type]?criteria`
pub async fn conditional_delete(
    State(app): State<AppState>,
    p: TypePath,
    uri: axum::http::Uri,
    prefer: Prefer,
) -> AppResult<Response> {
    let criteria = criteria(&uri)?;
    let (what, outcome) =
        resources::conditional_delete(&app, &p.tenant, &p.resource_type, &criteria).await?;
    Ok(delete_response(&what, outcome, prefer))
}
