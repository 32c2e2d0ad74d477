//! Search handlers: `GET [base]/[type]?...` and `POST [base]/[type]/_search` (form body;
//! the same search, <https://hl7.org/fhir/R4/http.html#search>).

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use services::search::search;

use crate::error::{AppResult, Error};
use crate::extract::{Ctx, PreferHeader, Query, RawBody, TypePath};
use crate::response::fhir_json;

/// `GET [base]/[type]`
pub async fn get(
    ctx: Ctx,
    p: TypePath,
    Query(q): Query,
    PreferHeader(prefer): PreferHeader,
) -> AppResult<Response> {
    let body = search(&ctx, &p.resource_type, q.0, prefer).await?;
    Ok(fhir_json(StatusCode::OK, body))
}

/// `POST [base]/[type]/_search`: parameters from the URL and the form body together.
pub async fn post(
    ctx: Ctx,
    p: TypePath,
    Query(q): Query,
    PreferHeader(prefer): PreferHeader,
    headers: HeaderMap,
    raw: RawBody,
) -> AppResult<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !raw.0.is_empty() && !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(Error::unsupported_media_type(format!(
            "POST _search takes application/x-www-form-urlencoded, not {ct:?}"
        ))
        .into());
    }
    let mut pairs = q.0;
    pairs.extend(raw.form_pairs()?);
    let body = search(&ctx, &p.resource_type, pairs, prefer).await?;
    Ok(fhir_json(StatusCode::OK, body))
}
