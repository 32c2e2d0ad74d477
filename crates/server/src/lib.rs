//! The fhirdir HTTP server: an axum router mapping the FHIR R4 RESTful API
//! (<https://hl7.org/fhir/R4/http.html>) onto the [`store::Store`], per tenant.

pub mod config;
pub mod error;
pub mod extract;
pub mod listener;
pub mod metrics;
pub mod middleware;
pub mod response;
pub mod routes;
pub mod state;

use std::future::Future;
use std::sync::Arc;

pub use config::{default_stale_after, ServerConfig};
pub use routes::{router, router_with};
pub use state::{App, AppState, ServerState};

/// Builds the shared state over the built-in search parameters only. `base_url` falls back
/// to `http://{bound}`.
pub fn app_state(
    store: store::Store,
    config: ServerConfig,
    bound: std::net::SocketAddr,
) -> AppState {
    app_state_with(store, config, bound, Vec::new(), Default::default())
}

/// [`app_state`] with `loaded`: SearchParameters read from `profiles/` or FHIR packages
/// ([`conformance::package`]), which extend the built-in registry for every tenant; and
/// `profiles`, the packages tenants may validate against.
pub fn app_state_with(
    store: store::Store,
    config: ServerConfig,
    bound: std::net::SocketAddr,
    loaded: Vec<conformance::SearchParamDef>,
    profiles: services::validation::Library,
) -> AppState {
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
        .trim_end_matches('/')
        .to_owned();
    let settings = services::Settings {
        base_url,
        max_body_bytes: config.max_body_bytes,
        default_count: config.default_count,
        max_count: config.max_count,
        max_bundle_entries: config.max_bundle_entries,
        cursor_secret: config.cursor_secret.clone(),
        auth_enforced: config.auth_enforced,
        outbound_allow: config.outbound_allow.clone(),
        stale_after: config.stale_after,
        subscription_give_up: config.subscription_give_up,
        export: config.export.clone(),
        import_dir: config.import_dir.clone(),
    };
    AppState(Arc::new(ServerState {
        app: Arc::new(App::new(store, settings, loaded).with_profiles(profiles)),
        config,
        metrics: metrics::Metrics::default(),
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
    serve_state(listener, state, shutdown).await
}

/// Serves `state` (from [`app_state_with`]) on `listener` until `shutdown` completes, with
/// the background jobs runner ([`services::jobs`]), the subscription delivery worker
/// ([`services::subscriptions::delivery`]) and the federation worker
/// ([`services::federation::worker`]) running meanwhile.
pub async fn serve_state(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let runner = services::jobs::spawn(state.app.clone());
    let delivery = services::subscriptions::delivery::spawn(state.app.clone());
    let federation = services::federation::worker::spawn(state.app.clone());
    let limits = state.config.connections;
    let result = listener::serve(listener, router(state), limits, shutdown).await;
    if let Some(runner) = runner {
        runner.abort();
    }
    delivery.abort();
    federation.abort();
    result
}
