//! `/admin/tenants`: list, create, delete; guarded by the bearer token
//! `FHIRDIR_ADMIN_TOKEN` (401 without credentials, 403 with wrong ones or when no token is
//! configured).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::error::{AppError, AppResult, Error};
use crate::extract::RawBody;
use crate::state::AppState;
use services::tenants;

/// Proof that the caller presented the admin token.
pub struct Admin;

/// Compares in time independent of where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, AppError> {
        let Some(expected) = app.config.admin_token.as_deref().filter(|t| !t.is_empty()) else {
            return Err(Error::forbidden(
                "the admin API is disabled: set FHIRDIR_ADMIN_TOKEN to enable it",
            )
            .into());
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Error::unauthorized("the admin API needs Authorization: Bearer <token>")
            })?;
        if constant_time_eq(presented.trim().as_bytes(), expected.as_bytes()) {
            Ok(Admin)
        } else {
            Err(Error::forbidden("the admin token is not valid").into())
        }
    }
}

/// `GET /admin/tenants`
pub async fn list(State(app): State<AppState>, _: Admin) -> AppResult<Response> {
    let tenants: Vec<_> = tenants::list(&app)
        .await?
        .into_iter()
        .map(|t| json!({"name": t.name, "created": fhir::meta::format_instant(t.created_at)}))
        .collect();
    Ok(Json(json!({ "tenants": tenants })).into_response())
}

#[derive(Deserialize)]
pub struct NewTenant {
    name: String,
}

/// `POST /admin/tenants` with `{"name": "..."}`
pub async fn create(
    State(app): State<AppState>,
    _: Admin,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let NewTenant { name } = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid(format!("expected a JSON body {{\"name\": \"...\"}}: {e}")))?;
    let tenant = tenants::create(&app, &name).await?;
    let mut resp = (StatusCode::CREATED, Json(json!({"name": tenant.as_str()}))).into_response();
    if let Ok(v) = format!("{}/fhir/{}", app.settings.base_url, tenant).parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `DELETE /admin/tenants/{name}`
pub async fn delete(
    State(app): State<AppState>,
    _: Admin,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> AppResult<StatusCode> {
    let Path(name) =
        name.map_err(|e| Error::invalid(format!("malformed tenant name in the path: {e}")))?;
    tenants::delete(&app, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
