//! The request context ([`services::RequestCtx`]) of every `/fhir/{tenant}` request: built
//! once by [`request_context`], a layer on those routes, and handed to the handler by the
//! [`Ctx`] extractor. An unknown tenant is answered 404 here, before any handler runs.

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use services::RequestCtx;

use crate::error::{AppError, Error};
use crate::state::AppState;

/// The layer: resolves `{tenant}` and stores the context in the request's extensions.
pub async fn request_context(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let ctx = match context(&state, &mut parts).await {
        Ok(ctx) => ctx,
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(ctx);
    next.run(Request::from_parts(parts, body)).await
}

async fn context(state: &AppState, parts: &mut Parts) -> Result<RequestCtx, AppError> {
    let Path(segments): Path<Vec<(String, String)>> = Path::from_request_parts(parts, state)
        .await
        .map_err(|e| Error::invalid(format!("malformed path: {e}")))?;
    let tenant = segments
        .iter()
        .find(|(name, _)| name == "tenant")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let token = bearer(parts)?;
    Ok(state.app.context(tenant, token, request_id).await?)
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is
/// case-insensitive). Another scheme, or none, is an anonymous request; a `Bearer` header
/// with no token is a 401 `invalid_request`.
fn bearer(parts: &Parts) -> Result<Option<&str>, AppError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    match token.trim() {
        "" => Err(missing_token()),
        token => Ok(Some(token)),
    }
}

fn missing_token() -> AppError {
    Error::unauthorized("Authorization: Bearer carries no token")
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_request\""),
        )
        .into()
}

/// The request's context, for a handler of a `/fhir/{tenant}` route.
pub struct Ctx(pub RequestCtx);

impl std::ops::Deref for Ctx {
    type Target = RequestCtx;
    fn deref(&self) -> &RequestCtx {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .remove::<RequestCtx>()
            .map(Ctx)
            .ok_or_else(|| {
                Error::internal("a /fhir/{tenant} handler ran without the request_context layer")
                    .into()
            })
    }
}
