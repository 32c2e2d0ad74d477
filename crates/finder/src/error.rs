//! The crate's one error: a `$find-providers` request the server must refuse.
//!
//! Every [`QueryError`] is the client's fault and becomes HTTP 400 with an OperationOutcome
//! (issue code `invalid`; <https://hl7.org/fhir/R4/operations.html#4.1.0.6>: "the server
//! SHALL return an error" when it cannot process the parameters). The message goes to the
//! client verbatim, so it names the parameter and says what would be accepted.

use std::fmt;

/// A malformed `$find-providers` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    parameter: Option<String>,
    message: String,
}

impl QueryError {
    /// A problem with one parameter; `message` is the complete sentence shown to the client
    /// and must name `parameter` itself (every constructor in this crate does).
    pub(crate) fn new(parameter: &str, message: impl Into<String>) -> QueryError {
        QueryError {
            parameter: Some(parameter.to_owned()),
            message: message.into(),
        }
    }

    /// A problem with the request as a whole (nothing to find).
    pub(crate) fn request(message: impl Into<String>) -> QueryError {
        QueryError {
            parameter: None,
            message: message.into(),
        }
    }

    /// The parameter at fault as the client spelled it, or `None` when the fault is the
    /// combination (no criterion at all). Suits `OperationOutcome.issue.expression`.
    #[must_use]
    pub fn parameter(&self) -> Option<&str> {
        self.parameter.as_deref()
    }

    /// The message for `OperationOutcome.issue.diagnostics`.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryError {}
