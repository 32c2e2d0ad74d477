//! `GET [base]/metadata` and the interactions that are not implemented yet.

use axum::http::StatusCode;
use axum::response::Response;

use crate::error::AppResult;
use crate::extract::{Ctx, FhirBody, PreferHeader};
use crate::response::fhir_json;

/// `GET [base]/metadata`
pub async fn capabilities(ctx: Ctx) -> AppResult<Response> {
    let cs = services::capability::metadata(&ctx).await?;
    Ok(fhir_json(StatusCode::OK, cs.to_string()))
}

/// `POST [base]`: a batch or transaction Bundle.
pub async fn bundle(
    ctx: Ctx,
    PreferHeader(prefer): PreferHeader,
    FhirBody(body): FhirBody,
) -> AppResult<Response> {
    let out = services::bundle::process(&ctx, body, prefer).await?;
    Ok(fhir_json(StatusCode::OK, out))
}
