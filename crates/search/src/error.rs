//! The search crate's error type: every way a search request can be malformed.
//!
//! Each message names the parameter and says exactly what is wrong, because it goes to the
//! client verbatim in an OperationOutcome (HTTP 400).

/// A malformed search request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// A value does not follow the grammar of its parameter type.
    #[error("invalid {kind} `{value}`: {reason}")]
    InvalidValue {
        /// The value kind, e.g. `date`, `token`.
        kind: &'static str,
        /// The offending (unescaped) text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value has a `\` escape other than `\,` `\|` `\$` `\\`.
    #[error("invalid escape in `{value}`: {reason}")]
    InvalidEscape {
        /// The raw value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A modifier that does not exist or does not apply to the parameter's type.
    #[error("modifier `:{modifier}` is not supported on {kind} parameters")]
    UnsupportedModifier {
        /// The modifier without its colon.
        modifier: String,
        /// The parameter type, e.g. `date`.
        kind: String,
    },
    /// A parameter name that is structurally wrong (bad chain, bad `_has`, bad `_include`).
    #[error("{reason}")]
    InvalidName {
        /// What is wrong.
        reason: String,
    },
    /// A control parameter (`_count`, `_total`, ...) that may appear only once appeared again.
    #[error("may appear only once")]
    Repeated,
    /// Wraps any error with the name of the parameter it occurred in.
    #[error("parameter `{param}`: {source}")]
    InParameter {
        /// The parameter name as given in the query.
        param: String,
        /// The underlying problem.
        source: Box<SearchError>,
    },
    /// The search is over a documented size limit ([`crate::query::MAX_CRITERIA`],
    /// [`crate::query::MAX_VALUES_PER_CRITERION`], [`crate::query::MAX_VALUES`]).
    #[error("the search is too complex: {reason}")]
    TooComplex {
        /// Which limit, and how far over it the search is.
        reason: String,
    },
    /// Under `Prefer: handling=strict`, the request used parameters the server does not know.
    #[error("unknown or unsupported search parameters: {}", names.join(", "))]
    Unknown {
        /// The parameter names as given.
        names: Vec<String>,
    },
}

impl SearchError {
    pub(crate) fn value(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        SearchError::InvalidValue {
            kind,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn name(reason: impl Into<String>) -> Self {
        SearchError::InvalidName {
            reason: reason.into(),
        }
    }

    pub(crate) fn in_param(self, param: &str) -> Self {
        SearchError::InParameter {
            param: param.to_owned(),
            source: Box::new(self),
        }
    }
}
