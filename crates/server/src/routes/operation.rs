//! Operations on a type or an instance (`GET [base]/[type]/$op`, `GET [base]/[type]/[id]/$op`):
//! the Subscription operations of the R4 backport, `$status` and `$events`. An operation this
//! server does not have answers 404 naming it. Bulk export's type-level kick-off,
//! `[base]/[type]/$export`, arrives here too (GET and POST), and primary-source verification,
//! `POST [base]/[type]/[id]/$verify`, `$match` (`POST [base]/[type]/$match`) and `$validate`
//! (type and instance level, `routes/validation.rs`).

use axum::http::StatusCode;
use axum::response::Response;

use axum::extract::OriginalUri;

use crate::error::{AppResult, Error};
use crate::extract::{
    Conditional, Ctx, InstanceOperation, InstanceOrOperation, PreferHeader, Query, RawBody,
};
use crate::response::fhir_json;

fn unknown(rtype: &str, name: &str) -> Error {
    Error::not_found(format!("{rtype} has no operation ${name} here"))
}

/// `GET [base]/[type]/[id]`, or the type-level operation `GET [base]/[type]/$op`.
pub async fn type_get(
    ctx: Ctx,
    p: InstanceOrOperation,
    uri: OriginalUri,
    Query(q): Query,
    PreferHeader(prefer): PreferHeader,
    cond: Conditional,
) -> AppResult<Response> {
    match p {
        InstanceOrOperation::Instance(p) => super::resource::read(ctx, p, cond).await,
        InstanceOrOperation::Operation {
            resource_type,
            name,
        } => {
            if name == "export" {
                let level = services::bulk::Level::Type(resource_type);
                return super::bulk::kick_off(ctx, level, uri, q.0, prefer, Default::default())
                    .await;
            }
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

/// `POST [base]/[type]/$op`: bulk export's kick-off; POST on an instance is not an
/// interaction (405).
pub async fn type_post(
    ctx: Ctx,
    p: InstanceOrOperation,
    uri: OriginalUri,
    Query(q): Query,
    PreferHeader(prefer): PreferHeader,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    match p {
        InstanceOrOperation::Operation {
            resource_type,
            name,
        } if name == "export" => {
            let level = services::bulk::Level::Type(resource_type);
            super::bulk::kick_off(ctx, level, uri, q.0, prefer, body).await
        }
        InstanceOrOperation::Operation {
            resource_type,
            name,
        } if name == "validate" => {
            super::validation::validate(&ctx, &resource_type, None, &q.0, &body).await
        }
        InstanceOrOperation::Operation {
            resource_type,
            name,
        } if name == "match" => {
            let bundle = services::matching::run(&ctx, &resource_type, &body).await?;
            Ok(fhir_json(StatusCode::OK, bundle.to_string()))
        }
        InstanceOrOperation::Operation {
            resource_type,
            name,
        } => Err(unknown(&resource_type, &name).into()),
        InstanceOrOperation::Instance(_) => {
            Ok(crate::middleware::method_not_allowed(axum::http::Method::POST).await)
        }
    }
}

/// `GET [base]/[type]/[id]/$op`
pub async fn instance_get(
    ctx: Ctx,
    p: InstanceOperation,
    uri: OriginalUri,
    Query(q): Query,
    PreferHeader(prefer): PreferHeader,
) -> AppResult<Response> {
    if let Some(level) = group_export(&p) {
        return super::bulk::kick_off(ctx, level, uri, q.0, prefer, Default::default()).await;
    }
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

/// `POST [base]/[type]/[id]/$op`: a Group export's kick-off with a Parameters body.
pub async fn instance_post(
    ctx: Ctx,
    p: InstanceOperation,
    uri: OriginalUri,
    Query(q): Query,
    PreferHeader(prefer): PreferHeader,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    if let Some(level) = group_export(&p) {
        return super::bulk::kick_off(ctx, level, uri, q.0, prefer, body).await;
    }
    if p.name == "validate" {
        return super::validation::validate(&ctx, &p.resource_type, Some(&p.id), &q.0, &body).await;
    }
    // NDH's instance-level spelling of `$match` answers as the type level (the id is ignored).
    if p.name == "match" {
        let bundle = services::matching::run(&ctx, &p.resource_type, &body).await?;
        return Ok(fhir_json(StatusCode::OK, bundle.to_string()));
    }
    if p.name == "verify" && services::verify::VERIFIABLE.contains(&p.resource_type.as_str()) {
        let result = services::verify::operation(&ctx, &p.resource_type, &p.id).await?;
        return Ok(fhir_json(StatusCode::OK, result.to_string()));
    }
    Err(unknown(&p.resource_type, &p.name).into())
}

/// `Group/[id]/$export` (Bulk Data) and `Group/[id]/$davinci-data-export` (Da Vinci PDex).
fn group_export(p: &InstanceOperation) -> Option<services::bulk::Level> {
    let davinci = match (p.resource_type.as_str(), p.name.as_str()) {
        ("Group", "export") => false,
        ("Group", "davinci-data-export") => true,
        _ => return None,
    };
    Some(services::bulk::Level::Group {
        id: p.id.clone(),
        davinci,
    })
}
