//! Operations on a type or an instance (`GET [base]/[type]/$op`, `GET [base]/[type]/[id]/$op`):
//! the Subscription operations of the R4 backport, `$status` and `$events`. An operation this
//! server does not have answers 404 naming it.

use axum::http::StatusCode;
use axum::response::Response;

use crate::error::{AppResult, Error};
use crate::extract::{Conditional, Ctx, InstanceOperation, InstanceOrOperation, Query};
use crate::response::fhir_json;

fn unknown(rtype: &str, name: &str) -> Error {
    Error::not_found(format!("{rtype} has no operation ${name} here"))
}

/// `GET [base]/[type]/[id]`, or the type-level operation `GET [base]/[type]/$op`.
pub async fn type_get(
    ctx: Ctx,
    p: InstanceOrOperation,
    Query(q): Query,
    cond: Conditional,
) -> AppResult<Response> {
    match p {
        InstanceOrOperation::Instance(p) => super::resource::read(ctx, p, cond).await,
        InstanceOrOperation::Operation {
            resource_type,
            name,
        } => {
            let body = match (resource_type.as_str(), name.as_str()) {
                ("Subscription", "status") => {
                    services::subscriptions::operations::status(&ctx, None, &q.0).await?
                }
                _ => return Err(unknown(&resource_type, &name).into()),
            };
            Ok(fhir_json(StatusCode::OK, body))
        }
    }
}

/// `GET [base]/[type]/[id]/$op`
pub async fn instance_get(ctx: Ctx, p: InstanceOperation, Query(q): Query) -> AppResult<Response> {
    let ops = services::subscriptions::operations::status;
    let body = match (p.resource_type.as_str(), p.name.as_str()) {
        ("Subscription", "status") => ops(&ctx, Some(&p.id), &q.0).await?,
        ("Subscription", "events") => {
            services::subscriptions::operations::events(&ctx, &p.id, &q.0).await?
        }
        _ => return Err(unknown(&p.resource_type, &p.name).into()),
    };
    Ok(fhir_json(StatusCode::OK, body))
}
