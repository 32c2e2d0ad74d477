//! `/healthz` (process alive), `/readyz` (database reachable, migrations applied) and
//! `/metrics` (Prometheus text).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(app): State<AppState>) -> Response {
    match app.store.ready().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: database unreachable or migrations pending\n",
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut text = app
        .metrics
        .render(app.store.pool_stats(), app.store.backend());
    match services::federation::metrics(&app).await {
        Ok(lines) => text.push_str(&lines),
        Err(e) => tracing::warn!(error = %e.diagnostics(), "metrics: replication lag unavailable"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
