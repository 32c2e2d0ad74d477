//! `GET [base]/metadata` and the interactions that are not implemented yet.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::error::{AppError, AppResult};
use crate::extract::{FhirBody, Prefer, TenantPath, TypePath};
use crate::response::fhir_json;
use crate::service::{capability::capability_statement, resources::ensure_tenant};
use crate::state::AppState;

/// `GET [base]/metadata`
pub async fn capabilities(
    State(app): State<AppState>,
    TenantPath(tenant): TenantPath,
) -> AppResult<Response> {
    ensure_tenant(&app, &tenant).await?;
    let cs = capability_statement(&app.tenant_base(&tenant), &app.started);
    Ok(fhir_json(StatusCode::OK, cs.to_string()))
}

/// `GET [base]/[type]` (search): a clear 501 until the search engine lands, rather than an
/// empty Bundle that would look like "no results".
pub async fn search_unsupported(State(app): State<AppState>, p: TypePath) -> AppResult<Response> {
    ensure_tenant(&app, &p.tenant).await?;
    Err(AppError::NotImplemented(format!(
        "search on {} is not supported yet",
        p.resource_type
    )))
}

/// `POST [base]`: a batch or transaction Bundle.
pub async fn bundle(
    State(app): State<AppState>,
    TenantPath(tenant): TenantPath,
    prefer: Prefer,
    FhirBody(body): FhirBody,
) -> AppResult<Response> {
    let out = crate::service::bundle::process(&app, &tenant, body, prefer).await?;
    Ok(fhir_json(StatusCode::OK, out))
}
