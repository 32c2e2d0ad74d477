//! `/admin/tenants`: list, create, delete, and each tenant's authorization settings (access
//! policy, clients, UDAP communities, key rotation, the event record); guarded by the bearer token
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
use services::{auth, tenants};

/// Proof that the caller presented the admin token.
pub struct Admin;

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
        if auth::constant_time_eq(presented.trim().as_bytes(), expected.as_bytes()) {
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

/// The tenant named in an admin path: 404 when it does not exist.
pub(super) async fn admin_tenant(app: &AppState, raw: &str) -> AppResult<store::TenantName> {
    Ok(app.app.context(raw, None, None).await?.tenant().clone())
}

/// `GET /admin/tenants/{t}/access`
pub async fn get_access(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(auth::policy::get(&app, &t).await?).into_response())
}

/// `PUT /admin/tenants/{t}/access` with `{"anonymous_read": true|false}`
pub async fn put_access(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(auth::policy::set(&app, &t, &body).await?).into_response())
}

/// `GET /admin/tenants/{t}/restrictions`
pub async fn get_restrictions(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(services::restriction_settings::get(&app, &t).await?).into_response())
}

/// `PUT /admin/tenants/{t}/restrictions` with `{"restricting_labels": ["R", "V"]}`
pub async fn put_restrictions(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(services::restriction_settings::set(&app, &t, &body).await?).into_response())
}

/// `GET /admin/tenants/{t}/events`
pub async fn get_events(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(services::event_retention::get(&app, &t).await?).into_response())
}

/// `PUT /admin/tenants/{t}/events` with `{"retention_days": 30}`
pub async fn put_events(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(services::event_retention::set(&app, &t, &body).await?).into_response())
}

/// `GET /admin/tenants/{t}/clients`
pub async fn list_clients(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    let clients = auth::clients::list(&app, &t).await?;
    Ok(Json(json!({ "clients": clients })).into_response())
}

/// `POST /admin/tenants/{t}/clients`
pub async fn add_client(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    let client = auth::clients::add(&app, &t, &body).await?;
    Ok((StatusCode::CREATED, Json(client)).into_response())
}

/// `GET /admin/tenants/{t}/clients/{id}`
pub async fn get_client(
    State(app): State<AppState>,
    _: Admin,
    Path((raw, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    Ok(Json(auth::clients::get(&app, &t, &id).await?).into_response())
}

/// `DELETE /admin/tenants/{t}/clients/{id}`
pub async fn delete_client(
    State(app): State<AppState>,
    _: Admin,
    Path((raw, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let t = admin_tenant(&app, &raw).await?;
    auth::clients::remove(&app, &t, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/tenants/{t}/udap/communities`
pub async fn list_communities(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    let communities = auth::communities::list(&app, &t).await?;
    Ok(Json(json!({ "communities": communities })).into_response())
}

/// `PUT /admin/tenants/{t}/udap/communities/{name}`: 201 when new, 200 when replaced.
pub async fn put_community(
    State(app): State<AppState>,
    _: Admin,
    Path((raw, name)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    let (created, view) = auth::communities::put(&app, &t, &name, &body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

/// `DELETE /admin/tenants/{t}/udap/communities/{name}`
pub async fn delete_community(
    State(app): State<AppState>,
    _: Admin,
    Path((raw, name)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let t = admin_tenant(&app, &raw).await?;
    auth::communities::delete(&app, &t, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/tenants/{t}/keys/rotate`: a new token-signing key; tokens signed by the old
/// one stay valid until they expire.
pub async fn rotate_keys(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    let kid = app.rotate_keys(&t).await?;
    Ok(Json(json!({ "kid": kid })).into_response())
}

/// `GET /admin/tenants/{t}/auth-events`: the latest 200 authorization events.
pub async fn auth_events(
    State(app): State<AppState>,
    _: Admin,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = admin_tenant(&app, &raw).await?;
    let events = auth::events::recent(&app, &t, 200).await?;
    Ok(Json(json!({ "events": events })).into_response())
}
