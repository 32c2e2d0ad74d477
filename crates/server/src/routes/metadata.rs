//! `GET [base]/metadata` and the interactions that are not implemented yet.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::error::AppResult;
use crate::extract::{FhirBody, Prefer, TenantPath};
use crate::response::fhir_json;
use crate::service::{capability::capability_statement, resources::ensure_tenant};
use crate::state::AppState;

/// `GET [base]/metadata`
pub async fn capabilities(
    State(app): State<AppState>,
    TenantPath(tenant): TenantPath,
) -> AppResult<Response> {
    ensure_tenant(&app, &tenant).await?;
    let conf = app.conformance(&tenant).await?;
    let cs = capability_statement(&app.tenant_base(&tenant), &app.started, &conf.registry);
    Ok(fhir_json(StatusCode::OK, cs.to_string()))
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
