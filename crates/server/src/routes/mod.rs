//! The route tree. Handlers are thin: extract, call one service function, shape the response.

mod admin;
mod auth;
mod bulk;
mod finder;
mod health;
mod history;
mod metadata;
mod operation;
mod page;
mod reindex;
mod resource;
mod search;
mod sources;
mod upstream;
mod validation;

use axum::http::{header, HeaderName, Method};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::extract::request_context;
use crate::middleware::{
    finish_writes, method_not_allowed, negotiate_format, not_found, panic_response, track_metrics,
};
use crate::state::AppState;

/// Every route of the server, with its middleware.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// [`router`] plus `extra` routes, merged *before* the middleware so they run under exactly
/// the same layers (panic handling, metrics, request ids). Used by tests to prove what the
/// layers do for a handler; deployments call [`router`].
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let fhir = Router::new()
        .route("/fhir/{tenant}", post(metadata::bundle))
        .route("/fhir/{tenant}/metadata", get(metadata::capabilities))
        .route("/fhir/{tenant}/_history", get(history::system))
        .route(
            "/fhir/{tenant}/$reindex",
            get(reindex::list).post(reindex::kick_off),
        )
        .route(
            "/fhir/{tenant}/$reindex/{job}",
            get(reindex::status).delete(reindex::cancel),
        )
        .route(
            "/fhir/{tenant}/$export",
            get(bulk::system).post(bulk::system),
        )
        .route(
            "/fhir/{tenant}/$export/{job}",
            get(bulk::status).delete(bulk::cancel),
        )
        .route("/fhir/{tenant}/$import", post(bulk::import))
        .route(
            "/fhir/{tenant}/$import/{job}",
            get(bulk::import_status).delete(bulk::import_cancel),
        )
        .route(
            "/fhir/{tenant}/$find-providers",
            get(finder::get).post(finder::post),
        )
        .route(
            "/fhir/{tenant}/OperationDefinition/find-providers",
            get(finder::definition),
        )
        .route(
            "/fhir/{tenant}/OperationDefinition/verify",
            get(sources::verify_definition),
        )
        .route(
            "/fhir/{tenant}/OperationDefinition/match",
            get(sources::match_definition),
        )
        .route(
            "/fhir/{tenant}/{type}",
            get(search::get)
                .post(resource::create)
                .put(resource::conditional_update)
                .patch(resource::conditional_patch)
                .delete(resource::conditional_delete),
        )
        .route("/fhir/{tenant}/{type}/_history", get(history::type_level))
        .route("/fhir/{tenant}/{type}/_search", post(search::post))
        .route(
            "/fhir/{tenant}/{type}/{id}",
            get(operation::type_get)
                .post(operation::type_post)
                .put(resource::update)
                .patch(resource::patch)
                .delete(resource::delete),
        )
        .route(
            "/fhir/{tenant}/{type}/{id}/_history",
            get(history::instance),
        )
        .route(
            "/fhir/{tenant}/{type}/{id}/{operation}",
            get(operation::instance_get).post(operation::instance_post),
        )
        .route(
            "/fhir/{tenant}/{type}/{id}/_history/{vid}",
            get(resource::vread),
        )
        // Inside the format check: a 406 is answered before the tenant is looked up.
        .route_layer(from_fn_with_state(state.clone(), request_context))
        .layer(from_fn(negotiate_format));
    // Export files are NDJSON, which the FHIR routes' format check would refuse (406).
    let files = Router::new()
        .route("/fhir/{tenant}/$export/{job}/{file}", get(bulk::file))
        .route_layer(from_fn_with_state(state.clone(), request_context));

    Router::new()
        .merge(fhir)
        .merge(files)
        .merge(extra)
        .route("/", get(page::root))
        .route("/find/{tenant}", get(page::tenant))
        .route("/find-assets/find.js", get(page::script))
        .route("/find-assets/find.css", get(page::style))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/admin/tenants", get(admin::list).post(admin::create))
        .route("/admin/tenants/{name}", delete(admin::delete))
        .route(
            "/admin/tenants/{name}/access",
            get(admin::get_access).put(admin::put_access),
        )
        .route(
            "/admin/tenants/{name}/restrictions",
            get(admin::get_restrictions).put(admin::put_restrictions),
        )
        .route(
            "/admin/tenants/{name}/events",
            get(admin::get_events).put(admin::put_events),
        )
        .route(
            "/admin/tenants/{name}/clients",
            get(admin::list_clients).post(admin::add_client),
        )
        .route(
            "/admin/tenants/{name}/clients/{id}",
            get(admin::get_client).delete(admin::delete_client),
        )
        .route(
            "/admin/tenants/{name}/udap/communities",
            get(admin::list_communities),
        )
        .route(
            "/admin/tenants/{name}/udap/communities/{community}",
            put(admin::put_community).delete(admin::delete_community),
        )
        .route(
            "/admin/tenants/{name}/keys/rotate",
            post(admin::rotate_keys),
        )
        .route("/admin/tenants/{name}/auth-events", get(admin::auth_events))
        .route(
            "/admin/tenants/{name}/validation",
            get(validation::get_setting).put(validation::put_setting),
        )
        .route(
            "/admin/tenants/{name}/verification",
            get(sources::get_verification).put(sources::put_verification),
        )
        .route("/admin/tenants/{name}/sources", get(sources::list))
        .route(
            "/admin/tenants/{name}/sources/{source}",
            get(sources::get).put(sources::put).delete(sources::delete),
        )
        .route(
            "/admin/tenants/{name}/sources/{source}/$run",
            post(sources::run),
        )
        .route(
            "/admin/tenants/{name}/upstream",
            get(upstream::get)
                .put(upstream::put)
                .delete(upstream::delete),
        )
        // A tenant's authorization endpoints: outside the FHIR routes' layers, so they stay
        // public (no bearer token is read) and answer JSON whatever the Accept header.
        .route(
            "/fhir/{tenant}/.well-known/smart-configuration",
            get(auth::smart_configuration),
        )
        .route("/fhir/{tenant}/.well-known/udap", get(auth::udap))
        .route("/fhir/{tenant}/auth/jwks", get(auth::jwks))
        .route("/fhir/{tenant}/auth/token", post(auth::token))
        .route("/fhir/{tenant}/auth/register", post(auth::register))
        // A replica tenant's receiving endpoint: the upstream authenticates with the secret
        // header of our Subscriptions, not with a token of ours.
        .route("/fhir/{tenant}/upstream/notify", post(upstream::notify))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn(finish_writes))
        // Catch panics inside the metrics layer, so a panicking request is counted as the
        // 500 it becomes (the other way round, the unwind skips the recording).
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(state.clone(), track_metrics))
        .layer(CompressionLayer::new())
        .layer(cors(&state.config.cors_origins))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(
            crate::middleware::RequestIds::new(),
        ))
        .with_state(state)
}

/// CORS for browser apps: a public directory is read from any origin by default.
fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(Any)
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::CONTENT_LOCATION,
            header::LAST_MODIFIED,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-progress"),
        ]);
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<_> = origins.iter().filter_map(|o| o.parse().ok()).collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}
