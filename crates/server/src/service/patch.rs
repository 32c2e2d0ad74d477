//! PATCH (<https://hl7.org/fhir/R4/http.html#patch>): JSON Patch or FHIRPath Patch applied to
//! the current version inside one store transaction, so no concurrent write is lost.

use serde_json::Value;
use store::{Method, Precondition, StoreTx, TenantName, WriteOutcome};

use crate::error::{AppError, AppResult};
use crate::extract::parse_resource;
use crate::state::App;
use crate::tenant_conformance::TenantConformance;

/// The two patch formats fhirdir accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFormat {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// A `Parameters` resource in `application/fhir+json` (FHIRPath Patch).
    FhirPath,
}

impl PatchFormat {
    /// The format a request's Content-Type names; 415 for anything else.
    pub fn from_content_type(ct: Option<&str>) -> AppResult<PatchFormat> {
        let essence = ct
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json-patch+json" => Ok(PatchFormat::Json),
            "application/fhir+json" | "application/json" => Ok(PatchFormat::FhirPath),
            _ => Err(AppError::UnsupportedMediaType(format!(
                "PATCH takes application/json-patch+json (JSON Patch) or application/fhir+json (FHIRPath Patch Parameters), not {essence:?}"
            ))),
        }
    }
}

/// Parses a patch document of `format`.
pub fn parse_document(format: PatchFormat, document: &[u8]) -> AppResult<Value> {
    match format {
        PatchFormat::FhirPath => {
            let params = parse_resource(document)?;
            parameters_document(Value::Object(params))
        }
        PatchFormat::Json => serde_json::from_slice(document).map_err(|e| {
            AppError::BadRequest(
                fhir::IssueType::Structure,
                format!("the JSON Patch is not valid JSON: {e}"),
            )
        }),
    }
}

/// Checks that a FHIRPath Patch document is a `Parameters` resource.
pub fn parameters_document(doc: Value) -> AppResult<Value> {
    if doc.get("resourceType").and_then(Value::as_str) == Some("Parameters") {
        Ok(doc)
    } else {
        Err(AppError::invalid(
            "a FHIRPath Patch body must be a Parameters resource",
        ))
    }
}

/// Applies a patch document to `rtype/id` in its own transaction.
pub async fn patch(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    id: &str,
    format: PatchFormat,
    document: &[u8],
    if_match: Option<i64>,
) -> AppResult<WriteOutcome> {
    // The same limit as every other body (the handler takes raw bytes, not a `FhirBody`).
    let limit = app.config.max_body_bytes;
    if document.len() > limit {
        return Err(AppError::PayloadTooLarge(limit));
    }
    let doc = parse_document(format, document)?;
    // Loaded before the transaction: loading may write (a reindex job), and on SQLite the
    // open transaction holds the one writer.
    let conf = app.conformance(tenant).await?;
    let mut tx = app.store.begin(tenant).await?;
    let outcome = patch_in(&mut tx, &conf, rtype, id, format, &doc, if_match).await?;
    tx.commit().await?;
    if rtype == super::resources::SEARCH_PARAMETER {
        app.search_parameters_changed(tenant).await;
    }
    Ok(outcome)
}

/// `PATCH [type]?criteria`: the criteria's one match is patched as [`patch`] would; no match
/// is a 404 and several a 412 (<https://hl7.org/fhir/R4/http.html#patch>).
pub async fn conditional_patch(
    app: &App,
    tenant: &TenantName,
    rtype: &str,
    criteria: &str,
    format: PatchFormat,
    document: &[u8],
    if_match: Option<i64>,
) -> AppResult<WriteOutcome> {
    let found = super::conditional::find(app, tenant, rtype, criteria).await?;
    match found.as_slice() {
        [] => Err(AppError::NotFound(format!(
            "no {rtype} matches {criteria}: nothing to patch"
        ))),
        [one] => patch(app, tenant, rtype, &one.id, format, document, if_match).await,
        _ => Err(AppError::PreconditionFailed(format!(
            "{rtype}?{criteria} matches more than one resource"
        ))),
    }
}

/// A document that is not a patch at all is a 400; a patch that cannot be applied is a 422.
fn patch_error(e: patch::PatchError) -> AppError {
    match e {
        patch::PatchError::InvalidDocument(m) => {
            AppError::invalid(format!("not a valid patch document: {m}"))
        }
        other => AppError::Unprocessable(other.to_string()),
    }
}

/// Applies a parsed patch document to `rtype/id` inside `tx` (also used by transactions).
pub async fn patch_in(
    tx: &mut StoreTx,
    conf: &TenantConformance,
    rtype: &str,
    id: &str,
    format: PatchFormat,
    doc: &Value,
    if_match: Option<i64>,
) -> AppResult<WriteOutcome> {
    let current = match tx.read(rtype, id).await? {
        Some(r) if r.deleted => return Err(AppError::Gone(format!("{rtype}/{id} was deleted"))),
        Some(r) => r,
        None => return Err(AppError::NotFound(format!("{rtype}/{id} is not known"))),
    };
    if let Some(expected) = if_match {
        if expected != current.version {
            return Err(AppError::PreconditionFailed(format!(
                "If-Match names version {expected} but {rtype}/{id} is at version {}",
                current.version
            )));
        }
    }
    let before: Value = serde_json::from_str(current.body.as_deref().unwrap_or("{}"))
        .map_err(|e| AppError::Internal(format!("stored body of {rtype}/{id} is not JSON: {e}")))?;
    let mut after = before.clone();
    match format {
        PatchFormat::Json => patch::apply_json_patch(&mut after, doc),
        PatchFormat::FhirPath => patch::apply_fhirpath_patch(&mut after, doc),
    }
    .map_err(patch_error)?;
    patch::check_patched(&before, &after, conformance::ElementModel::r4())
        .map_err(|e| AppError::Unprocessable(e.to_string()))?;
    fhir::storable::check(&after, rtype).map_err(|e| {
        AppError::Unprocessable(format!("the patched resource cannot be stored: {e}"))
    })?;
    let Value::Object(body) = after else {
        return Err(AppError::Unprocessable(
            "the patch did not leave a JSON object".into(),
        ));
    };
    let req = super::resources::write_request(
        conf,
        rtype,
        id,
        body,
        Precondition::IfMatch(current.version),
        Method::Patch,
    )?;
    req.run_in(tx).await
}
