//! A tenant's authorization endpoints, public whatever its read policy:
//! `.well-known/smart-configuration`, `.well-known/udap`, the JWK Set of its token-signing
//! keys, the token endpoint and UDAP registration. The token and registration endpoints
//! answer RFC 6749 JSON errors, not OperationOutcomes, and are never cached.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use services::auth::discovery::{self, UdapMetadata};
use services::auth::oauth::OAuthError;
use services::auth::{registration, token};
use store::TenantName;

use crate::error::{AppError, AppResult};
use crate::extract::RawBody;
use crate::state::AppState;

/// An OAuth endpoint's answer: JSON with `Cache-Control: no-store` and `Pragma: no-cache`
/// (RFC 6749 §5.1).
struct OAuthJson(StatusCode, serde_json::Value);

impl IntoResponse for OAuthJson {
    fn into_response(self) -> Response {
        let mut resp = (self.0, Json(self.1)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        resp
    }
}

impl From<OAuthError> for OAuthJson {
    fn from(e: OAuthError) -> OAuthJson {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        OAuthJson(status, e.body())
    }
}

/// The tenant of the path, known to exist (404 OperationOutcome otherwise).
async fn tenant(app: &AppState, raw: &str) -> Result<TenantName, AppError> {
    Ok(app.app.context(raw, None, None).await?.tenant().clone())
}

/// `GET {base}/.well-known/smart-configuration`
pub async fn smart_configuration(
    State(app): State<AppState>,
    Path(raw): Path<String>,
) -> AppResult<Response> {
    let t = tenant(&app, &raw).await?;
    Ok(Json(discovery::smart_configuration(&app, &t)).into_response())
}

/// `GET {base}/auth/jwks`
pub async fn jwks(State(app): State<AppState>, Path(raw): Path<String>) -> AppResult<Response> {
    let t = tenant(&app, &raw).await?;
    let body = discovery::jwks(&app, &t).await?;
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    Ok(resp)
}

#[derive(serde::Deserialize)]
pub struct CommunityQuery {
    community: Option<String>,
}

/// `GET {base}/.well-known/udap[?community=uri]`: 404 when the tenant takes part in no
/// community, 204 for a community it is not in (FAST Security STU2 §2.3).
pub async fn udap(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<CommunityQuery>,
) -> AppResult<Response> {
    let t = tenant(&app, &raw).await?;
    Ok(
        match discovery::udap_metadata(&app, &t, q.community.as_deref()).await? {
            UdapMetadata::Found(doc) => Json(doc).into_response(),
            UdapMetadata::UnknownCommunity => StatusCode::NO_CONTENT.into_response(),
            UdapMetadata::NoCommunity => {
                return Err(services::Error::not_found(format!(
                    "tenant {t} takes part in no UDAP trust community"
                ))
                .into())
            }
        },
    )
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// `POST {base}/auth/token` with an `application/x-www-form-urlencoded` body.
pub async fn token(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let t = match tenant(&app, &raw).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    if content_type(&headers) != "application/x-www-form-urlencoded" {
        return OAuthJson::from(OAuthError::invalid_request(
            "send the token request as application/x-www-form-urlencoded",
        ))
        .into_response();
    }
    let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            return OAuthJson::from(OAuthError::invalid_request(format!("malformed form: {e}")))
                .into_response()
        }
    };
    match token::token(&app, &t, &form).await {
        Ok(answer) => OAuthJson(StatusCode::OK, serde_json::json!(answer)).into_response(),
        Err(e) => OAuthJson::from(e).into_response(),
    }
}

/// `POST {base}/auth/register`: UDAP dynamic client registration, JSON only (else 415).
pub async fn register(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let t = match tenant(&app, &raw).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    if content_type(&headers) != "application/json" {
        let mut resp = OAuthJson::from(OAuthError::invalid_client_metadata(
            "send the registration request as application/json",
        ))
        .into_response();
        *resp.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return resp;
    }
    match registration::register(&app, &t, &body).await {
        Ok(r) => {
            let status = if r.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            OAuthJson(status, r.body).into_response()
        }
        Err(e) => OAuthJson::from(e).into_response(),
    }
}
