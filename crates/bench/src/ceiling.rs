//! The ceiling: a bare axum handler on fhirdir's read route shape
//! (`/fhir/{tenant}/{type}/{id}`) that answers every GET with the same JSON bytes from
//! memory, with fhirdir's content type, an ETag and a Last-Modified. Throughput of fhirdir's
//! read divided by this is the ratio BENCHMARKS.md reports.
//!
//! With `--middleware` the handler is wrapped in the same middleware stack as fhirdir's
//! router (`server::routes::router`: request ids, tracing, CORS, compression, panic catching,
//! metrics, format negotiation), which separates the cost of the stack from the cost of the
//! database read; `--layers a,b` applies only some of them, to price each one. Keep the
//! layer list in step with the server's.

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

/// The middleware layers of `server::routes::router`, innermost first.
pub const LAYERS: [&str; 7] = [
    "negotiate",
    "metrics",
    "catch-panic",
    "compression",
    "cors",
    "request-id",
    "trace",
];

/// Serves `body` on `listen` until killed, wrapped in `layers` (names from [`LAYERS`]);
/// prints `... listening on http://ADDR` first.
pub async fn serve(listen: &str, body: Bytes, layers: &[String]) -> anyhow::Result<()> {
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
    let mut app = Router::new().route("/fhir/{tenant}/{type}/{id}", get(handler));
    if !layers.is_empty() {
        // fhirdir's log set-up, so disabled spans and events cost what they cost there.
        let filter = tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
        // The metrics layer needs the app state; an in-memory store is never queried here.
        let store =
            store::Store::connect("sqlite::memory:", &store::StoreOptions::default()).await?;
        let state = server::app_state(store, server::ServerConfig::auth_off(), addr);
        for name in LAYERS.iter().filter(|l| layers.iter().any(|x| x == *l)) {
            app = layer(app, name, &state);
        }
        if let Some(bad) = layers.iter().find(|l| !LAYERS.contains(&l.as_str())) {
            anyhow::bail!("unknown layer {bad:?}; known: {}", LAYERS.join(","));
        }
    }
    println!(
        "fhirdir-bench ceiling listening on http://{addr} (middleware: {})",
        if layers.is_empty() {
            "none".to_owned()
        } else {
            layers.join(",")
        }
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// Wraps `app` in one of fhirdir's layers, configured as `server::routes::router` does.
fn layer(app: Router, name: &str, state: &server::AppState) -> Router {
    match name {
        "negotiate" => app.layer(from_fn(server::middleware::negotiate_format)),
        "metrics" => app.layer(from_fn_with_state(
            state.clone(),
            server::middleware::track_metrics,
        )),
        "catch-panic" => app.layer(CatchPanicLayer::custom(server::middleware::panic_response)),
        "compression" => app.layer(CompressionLayer::new()),
        "cors" => app.layer(
            CorsLayer::new()
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers(Any)
                .expose_headers([header::ETAG, HeaderName::from_static("x-request-id")])
                .allow_origin(Any),
        ),
        "request-id" => app
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid)),
        "trace" => app.layer(TraceLayer::new_for_http()),
        _ => app,
    }
}
