//! Federation: a tenant's upstream setting (`/admin/tenants/{t}/upstream`, admin token) and
//! the tenant's receiving endpoint for the upstream's notifications
//! (`POST /fhir/{t}/upstream/notify`, the setting's secret header; see
//! [`services::federation::receive`]).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::admin::{admin_tenant, Admin};
use crate::error::AppResult;
use crate::extract::RawBody;
use crate::state::AppState;
use services::federation::{self, setting};

/// `GET /admin/tenants/{t}/upstream`
pub async fn get(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(setting::get(&app, &t).await?).into_response())
}

/// `PUT /admin/tenants/{t}/upstream` with `{"url": ..., "types": [...], "client_id": ...,
/// "private_key": ...}`
pub async fn put(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(setting::set(&app, &t, &body).await?).into_response())
}

/// `DELETE /admin/tenants/{t}/upstream`
pub async fn delete(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    setting::remove(&app, &t).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /fhir/{t}/upstream/notify`: 200 once applied.
pub async fn notify(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let secret = headers
        .get(federation::SECRET_HEADER)
        .and_then(|v| v.to_str().ok());
    // A name that is no tenant is answered as a wrong secret: the caller learns nothing.
    let tenant = store::TenantName::parse(&raw).ok();
    let Some(tenant) = tenant else {
        return Err(services::error::Error::unauthorized(format!(
            "notifications for a replica tenant need the {} header its Subscriptions carry",
            federation::SECRET_HEADER
        ))
        .into());
    };
    federation::receive::notification(&app, &tenant, secret, &body).await?;
    Ok(StatusCode::OK.into_response())
}
