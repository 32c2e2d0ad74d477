//! The fhirdir HTTP server: an axum router mapping the FHIR R4 RESTful API
//! (<https://hl7.org/fhir/R4/http.html>) onto the [`store::Store`], per tenant.

pub mod config;
pub mod cursor;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod response;
pub mod routes;
pub mod service;
pub mod state;

use std::future::Future;
use std::sync::Arc;

pub use config::ServerConfig;
pub use routes::{router, router_with};
pub use state::{App, AppState};

/// Builds the shared state. `base_url` falls back to `http://{bound}`.
pub fn app_state(
    store: store::Store,
    config: ServerConfig,
    bound: std::net::SocketAddr,
) -> AppState {
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
        .trim_end_matches('/')
        .to_owned();
    let cursors = cursor::CursorKey::new(config.cursor_secret.as_deref());
    let registry = conformance::Registry::builtin();
    let extractor = search::Extractor::new(registry.clone());
    for (url, error) in extractor.failed() {
        tracing::warn!(%url, %error, "search parameter expression does not compile; not indexed");
    }
    AppState(Arc::new(App {
        store,
        config,
        base_url,
        cursors,
        registry,
        extractor,
        metrics: metrics::Metrics::default(),
        started: fhir::meta::format_instant(chrono::Utc::now()),
    }))
}

/// Serves on `listener` until `shutdown` completes; in-flight requests then finish before
/// this returns (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: store::Store,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = app_state(store, config, listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
