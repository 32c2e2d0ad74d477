//! A tenant's remote sources (`/admin/tenants/{t}/sources[/{name}]`, admin token; see
//! [`services::harvest::setting`]), starting a harvest pass now (`.../$run`), the tenant's
//! verification setting (`/admin/tenants/{t}/verification`) and the OperationDefinition of
//! `$verify`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::admin::{admin_tenant, Admin};
use crate::error::AppResult;
use crate::extract::Ctx;
use crate::extract::RawBody;
use crate::response::fhir_json;
use crate::state::AppState;
use services::harvest::{self, setting};

/// `GET /admin/tenants/{t}/sources`
pub async fn list(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(setting::list(&app, &t).await?).into_response())
}

/// `GET /admin/tenants/{t}/sources/{name}`
pub async fn get(
    State(app): State<AppState>,
    _: Admin,
    Path((raw, name)): Path<(String, String)>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(setting::get(&app, &t, &name).await?).into_response())
}

/// `PUT /admin/tenants/{t}/sources/{name}`: 200 with the source as `GET` shows it.
pub async fn put(
    State(app): State<AppState>,
    _: Admin,
    Path((raw, name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(setting::put(&app, &t, &name, &body).await?).into_response())
}

/// `DELETE /admin/tenants/{t}/sources/{name}`
pub async fn delete(
    State(app): State<AppState>,
    _: Admin,
    Path((raw, name)): Path<(String, String)>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    setting::remove(&app, &t, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/tenants/{t}/sources/{name}/$run` (optional `{"full": true}`): 202 with the
/// source; a pass already queued or running is not queued twice.
pub async fn run(
    State(app): State<AppState>,
    _: Admin,
    Path((raw, name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    let full = harvest::setting::run_body(&body)?;
    harvest::queue(&app, &t, &name, full).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(setting::get(&app, &t, &name).await?),
    )
        .into_response())
}

/// `GET /admin/tenants/{t}/verification`
pub async fn get_verification(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(services::verify::setting::get(&app, &t).await?).into_response())
}

/// `PUT /admin/tenants/{t}/verification`
pub async fn put_verification(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(services::verify::setting::put(&app, &t, &body).await?).into_response())
}

/// `GET [base]/OperationDefinition/verify`
pub async fn verify_definition(_ctx: Ctx) -> AppResult<Response> {
    Ok(fhir_json(
        StatusCode::OK,
        services::verify::definition::definition().to_string(),
    ))
}

/// `GET [base]/OperationDefinition/match`
pub async fn match_definition(_ctx: Ctx) -> AppResult<Response> {
    Ok(fhir_json(
        StatusCode::OK,
        services::matching::definition().to_string(),
    ))
}
