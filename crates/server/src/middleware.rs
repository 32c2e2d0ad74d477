//! Cross-cutting request handling: metrics, format negotiation (JSON only), panics, and the
//! 404/405 fallbacks, all answering with OperationOutcomes.

use std::any::Any;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, Error};
use crate::state::AppState;

/// Request ids: a random per-process prefix and a counter. Unique like a UUID per request,
/// but without asking the OS for randomness on every request (measurable on the read path).
#[derive(Clone)]
pub struct RequestIds {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    pub fn new() -> RequestIds {
        let prefix = uuid::Uuid::new_v4().simple().to_string();
        RequestIds {
            prefix: prefix[..12].into(),
            next: Default::default(),
        }
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

impl tower_http::request_id::MakeRequestId for RequestIds {
    fn make_request_id<B>(
        &mut self,
        _: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// Records each request in [`crate::metrics::Metrics`] under its route template.
pub async fn track_metrics(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let resp = next.run(req).await;
    app.metrics.record(
        &route,
        method.as_str(),
        resp.status().as_u16(),
        start.elapsed(),
    );
    resp
}

/// Writes running on their own tasks at once, per process (see [`finish_writes`]).
pub const MAX_WRITES_IN_FLIGHT: usize = 64;

/// Runs every request that may write (any method but GET, HEAD and OPTIONS, and no `_search`)
/// on its own task, so that a client hanging up cannot stop it half-way: the write commits or
/// rolls back as a whole, and what follows a commit in memory (a SearchParameter's registry
/// reload) happens too. A read is left cancellable: its statements stop when the client goes
/// away.
///
/// At most [`MAX_WRITES_IN_FLIGHT`] such tasks run at once: a client that sends writes and
/// hangs up at once must not pile up work the connection cap no longer sees. A request waiting
/// for its turn is still cancellable (nothing has started).
pub async fn finish_writes(req: Request, next: Next) -> Response {
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        // POST [base]/[type]/_search is a search (https://hl7.org/fhir/R4/http.html#search).
        || req.uri().path().ends_with("/_search");
    if reads {
        return next.run(req).await;
    }
    static IN_FLIGHT: tokio::sync::Semaphore =
        tokio::sync::Semaphore::const_new(MAX_WRITES_IN_FLIGHT);
    let Ok(permit) = IN_FLIGHT.acquire().await else {
        return AppError(Error::internal("the write limiter is closed")).into_response();
    };
    let task = tokio::spawn(async move {
        let resp = next.run(req).await;
        drop(permit);
        resp
    });
    match task.await {
        Ok(resp) => resp,
        // Re-raised here, where the panic layer turns it into a 500 OperationOutcome.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => AppError(Error::internal("the request's task was cancelled")).into_response(),
    }
}

/// `_format` values that mean JSON (<https://hl7.org/fhir/R4/http.html#mime-type>).
fn format_is_json(v: &str) -> bool {
    let essence = v.split(';').next().unwrap_or_default().trim();
    matches!(
        essence,
        "json" | "application/json" | "application/fhir+json" | "application/json+fhir"
    )
}

/// True when an `Accept` header admits a JSON response.
fn accept_admits_json(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
        !refused
            && matches!(
                essence.as_str(),
                "*/*"
                    | "application/*"
                    | "application/json"
                    | "application/fhir+json"
                    | "application/json+fhir"
            )
    })
}

/// Answers 406 when the client asks for anything but JSON (`_format` wins over `Accept`, as
/// the spec says).
pub async fn negotiate_format(req: Request, next: Next) -> Response {
    let format = req.uri().query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "_format")
            .map(|(_, v)| v)
    });
    if let Some(f) = format {
        if !format_is_json(&f) {
            return AppError(Error::not_acceptable(format!(
                "_format={f:?} is not supported: this server speaks JSON only"
            )))
            .into_response();
        }
    } else if let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    {
        if !accept.trim().is_empty() && !accept_admits_json(accept) {
            return AppError(Error::not_acceptable(format!(
                "Accept {accept:?} admits no format this server produces: use application/fhir+json"
            )))
            .into_response();
        }
    }
    next.run(req).await
}

/// A handler that panicked: log it, answer 500 with an OperationOutcome, keep serving.
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    AppError(Error::internal(format!("handler panicked: {detail}"))).into_response()
}

/// Routes that do not exist.
pub async fn not_found(method: Method, uri: axum::http::Uri) -> AppError {
    Error::not_found(format!("no route for {method} {}", uri.path())).into()
}

/// A known route called with a method it does not support.
pub async fn method_not_allowed(method: Method) -> Response {
    let mut resp = AppError(Error::method_not_allowed(method.as_str())).into_response();
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        for ok in [
            "application/fhir+json",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "application/json",
            "application/*",
        ] {
            assert!(accept_admits_json(ok), "{ok}");
        }
        for bad in [
            "application/fhir+xml",
            "application/xml, text/xml",
            "*/*;q=0",
            "text/turtle",
        ] {
            assert!(!accept_admits_json(bad), "{bad}");
        }
    }

    #[test]
    fn format_parameter() {
        assert!(format_is_json("json"));
        assert!(format_is_json("application/fhir+json"));
        assert!(!format_is_json("xml"));
        assert!(!format_is_json("application/fhir+xml"));
    }
}
