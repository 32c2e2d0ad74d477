//! The error of every service function: an HTTP status, the OperationOutcome issues the
//! client sees, the response headers the status calls for, and (for a 5xx) the detail that
//! goes to the log only.
//!
//! Every error response is an OperationOutcome (<https://hl7.org/fhir/R4/http.html#2.21.0.7>).
//! This module is the one table from what went wrong to status and issue code:
//!
//! | constructor                               | status | issue code      |
//! |-------------------------------------------|--------|-----------------|
//! | [`Error::unknown_tenant`]                 | 404    | not-found       |
//! | [`Error::unknown_resource_type`]          | 404    | not-supported   |
//! | [`Error::not_found`]                      | 404    | not-found       |
//! | [`Error::gone`] (read of a deleted one)   | 410    | deleted         |
//! | [`Error::invalid`], [`Error::bad_request`]| 400    | invalid / given |
//! | [`Error::precondition_failed`] (If-Match) | 412    | conflict        |
//! | [`Error::conflict`]                       | 409    | conflict        |
//! | [`Error::unauthorized`]                   | 401    | login           |
//! | [`Error::forbidden`]                      | 403    | forbidden       |
//! | [`Error::method_not_allowed`]             | 405    | not-supported   |
//! | [`Error::not_acceptable`] (XML asked for) | 406    | not-supported   |
//! | [`Error::payload_too_large`]              | 413    | too-long        |
//! | [`Error::unsupported_media_type`]         | 415    | not-supported   |
//! | [`Error::unprocessable`] (a failing PATCH)| 422    | processing      |
//! | [`Error::not_implemented`]                | 501    | not-supported   |
//! | [`Error::unavailable`] (database down)    | 503    | transient       |
//! | [`Error::timed_out`] (statement timeout)  | 503    | timeout         |
//! | [`Error::internal`]                       | 500    | exception       |
//!
//! Library errors convert once each, below: a patch as `patch::error` tabulates, a pipeline
//! refusal ([`writes::WriteError`]) as 400 `value` when the resource cannot be stored and 422
//! otherwise, a malformed search is 400 `invalid`, one over the
//! size limits 400 `too-costly`; store errors map as `UnknownTenant`/`InvalidTenant` -> 404,
//! `VersionConflict` -> 412, `DefaultTenant` -> 409, `UnsupportedSearch` -> 400
//! not-supported, `InvalidCursor` -> 400, a pool timeout or closed pool -> 503, a statement
//! stopped by the query timeout -> 503 `timeout`, anything else -> 500. Every 503 carries
//! `Retry-After` (RFC 9110 section 10.2.3); every 401 a `WWW-Authenticate` challenge.

use fhir::outcome::Issue;
use fhir::{IssueSeverity, IssueType, OperationOutcome};
use http::{header, HeaderName, HeaderValue, StatusCode};
use store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as the client will see it (see the module documentation).
#[derive(Debug, Clone)]
pub struct Error {
    status: StatusCode,
    issues: Vec<Issue>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A 5xx's cause, for the log; never sent.
    detail: Option<String>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Some(d) => f.write_str(d),
            None => f.write_str(self.diagnostics()),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// An error of `status` with one `error` issue.
    pub fn new(status: StatusCode, code: IssueType, diagnostics: impl Into<String>) -> Error {
        Error {
            status,
            issues: vec![Issue {
                severity: IssueSeverity::Error,
                code,
                diagnostics: diagnostics.into(),
                expression: Vec::new(),
            }],
            headers: Vec::new(),
            detail: None,
        }
    }

    /// An error of `status` carrying several issues (validation reports all it finds).
    /// `issues` must not be empty.
    pub fn with_issues(status: StatusCode, issues: Vec<Issue>) -> Error {
        debug_assert!(!issues.is_empty(), "an error has at least one issue");
        Error {
            status,
            issues,
            headers: Vec::new(),
            detail: None,
        }
    }

    pub fn unknown_tenant(tenant: impl std::fmt::Display) -> Error {
        Self::new(
            StatusCode::NOT_FOUND,
            IssueType::NotFound,
            format!("tenant {:?} does not exist", tenant.to_string()),
        )
    }

