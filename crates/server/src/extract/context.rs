//! The request context ([`services::RequestCtx`]) of every `/fhir/{tenant}` request: built
//! once by [`request_context`], a layer on those routes, and handed to the handler by the
//! [`Ctx`] extractor. An unknown tenant is answered 404 here, before any handler runs.

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use services::{Principal, RequestCtx};

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
    Ok(state
        .app
        .context(tenant, Principal::Anonymous, request_id)
        .await?)
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
