//! The one place where errors become HTTP responses: [`AppError`] wraps the services' error
//! ([`services::Error`], which holds the status/issue-code table), so that axum can answer
//! with it. Every error response is an OperationOutcome
//! (<https://hl7.org/fhir/R4/http.html#2.21.0.7>) with the headers its status calls for; the
//! detail of a 5xx goes to the log, never to the client.

use axum::response::{IntoResponse, Response};

use crate::response::fhir_json;

pub use services::Error;

pub type AppResult<T> = Result<T, AppError>;

/// A [`services::Error`] on its way to the client.
#[derive(Debug)]
pub struct AppError(pub Error);

impl<E: Into<Error>> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError(e.into())
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let e = self.0;
        if e.status().is_server_error() {
            tracing::error!(error = %e, status = %e.status(), "request failed");
        }
        let mut resp = fhir_json(e.status(), e.outcome().to_json().to_string());
        for (name, value) in e.headers() {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
        resp
    }
}
