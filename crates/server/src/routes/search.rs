//! Search handlers: `GET [base]/[type]?...` and `POST [base]/[type]/_search` (form body;
//! the same search, <https://hl7.org/fhir/R4/http.html#search>).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use crate::error::{AppError, AppResult};
use crate::extract::{Prefer, QueryPairs, RawBody, TypePath};
use crate::response::fhir_json;
use crate::service::search::search;
use crate::state::AppState;

/// `GET [base]/[type]`
pub async fn get(
    State(app): State<AppState>,
    p: TypePath,
    q: QueryPairs,
    prefer: Prefer,
) -> AppResult<Response> {
    let body = search(&app, &p.tenant, &p.resource_type, q.0, prefer).await?;
    Ok(fhir_json(StatusCode::OK, body))
}

/// `POST [base]/[type]/_search`: parameters from the URL and the form body together.
pub async fn post(
    State(app): State<AppState>,
    p: TypePath,
    q: QueryPairs,
    prefer: Prefer,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !body.is_empty() && !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(AppError::UnsupportedMediaType(format!(
            "POST _search takes application/x-www-form-urlencoded, not {ct:?}"
        )));
    }
    let mut pairs = q.0;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| AppError::invalid(format!("malformed form body: {e}")))?;
    pairs.extend(form);
    let body = search(&app, &p.tenant, &p.resource_type, pairs, prefer).await?;
    Ok(fhir_json(StatusCode::OK, body))
}
