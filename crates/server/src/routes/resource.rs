//! Instance and type-level interactions: read, vread, create, update, delete.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use store::{DeleteOutcome, VersionRecord, WriteKind, WriteOutcome};

use crate::error::AppResult;
use services::{resources, RequestCtx};

use crate::extract::{
    Conditional, Ctx, FhirBody, InstancePath, Prefer, PreferHeader, RawBody, ReturnPref, TypePath,
    VersionPath,
};
use crate::response::{fhir_json, set_location, set_version_headers};

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
pub async fn read(ctx: Ctx, p: InstancePath, cond: Conditional) -> AppResult<Response> {
    let r = resources::read(&ctx, &p.resource_type, &p.id).await?;
    Ok(version_response(r, &cond))
}

/// `GET [base]/[type]/[id]/_history/[vid]`
pub async fn vread(ctx: Ctx, p: VersionPath, cond: Conditional) -> AppResult<Response> {
    let r = resources::vread(&ctx, &p.resource_type, &p.id, p.version).await?;
    Ok(version_response(r, &cond))
}

/// The answer to a create or update, shaped by `Prefer: return=`.
fn write_response(ctx: &RequestCtx, w: WriteOutcome, prefer: Prefer) -> Response {
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
            let mut oo = fhir::OperationOutcome::information(format!(
                "{}/{} {verb}: version {}",
                r.resource_type, r.id, r.version
            ));
            // What validation (in `warn` mode) found in what was written.
            oo.issues.extend(ctx.take_notes());
            fhir_json(status, oo.to_json().to_string())
        }
    };
    set_version_headers(&mut resp, r.version, r.last_updated);
    let url = format!(
        "{}/{}/{}/_history/{}",
        ctx.base(),
        r.resource_type,
        r.id,
        r.version
    );
    set_location(&mut resp, &url);
    resp
}

/// `POST [base]/[type]`
pub async fn create(
    ctx: Ctx,
    p: TypePath,
    cond: Conditional,
    PreferHeader(prefer): PreferHeader,
    FhirBody(body): FhirBody,
) -> AppResult<Response> {
    let w = resources::create(&ctx, &p.resource_type, body, cond.if_none_exist.as_deref()).await?;
    Ok(write_response(&ctx, w, prefer))
}

/// `PUT [base]/[type]/[id]`
pub async fn update(
    ctx: Ctx,
    p: InstancePath,
    cond: Conditional,
    PreferHeader(prefer): PreferHeader,
    FhirBody(body): FhirBody,
) -> AppResult<Response> {
    let w = resources::update(
        &ctx,
        &p.resource_type,
        &p.id,
        body,
        cond.if_match,
        cond.if_none_match_any,
    )
    .await?;
    Ok(write_response(&ctx, w, prefer))
}

/// `PATCH [base]/[type]/[id]` (JSON Patch or FHIRPath Patch)
pub async fn patch(
    ctx: Ctx,
    p: InstancePath,
    cond: Conditional,
    PreferHeader(prefer): PreferHeader,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let format = patch_format(&headers)?;
    let w =
        services::patch::patch(&ctx, &p.resource_type, &p.id, format, &body, cond.if_match).await?;
    Ok(write_response(&ctx, w, prefer))
}

/// `PATCH [base]/[type]?criteria` (<https://hl7.org/fhir/R4/http.html#patch>): the one match
/// is patched; no match is a 404, several a 412.
pub async fn conditional_patch(
    ctx: Ctx,
    p: TypePath,
    uri: axum::http::Uri,
    cond: Conditional,
    PreferHeader(prefer): PreferHeader,
    headers: axum::http::HeaderMap,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let criteria = criteria(&uri)?;
    let format = patch_format(&headers)?;
    let w = services::patch::conditional_patch(
        &ctx,
        &p.resource_type,
        &criteria,
        format,
        &body,
        cond.if_match,
    )
    .await?;
    Ok(write_response(&ctx, w, prefer))
}

fn patch_format(headers: &axum::http::HeaderMap) -> AppResult<services::patch::PatchFormat> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Ok(services::patch::PatchFormat::from_content_type(ct)?)
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
    ctx: Ctx,
    p: InstancePath,
    cond: Conditional,
    PreferHeader(prefer): PreferHeader,
) -> AppResult<Response> {
    let outcome = resources::delete(&ctx, &p.resource_type, &p.id, cond.if_match).await?;
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
        _ => Err(crate::error::Error::invalid(
            "a conditional update or delete needs search criteria in the query string",
        )
        .into()),
    }
}

/// `PUT [base]/[type]?criteria`
pub async fn conditional_update(
    ctx: Ctx,
    p: TypePath,
    uri: axum::http::Uri,
    cond: Conditional,
    PreferHeader(prefer): PreferHeader,
    FhirBody(body): FhirBody,
) -> AppResult<Response> {
    let criteria = criteria(&uri)?;
    let w = resources::conditional_update(&ctx, &p.resource_type, &criteria, body, cond.if_match)
        .await?;
    Ok(write_response(&ctx, w, prefer))
}

/// `DELETE [base]/[type]?criteria`
pub async fn conditional_delete(
    ctx: Ctx,
    p: TypePath,
    uri: axum::http::Uri,
    PreferHeader(prefer): PreferHeader,
) -> AppResult<Response> {
    let criteria = criteria(&uri)?;
    let (what, outcome) = resources::conditional_delete(&ctx, &p.resource_type, &criteria).await?;
    Ok(delete_response(&what, outcome, prefer))
}
