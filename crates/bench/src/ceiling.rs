//! The ceiling: a bare axum handler on fhirdir's read route shape
//! (`/fhir/{tenant}/{type}/{id}`) that answers every GET with the same JSON bytes from
//! memory, with fhirdir's content type, an ETag and a Last-Modified. Throughput of fhirdir's
//! read divided by this is the ratio BENCHMARKS.md reports.
//!
//! With `--middleware` the handler is wrapped in the same middleware stack as fhirdir's
//! router (`server::routes::router`: request ids, tracing, CORS, compression, panic catching,
//! metrics, format negotiation), which separates the cost of the stack from the cost of the
//! database read. Keep the layer list in step with the server's.

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// fhirdir's content type for FHIR JSON bodies.
const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// Serves `body` on `listen` until killed; prints `... listening on http://ADDR` first.
pub async fn serve(listen: &str, body: Bytes, middleware: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let handler = move || {
        let body = body.clone();
        async move {
            (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON)),
                    (header::ETAG, HeaderValue::from_static("W/\"1\"")),
                    (
                        header::LAST_MODIFIED,
                        HeaderValue::from_static("Sat, 21 Nov 2026 08:00:00 GMT"),
                    ),
                ],
                body,
            )
                .into_response()
        }
    };
    let fhir = Router::new().route("/fhir/{tenant}/{type}/{id}", get(handler));
    let app = if middleware {
        with_server_middleware(fhir, addr).await?
    } else {
        fhir
    };
    println!(
        "fhirdir-bench ceiling listening on http://{addr} (middleware: {})",
        if middleware { "fhirdir's" } else { "none" }
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// fhirdir's middleware stack around `fhir`, in the same order as `server::routes::router`.
async fn with_server_middleware(
    fhir: Router,
    addr: std::net::SocketAddr,
) -> anyhow::Result<Router> {
    // The metrics layer needs the app state; an in-memory store is never queried here.
    let store = store::Store::connect("sqlite::memory:", &store::StoreOptions::default()).await?;
    let state = server::app_state(store, server::ServerConfig::default(), addr);
    let cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers(Any)
        .expose_headers([header::ETAG, HeaderName::from_static("x-request-id")])
        .allow_origin(Any);
    Ok(Router::new()
        .merge(fhir.layer(from_fn(server::middleware::negotiate_format)))
        .layer(from_fn_with_state(
            state.clone(),
            server::middleware::track_metrics,
        ))
        .layer(CatchPanicLayer::custom(server::middleware::panic_response))
        .layer(CompressionLayer::new())
        .layer(cors)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid)))
}
