//! A tenant's validation setting (`GET|PUT /admin/tenants/{t}/validation`, the operator's)
//! and `$validate` (`POST [base]/[type]/$validate`, `POST [base]/[type]/[id]/$validate`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::admin::{admin_tenant, Admin};
use crate::error::AppResult;
use crate::extract::{Ctx, RawBody};
use crate::response::fhir_json;
use crate::state::AppState;

/// `GET /admin/tenants/{t}/validation`
pub async fn get_setting(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(services::validation::setting::get(&app, &t).await?).into_response())
}

/// `PUT /admin/tenants/{t}/validation`
pub async fn put_setting(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(services::validation::setting::put(&app, &t, &body).await?).into_response())
}

/// `$validate` on `rtype` (and instance `id`), `mode` and `profile` in the body or the
/// query: 200 with the OperationOutcome.
pub async fn validate(
    ctx: &Ctx,
    rtype: &str,
    id: Option<&str>,
    query: &[(String, String)],
    body: &[u8],
) -> AppResult<Response> {
    let outcome = services::validation::operation::run(ctx, rtype, id, query, body).await?;
    Ok(fhir_json(StatusCode::OK, outcome.to_string()))
}
