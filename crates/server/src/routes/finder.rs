//! `$find-providers` (`GET|POST [base]/$find-providers`) and its OperationDefinition
//! (`GET [base]/OperationDefinition/find-providers`).

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use services::finder;

use crate::error::{AppResult, Error};
use crate::extract::{Ctx, Query, RawBody};
use crate::response::fhir_json;

/// `GET [base]/$find-providers?...`
pub async fn get(ctx: Ctx, Query(q): Query) -> AppResult<Response> {
    let body = finder::find_providers(&ctx, q.0).await?;
    Ok(fhir_json(StatusCode::OK, body))
}

/// `POST [base]/$find-providers`: a form body or a Parameters resource, plus any query
/// parameters.
pub async fn post(
    ctx: Ctx,
    Query(q): Query,
    headers: HeaderMap,
    raw: RawBody,
) -> AppResult<Response> {
    let body = &raw.0;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut pairs = q.0;
    if body.iter().all(u8::is_ascii_whitespace) {
        // Nothing more than the query string.
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        pairs.extend(raw.form_pairs()?);
    } else if ct.starts_with("application/fhir+json") || ct.starts_with("application/json") {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid(format!("the body is not JSON: {e}")))?;
        pairs.extend(finder::pairs_from_parameters(&value)?);
    } else {
        return Err(Error::unsupported_media_type(format!(
            "POST $find-providers takes application/fhir+json (Parameters) or \
             application/x-www-form-urlencoded, not {ct:?}"
        ))
        .into());
    }
    let body = finder::find_providers(&ctx, pairs).await?;
    Ok(fhir_json(StatusCode::OK, body))
}

/// `GET [base]/OperationDefinition/find-providers`
pub async fn definition(_ctx: Ctx) -> AppResult<Response> {
    Ok(fhir_json(StatusCode::OK, finder::definition().to_string()))
}
