//! The one place where errors become HTTP responses.
//!
//! Rule (as in crates.io): `anyhow` only at the edges (CLI, jobs), a specific error type per
//! library crate, and [`AppError`] where errors reach the user. Every error response is an
//! OperationOutcome (<https://hl7.org/fhir/R4/http.html#2.21.0.7>). The detail of a 5xx goes
//! to the log, never to the client.
//!
//! | error                                   | status | issue code      |
//! |-----------------------------------------|--------|-----------------|
//! | `UnknownTenant`                         | 404    | not-found       |
//! | `UnknownResourceType`                   | 404    | not-supported   |
//! | `NotFound`                              | 404    | not-found       |
//! | `Gone` (read of a deleted resource)     | 410    | deleted         |
//! | `BadRequest`                            | 400    | as given        |
//! | `PreconditionFailed` (If-Match)         | 412    | conflict        |
//! | `Conflict`                              | 409    | conflict        |
//! | `Unauthorized`                          | 401    | login           |
//! | `Forbidden`                             | 403    | forbidden       |
//! | `MethodNotAllowed`                      | 405    | not-supported   |
//! | `NotAcceptable` (XML asked for)         | 406    | not-supported   |
//! | `PayloadTooLarge`                       | 413    | too-long        |
//! | `UnsupportedMediaType`                  | 415    | not-supported   |
//! | `Unprocessable` (a PATCH that fails)     | 422    | processing      |
//! | `NotImplemented`                        | 501    | not-supported   |
//! | `Unavailable` (database down)           | 503    | transient       |
//! | `TimedOut` (statement timeout)          | 503    | timeout         |
//! | `Internal`                              | 500    | exception       |
//!
//! A malformed search is 400 `invalid`, one over the size limits 400 `too-costly`.
//!
//! Store errors map as: `UnknownTenant` -> 404, `InvalidTenant` -> 404, `VersionConflict`
//! -> 412, `DefaultTenant` -> 409, `UnsupportedSearch` -> 400 not-supported, `InvalidCursor`
//! -> 400, a pool timeout or closed pool -> 503, a statement stopped by the query timeout ->
//! 503 `TimedOut`, anything else -> 500. Every 503 carries `Retry-After`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fhir::{IssueType, OperationOutcome};
use store::StoreError;

use crate::response::fhir_json;

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("tenant {0:?} does not exist")]
    UnknownTenant(String),
    #[error("resource type {0:?} is not a FHIR R4 resource type")]
    UnknownResourceType(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Gone(String),
    #[error("{1}")]
    BadRequest(IssueType, String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("method {method} is not allowed here")]
    MethodNotAllowed { method: String },
    #[error("{0}")]
    NotAcceptable(String),
    #[error("request body exceeds the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotImplemented(String),
    /// The request was understood but cannot be applied (a failing PATCH).
    #[error("{0}")]
    Unprocessable(String),
    #[error("the database is unavailable")]
    Unavailable(String),
    /// A statement ran into the query timeout (`--query-timeout`).
    #[error("{0}")]
    TimedOut(String),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// A 400 with issue code `invalid`.
    pub fn invalid(msg: impl Into<String>) -> Self {
        AppError::BadRequest(IssueType::Invalid, msg.into())
    }

    /// The same error with `prefix` before its diagnostic (e.g. which Bundle entry failed).
    /// Server errors keep their text: their detail is for the log only.
    pub fn context(self, prefix: &str) -> AppError {
        use AppError::*;
        let p = |m: String| format!("{prefix}: {m}");
        match self {
            UnknownTenant(t) => NotFound(p(format!("tenant {t:?} does not exist"))),
            UnknownResourceType(t) => BadRequest(
                IssueType::NotSupported,
                p(format!(
                    "resource type {t:?} is not a FHIR R4 resource type"
                )),
            ),
            NotFound(m) => NotFound(p(m)),
            Gone(m) => Gone(p(m)),
            BadRequest(c, m) => BadRequest(c, p(m)),
            PreconditionFailed(m) => PreconditionFailed(p(m)),
            Conflict(m) => Conflict(p(m)),
            Unauthorized(m) => Unauthorized(p(m)),
            Forbidden(m) => Forbidden(p(m)),
            NotAcceptable(m) => NotAcceptable(p(m)),
            UnsupportedMediaType(m) => UnsupportedMediaType(p(m)),
            NotImplemented(m) => NotImplemented(p(m)),
            Unprocessable(m) => Unprocessable(p(m)),
            other => other,
        }
    }

    pub fn status(&self) -> StatusCode {
        use AppError::*;
        match self {
            UnknownTenant(_) | UnknownResourceType(_) | NotFound(_) => StatusCode::NOT_FOUND,
            Gone(_) => StatusCode::GONE,
            BadRequest(..) => StatusCode::BAD_REQUEST,
            PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Conflict(_) => StatusCode::CONFLICT,
            Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Forbidden(_) => StatusCode::FORBIDDEN,
            MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Unavailable(_) | TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn issue_type(&self) -> IssueType {
        use AppError::*;
        match self {
            UnknownTenant(_) | NotFound(_) => IssueType::NotFound,
            UnknownResourceType(_)
            | MethodNotAllowed { .. }
            | NotAcceptable(_)
            | UnsupportedMediaType(_)
            | NotImplemented(_) => IssueType::NotSupported,
            Gone(_) => IssueType::Deleted,
            BadRequest(code, _) => *code,
            PreconditionFailed(_) | Conflict(_) => IssueType::Conflict,
            Unauthorized(_) => IssueType::Login,
            Forbidden(_) => IssueType::Forbidden,
            PayloadTooLarge(_) => IssueType::TooLong,
            Unavailable(_) => IssueType::Transient,
            TimedOut(_) => IssueType::Timeout,
            Unprocessable(_) => IssueType::Processing,
            Internal(_) => IssueType::Exception,
        }
    }

    /// The OperationOutcome the client sees. 5xx detail stays in the log.
    pub fn outcome(&self) -> OperationOutcome {
        let diagnostics = match self {
            AppError::Internal(_) => "internal server error; see the server log".to_owned(),
            AppError::Unavailable(_) => "the database is unavailable; retry later".to_owned(),
            other => other.to_string(),
        };
        OperationOutcome::error(self.issue_type(), diagnostics)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownTenant(t) | StoreError::InvalidTenant(t) => {
                AppError::UnknownTenant(t)
            }
            StoreError::VersionConflict { .. } => AppError::PreconditionFailed(e.to_string()),
            StoreError::DefaultTenant => AppError::Conflict(e.to_string()),
            e if e.is_unavailable() => AppError::Unavailable(e.to_string()),
            e if e.is_timeout() => AppError::TimedOut(
                "the request took longer than the server's query timeout; narrow the search \
                 (fewer criteria or values, no :contains on short values) or retry later"
                    .into(),
            ),
            StoreError::UnsupportedSearch(m) => AppError::BadRequest(IssueType::NotSupported, m),
            StoreError::InvalidCursor(_) => AppError::invalid(
                "the paging cursor does not fit this search; start again from the first page",
            ),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<search::SearchError> for AppError {
    fn from(e: search::SearchError) -> Self {
        let code = match &e {
            search::SearchError::TooComplex { .. } => IssueType::TooCostly,
            _ => IssueType::Invalid,
        };
        AppError::BadRequest(code, e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut resp = fhir_json(status, self.outcome().to_json().to_string());
        if let AppError::Unauthorized(_) = self {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // RFC 9110 10.2.3: when to try again.
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
