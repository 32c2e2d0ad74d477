//! One validation finding, in the shape of an `OperationOutcome.issue`
//! (<https://hl7.org/fhir/R4/operationoutcome.html>).

use serde_json::{json, Value};

/// `OperationOutcome.issue.severity`, most severe first (the order issues are sorted in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// `OperationOutcome.issue.code` (<https://hl7.org/fhir/R4/valueset-issue-type.html>), the
/// ones validation gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueType {
    /// Not the shape of a resource: unknown element, wrong JSON kind, array versus single.
    Structure,
    /// A required element is missing, or an element repeats more than allowed.
    Required,
    /// A primitive's lexical form is wrong.
    Value,
    /// A code is not in the value set its element requires.
    CodeInvalid,
    /// An invariant failed.
    Invariant,
    /// A rule could not be checked (an invariant the FHIRPath engine cannot evaluate).
    NotSupported,
}

impl IssueType {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::CodeInvalid => "code-invalid",
            IssueType::Invariant => "invariant",
            IssueType::NotSupported => "not-supported",
        }
    }
}

/// One finding: how bad, what kind, where (a FHIRPath location such as
/// `Practitioner.identifier[0].system`) and what, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    pub code: IssueType,
    pub expression: String,
    pub diagnostics: String,
}

impl Issue {
    pub(crate) fn from_structure(s: conformance::StructureIssue) -> Issue {
        let code = if s.is_value {
            IssueType::Value
        } else {
            IssueType::Structure
        };
        Issue {
            severity: Severity::Error,
            code,
            expression: s.path,
            diagnostics: s.message,
        }
    }

    /// The `OperationOutcome.issue` JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "severity": self.severity.as_str(),
            "code": self.code.as_str(),
            "diagnostics": self.diagnostics,
            "expression": [self.expression],
        })
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} at {}: {}",
            self.severity.as_str(),
            self.code.as_str(),
            self.expression,
            self.diagnostics
        )
    }
}
