//! Shaping FHIR responses: content type, ETag, Last-Modified, Location.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};

/// The content type of every FHIR body fhirdir sends.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A response with a FHIR JSON body.
pub fn fhir_json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    resp
}

/// `W/"n"`, the weak ETag FHIR uses for versions
/// (<https://hl7.org/fhir/R4/http.html#versioning>).
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{version}\""))
        .unwrap_or(HeaderValue::from_static("W/\"0\""))
}

/// Adds `ETag` and `Last-Modified` for one version.
pub fn set_version_headers(resp: &mut Response, version: i64, last_updated: DateTime<Utc>) {
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag(version));
    if let Ok(v) = HeaderValue::from_str(&fhir::meta::http_date(last_updated)) {
        h.insert(header::LAST_MODIFIED, v);
    }
}

/// Adds `Location` and `Content-Location` (both the versioned URL of the new version).
pub fn set_location(resp: &mut Response, url: &str) {
    if let Ok(v) = HeaderValue::from_str(url) {
        resp.headers_mut().insert(header::LOCATION, v.clone());
        resp.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
}
