//! OperationOutcome (<https://hl7.org/fhir/R4/operationoutcome.html>): the body of every
//! error response and of `Prefer: return=OperationOutcome`.

use serde_json::{json, Value};

/// `OperationOutcome.issue.severity`, most severe first (the order issues sort in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IssueSeverity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl IssueSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fatal => "fatal",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Information => "information",
        }
    }
}

/// `OperationOutcome.issue.code` (<https://hl7.org/fhir/R4/valueset-issue-type.html>); only
/// the codes fhirdir emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    /// A code outside the value set its element requires.
    CodeInvalid,
    Security,
    Login,
    Forbidden,
    Processing,
    NotSupported,
    Duplicate,
    MultipleMatches,
    NotFound,
    Deleted,
    TooLong,
    TooCostly,
    Conflict,
    Transient,
    Exception,
    Timeout,
    Informational,
    Incomplete,
    /// Information withheld from the caller (e.g. resources its scopes do not cover).
    Suppressed,
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Structure => "structure",
            Self::Required => "required",
            Self::Value => "value",
            Self::Invariant => "invariant",
            Self::CodeInvalid => "code-invalid",
            Self::Security => "security",
            Self::Login => "login",
            Self::Forbidden => "forbidden",
            Self::Processing => "processing",
            Self::NotSupported => "not-supported",
            Self::Duplicate => "duplicate",
            Self::MultipleMatches => "multiple-matches",
            Self::NotFound => "not-found",
            Self::Deleted => "deleted",
            Self::TooLong => "too-long",
            Self::TooCostly => "too-costly",
            Self::Conflict => "conflict",
            Self::Transient => "transient",
            Self::Exception => "exception",
            Self::Timeout => "timeout",
            Self::Informational => "informational",
            Self::Incomplete => "incomplete",
            Self::Suppressed => "suppressed",
        }
    }
}

/// One issue: severity, code, a human-readable diagnostic and optional FHIRPath locations.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: IssueSeverity,
    pub code: IssueType,
    pub diagnostics: String,
    pub expression: Vec<String>,
}

/// An OperationOutcome under construction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationOutcome {
    pub issues: Vec<Issue>,
}

impl OperationOutcome {
    /// An outcome with one issue.
    pub fn single(
        severity: IssueSeverity,
        code: IssueType,
        diagnostics: impl Into<String>,
    ) -> Self {
        let mut o = Self::default();
        o.push(severity, code, diagnostics);
        o
    }

    /// An outcome with one `error` issue.
    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Self::single(IssueSeverity::Error, code, diagnostics)
    }

    /// An outcome with one `information` issue.
    pub fn information(diagnostics: impl Into<String>) -> Self {
        Self::single(
            IssueSeverity::Information,
            IssueType::Informational,
            diagnostics,
        )
    }

    pub fn push(
        &mut self,
        severity: IssueSeverity,
        code: IssueType,
        diagnostics: impl Into<String>,
    ) {
        self.issues.push(Issue {
            severity,
            code,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
        });
    }

    /// The resource as FHIR JSON.
    pub fn to_json(&self) -> Value {
        let issues: Vec<Value> = self
            .issues
            .iter()
            .map(|i| {
                let mut v = json!({
                    "severity": i.severity.as_str(),
                    "code": i.code.as_str(),
                    "diagnostics": i.diagnostics,
                });
                if !i.expression.is_empty() {
                    v["expression"] = json!(i.expression);
                }
                v
            })
            .collect();
        json!({"resourceType": "OperationOutcome", "issue": issues})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_outcome_json_shape() {
        let o = OperationOutcome::error(IssueType::NotFound, "Practitioner/x is not known");
        assert_eq!(
            o.to_json(),
            json!({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found", "diagnostics": "Practitioner/x is not known"}]})
        );
    }
}
