//! PATCH (<https://hl7.org/fhir/R4/http.html#patch>): JSON Patch or FHIRPath Patch applied to
//! the current version inside one store transaction, so no concurrent write is lost.

use serde_json::Value;
use store::{Method, Precondition, StoreTx, WriteOutcome};

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::request::parse_resource;
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
    pub fn from_content_type(ct: Option<&str>) -> Result<PatchFormat> {
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
            _ => Err(Error::unsupported_media_type(format!(
                "PATCH takes application/json-patch+json (JSON Patch) or application/fhir+json (FHIRPath Patch Parameters), not {essence:?}"
            ))),
        }
    }
}

/// Parses a patch document of `format`.
pub fn parse_document(format: PatchFormat, document: &[u8]) -> Result<Value> {
    match format {
        PatchFormat::FhirPath => {
            let params = parse_resource(document)?;
            parameters_document(Value::Object(params))
        }
        PatchFormat::Json => serde_json::from_slice(document).map_err(|e| {
            Error::bad_request(
                fhir::IssueType::Structure,
                format!("the JSON Patch is not valid JSON: {e}"),
            )
        }),
    }
}

/// Checks that a FHIRPath Patch document is a `Parameters` resource.
pub fn parameters_document(doc: Value) -> Result<Value> {
    if doc.get("resourceType").and_then(Value::as_str) == Some("Parameters") {
        Ok(doc)
    } else {
        Err(Error::invalid(
            "a FHIRPath Patch body must be a Parameters resource",
        ))
    }
}

/// Applies a patch document to `rtype/id` in its own transaction.
pub async fn patch(
    ctx: &RequestCtx,
    rtype: &str,
    id: &str,
    format: PatchFormat,
    document: &[u8],
    if_match: Option<i64>,
) -> Result<WriteOutcome> {
    ctx.authorize(rtype, Interaction::Update)?;
    let (app, tenant) = (ctx.app(), ctx.tenant());
    // The same limit as every other body (the handler takes raw bytes, not a `FhirBody`).
    let limit = app.settings.max_body_bytes;
    if document.len() > limit {
        return Err(Error::payload_too_large(limit));
    }
    let doc = parse_document(format, document)?;
    // Loaded before the transaction: loading may write (a reindex job), and on SQLite the
    // open transaction holds the one writer.
    let conf = app.conformance(tenant).await?;
    let mut tx = ctx.begin().await?;
    let outcome = patch_in(&mut tx, ctx, &conf, rtype, id, format, &doc, if_match).await?;
    tx.commit().await?;
    if rtype == writes::SEARCH_PARAMETER {
        app.search_parameters_changed(tenant).await;
    }
    crate::verify::attested(ctx, &[(rtype, id)]).await;
    Ok(outcome)
}

/// `PATCH [type]?criteria`: the criteria's one match is patched as [`patch`] would; no match
/// is a 404 and several a 412 (<https://hl7.org/fhir/R4/http.html#patch>).
pub async fn conditional_patch(
    ctx: &RequestCtx,
    rtype: &str,
    criteria: &str,
    format: PatchFormat,
    document: &[u8],
    if_match: Option<i64>,
) -> Result<WriteOutcome> {
    // Before the search: a caller who may not patch learns nothing of what matches.
    ctx.authorize(rtype, Interaction::Update)?;
    let found = super::conditional::find(ctx, rtype, criteria).await?;
    match found.as_slice() {
        [] => Err(Error::not_found(format!(
            "no {rtype} matches {criteria}: nothing to patch"
        ))),
        [one] => patch(ctx, rtype, &one.id, format, document, if_match).await,
        _ => Err(Error::precondition_failed(format!(
            "{rtype}?{criteria} matches more than one resource"
        ))),
    }
}

/// Applies a parsed patch document to `rtype/id` inside `tx` (also used by transactions).
#[allow(clippy::too_many_arguments)]
pub async fn patch_in(
    tx: &mut StoreTx,
    ctx: &RequestCtx,
    conf: &TenantConformance,
    rtype: &str,
    id: &str,
    format: PatchFormat,
    doc: &Value,
    if_match: Option<i64>,
) -> Result<WriteOutcome> {
    // Hidden: the answer for a missing id; partly hidden: refused before any `test`
    // operation could probe the hidden elements.
    crate::restricted::may_overwrite(ctx, tx, rtype, id).await?;
    let current = match tx.read(rtype, id).await? {
        Some(r) if r.deleted => return Err(Error::gone(format!("{rtype}/{id} was deleted"))),
        Some(r) => r,
        None => return Err(crate::restricted::not_known(rtype, id)),
    };
    if let Some(expected) = if_match {
        if expected != current.version {
            return Err(Error::precondition_failed(format!(
                "If-Match names version {expected} but {rtype}/{id} is at version {}",
                current.version
            )));
        }
    }
    let before: Value = serde_json::from_str(current.body.as_deref().unwrap_or("{}"))
        .map_err(|e| Error::internal(format!("stored body of {rtype}/{id} is not JSON: {e}")))?;
    let mut after = before.clone();
    match format {
        PatchFormat::Json => patch::apply_json_patch(&mut after, doc),
        PatchFormat::FhirPath => patch::apply_fhirpath_patch(&mut after, doc),
    }?;
    patch::check_patched(&before, &after, conformance::ElementModel::r4())?;
    // The pipeline refuses an unstorable resource as a bad request; a patch that produces one
    // is a patch that cannot be applied (422).
    fhir::storable::check(&after, rtype)
        .map_err(|e| Error::unprocessable(format!("the patched resource cannot be stored: {e}")))?;
    let Value::Object(body) = after else {
        return Err(Error::unprocessable(
            "the patch did not leave a JSON object",
        ));
    };
    // Validated as the patched resource it would store: a patch that makes it invalid is
    // refused in `enforce` mode.
    let rules = super::resources::rules(ctx).await?;
    let (req, warnings) = super::resources::write_request(
        conf,
        &rules,
        rtype,
        id,
        body,
        Precondition::IfMatch(current.version),
        Method::Patch,
    )?;
    crate::validation::integrity::check(ctx, &rules, tx, &req, &Default::default()).await?;
    ctx.note(warnings);
    Ok(writes::apply(tx, req, &conf.extractor).await?)
}
