//! History handlers: instance, type and system.

use axum::http::StatusCode;
use axum::response::Response;
use store::HistoryScope;

use crate::error::AppResult;
use services::history::history;

use crate::extract::{Ctx, InstancePath, Query, TypePath};
use crate::response::fhir_json;

/// `GET [base]/[type]/[id]/_history`
pub async fn instance(ctx: Ctx, p: InstancePath, Query(q): Query) -> AppResult<Response> {
    let scope = HistoryScope::Instance(p.resource_type, p.id);
    Ok(fhir_json(StatusCode::OK, history(&ctx, scope, &q).await?))
}

/// `GET [base]/[type]/_history`
pub async fn type_level(ctx: Ctx, p: TypePath, Query(q): Query) -> AppResult<Response> {
    let scope = HistoryScope::Type(p.resource_type);
    Ok(fhir_json(StatusCode::OK, history(&ctx, scope, &q).await?))
}

/// `GET [base]/_history`
pub async fn system(ctx: Ctx, Query(q): Query) -> AppResult<Response> {
    Ok(fhir_json(
        StatusCode::OK,
        history(&ctx, HistoryScope::System, &q).await?,
    ))
}