    pub fn unknown_resource_type(name: impl std::fmt::Display) -> Error {
        Self::new(
            StatusCode::NOT_FOUND,
            IssueType::NotSupported,
            format!(
                "resource type {:?} is not a FHIR R4 resource type",
                name.to_string()
            ),
        )
    }

    pub fn not_found(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::NOT_FOUND, IssueType::NotFound, msg)
    }

    pub fn gone(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::GONE, IssueType::Deleted, msg)
    }

    /// A 400 with issue code `invalid`.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Self::bad_request(IssueType::Invalid, msg)
    }

    /// A 400 with the given issue code.
    pub fn bad_request(code: IssueType, msg: impl Into<String>) -> Error {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }

    pub fn precondition_failed(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::PRECONDITION_FAILED, IssueType::Conflict, msg)
    }

    pub fn conflict(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::CONFLICT, IssueType::Conflict, msg)
    }

    /// A 401 with the plain `Bearer` challenge (RFC 6750 section 3).
    pub fn unauthorized(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::UNAUTHORIZED, IssueType::Login, msg)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::FORBIDDEN, IssueType::Forbidden, msg)
    }

    pub fn method_not_allowed(method: &str) -> Error {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            IssueType::NotSupported,
            format!("method {method} is not allowed here"),
        )
    }

    pub fn not_acceptable(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::NOT_ACCEPTABLE, IssueType::NotSupported, msg)
    }

    pub fn payload_too_large(limit: usize) -> Error {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            IssueType::TooLong,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(msg: impl Into<String>) -> Error {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IssueType::NotSupported,
            msg,
        )
    }

    pub fn not_implemented(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::NOT_IMPLEMENTED, IssueType::NotSupported, msg)
    }

    /// The request was understood but cannot be applied (a failing PATCH, an unusable
    /// SearchParameter).
    pub fn unprocessable(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, IssueType::Processing, msg)
    }

    /// The database cannot be reached; `detail` goes to the log.
    pub fn unavailable(detail: impl Into<String>) -> Error {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            IssueType::Transient,
            "the database is unavailable; retry later",
        )
        .with_detail(detail)
        .with_retry_after()
    }

    /// Another server this one depends on (an upstream directory) failed or refused; the
    /// message says which and how.
    pub fn bad_gateway(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::BAD_GATEWAY, IssueType::Transient, msg)
    }

    /// A statement ran into the query timeout (`--query-timeout`).
    pub fn timed_out(msg: impl Into<String>) -> Error {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, IssueType::Timeout, msg).with_retry_after()
    }

    /// A fault of the server; `detail` goes to the log, the client reads a generic text.
    pub fn internal(detail: impl Into<String>) -> Error {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            IssueType::Exception,
            "internal server error; see the server log",
        )
        .with_detail(detail)
    }

    fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.detail = Some(detail.into());
        self
    }

    fn with_retry_after(self) -> Error {
        self.with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// The same error with one more response header (replacing one of the same name).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Error {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    /// The same error located in a part of the request: `label` goes before each diagnostic
    /// (e.g. which Bundle entry failed) and `expression`, when given, becomes each issue's
    /// location (`Bundle.entry[2]`). A 5xx keeps its text: its detail is for the log only.
    pub fn context(mut self, label: &str, expression: Option<&str>) -> Error {
        if self.status.is_server_error() {
            return self;
        }
        for issue in &mut self.issues {
            issue.diagnostics = format!("{label}: {}", issue.diagnostics);
            if let Some(e) = expression {
                issue.expression.insert(0, e.to_owned());
            }
        }
        self
    }

    /// [`Error::context`] for entry `index` (0-based) of a Bundle, labelled `label`.
    pub fn at_entry(self, index: usize, label: &str) -> Error {
        self.context(label, Some(&format!("Bundle.entry[{index}]")))
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The first issue's code.
    pub fn code(&self) -> IssueType {
        self.issues[0].code
    }

    /// The first issue's diagnostics.
    pub fn diagnostics(&self) -> &str {
        &self.issues[0].diagnostics
    }

    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// The headers the response must carry (`Retry-After`, `WWW-Authenticate`).
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The OperationOutcome the client sees.
    pub fn outcome(&self) -> OperationOutcome {
        OperationOutcome {
            issues: self.issues.clone(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownTenant(t) | StoreError::InvalidTenant(t) => Error::unknown_tenant(t),
            StoreError::VersionConflict { .. } => Error::precondition_failed(e.to_string()),
            StoreError::DefaultTenant | StoreError::Conflict(_) => Error::conflict(e.to_string()),
            StoreError::NotOwner(m) => Error::forbidden(m),
            e if e.is_unavailable() => Error::unavailable(e.to_string()),
            e if e.is_timeout() => Error::timed_out(
                "the request took longer than the server's query timeout; narrow the search \
                 (fewer criteria or values, no :contains on short values) or retry later",
            ),
            StoreError::UnsupportedSearch(m) => Error::bad_request(IssueType::NotSupported, m),
            StoreError::InvalidCursor(_) => Error::invalid(
                "the paging cursor does not fit this search; start again from the first page",
            ),
            other => Error::internal(other.to_string()),
        }
    }
}

impl From<writes::WriteError> for Error {
    fn from(e: writes::WriteError) -> Self {
        match e {
            // As at the request body's door (`request::parse_resource`).
            writes::WriteError::Unstorable(u) => {
                Error::bad_request(IssueType::Value, u.to_string())
            }
            other => Error::unprocessable(other.to_string()),
        }
    }
}

impl From<patch::PatchError> for Error {
    /// The table in `patch::error`: a body that is not a patch is a 400, a patch that cannot
    /// be applied a 422.
    fn from(e: patch::PatchError) -> Self {
        match e {
            patch::PatchError::InvalidDocument(m) => {
                Error::invalid(format!("not a valid patch document: {m}"))
            }
            other => Error::unprocessable(other.to_string()),
        }
    }
}

impl From<search::SearchError> for Error {
    fn from(e: search::SearchError) -> Self {
        let code = match &e {
            search::SearchError::TooComplex { .. } => IssueType::TooCostly,
            _ => IssueType::Invalid,
        };
        Error::bad_request(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_5xx_tells_the_client_nothing_of_its_cause() {
        let e = Error::internal("relation \"resources\" does not exist");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let shown = e.outcome().to_json().to_string();
        assert!(!shown.contains("relation"), "{shown}");
        assert!(
            e.to_string().contains("relation"),
            "the log keeps the cause"
        );
        let e = e.context("entry 2", Some("Bundle.entry[2]"));
        assert!(!e.outcome().to_json().to_string().contains("entry 2"));
    }

    #[test]
    fn context_prefixes_every_issue_and_locates_it() {
        let e = Error::with_issues(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![
                Issue {
                    severity: IssueSeverity::Error,
                    code: IssueType::Required,
                    diagnostics: "name is required".to_owned(),
                    expression: vec!["Practitioner.name".to_owned()],
                },
                Issue {
                    severity: IssueSeverity::Warning,
                    code: IssueType::Value,
                    diagnostics: "odd gender".to_owned(),
                    expression: Vec::new(),
                },
            ],
        )
        .context("entry 3", Some("Bundle.entry[3]"));
        let json = e.outcome().to_json();
        assert_eq!(json["issue"][0]["diagnostics"], "entry 3: name is required");
        assert_eq!(
            json["issue"][0]["expression"],
            serde_json::json!(["Bundle.entry[3]", "Practitioner.name"])
        );
        assert_eq!(json["issue"][1]["severity"], "warning");
        assert_eq!(json["issue"][1]["expression"][0], "Bundle.entry[3]");
    }

    #[test]
    fn every_503_says_when_to_retry_and_every_401_how_to_authenticate() {
        for e in [
            Error::unavailable("pool timed out"),
            Error::timed_out("slow"),
        ] {
            assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(e.headers().iter().any(|(n, _)| n == header::RETRY_AFTER));
        }
        let e = Error::unauthorized("a token is required");
        assert_eq!(e.headers()[0].0, header::WWW_AUTHENTICATE);
        let e = e.with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        assert_eq!(e.headers().len(), 1, "a header is replaced, not repeated");
    }
}
