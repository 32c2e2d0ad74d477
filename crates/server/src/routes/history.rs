//! History handlers: instance, type and system.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use store::HistoryScope;

use crate::error::AppResult;
use crate::extract::{InstancePath, QueryPairs, TenantPath, TypePath};
use crate::response::fhir_json;
use crate::service::history::history;
use crate::state::AppState;

/// `GET [base]/[type]/[id]/_history`
pub async fn instance(
    State(app): State<AppState>,
    p: InstancePath,
    q: QueryPairs,
) -> AppResult<Response> {
    let scope = HistoryScope::Instance(p.resource_type, p.id);
    Ok(fhir_json(
        StatusCode::OK,
        history(&app, &p.tenant, scope, &q).await?,
    ))
}

/// `GET [base]/[type]/_history`
pub async fn type_level(
    State(app): State<AppState>,
    p: TypePath,
    q: QueryPairs,
) -> AppResult<Response> {
    let scope = HistoryScope::Type(p.resource_type);
    Ok(fhir_json(
        StatusCode::OK,
        history(&app, &p.tenant, scope, &q).await?,
    ))
}

/// `GET [base]/_history`
pub async fn system(
    State(app): State<AppState>,
    TenantPath(tenant): TenantPath,
    q: QueryPairs,
) -> AppResult<Response> {
    Ok(fhir_json(
        StatusCode::OK,
        history(&app, &tenant, HistoryScope::System, &q).await?,
    ))
}
