//! The find-a-doctor web page: `/` (the one public tenant's page, or a choice of tenants),
//! `/find/{tenant}`, and its two assets. The page is static and embedded in the binary; it
//! reads the FHIR API like any app. Its Content-Security-Policy allows only this origin, so it
//! works offline and can load nothing from elsewhere.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::AppResult;
use crate::state::AppState;

const PAGE: &str = include_str!("../../assets/find.html");
const SCRIPT: &str = include_str!("../../assets/find.js");
const STYLE: &str = include_str!("../../assets/find.css");

/// Scripts, styles, fetches and images from this origin only (`data:` for none needed).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The page for one tenant (tenant names are `[a-z0-9-]`: nothing to escape).
fn page(tenant: &str) -> String {
    PAGE.replace("{{FHIR_BASE}}", &format!("/fhir/{tenant}"))
        .replace("{{TENANT}}", tenant)
}

/// `GET /`: the page of the only public tenant, or links to each.
pub async fn root(State(state): State<AppState>) -> AppResult<Response> {
    let tenants = services::tenants::publicly_readable(&state.app).await?;
    if let [only] = tenants.as_slice() {
        return Ok(html(StatusCode::OK, page(only.as_str())));
    }
    let items: String = tenants
        .iter()
        .map(|t| format!("<li><a href=\"/find/{t}\">{t}</a></li>"))
        .collect();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Find a doctor — fhirdir</title><link rel=\"stylesheet\" href=\"/find-assets/find.css\">\
         </head><body><header><h1>Find a doctor</h1></header><main><h2>Choose a directory</h2>\
         <ul>{items}</ul></main></body></html>"
    );
    Ok(html(StatusCode::OK, body))
}

/// `GET /find/{tenant}`
pub async fn tenant(State(state): State<AppState>, Path(raw): Path<String>) -> AppResult<Response> {
    match services::tenants::public_tenant(&state.app, &raw).await {
        Ok(t) => Ok(html(StatusCode::OK, page(t.as_str()))),
        Err(e) if e.status() == StatusCode::NOT_FOUND => Ok(html(
            StatusCode::NOT_FOUND,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title>\
             </head><body><p>No such directory.</p></body></html>"
                .to_owned(),
        )),
        Err(e) => Err(e.into()),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /find-assets/find.js`
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /find-assets/find.css`
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
