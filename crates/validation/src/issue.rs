//! Validation findings are `OperationOutcome.issue`s (the `fhir` crate's [`Issue`]), located
//! by a FHIRPath expression such as `Practitioner.identifier[0].system`.

use fhir::outcome::Issue;
use fhir::{IssueSeverity, IssueType};

/// An issue at `path`.
pub(crate) fn at(
    severity: IssueSeverity,
    code: IssueType,
    path: &str,
    diagnostics: String,
) -> Issue {
    Issue {
        severity,
        code,
        diagnostics,
        expression: vec![path.to_owned()],
    }
}

/// A structural problem as an error issue: `value` for a primitive's form, `structure`
/// otherwise.
pub(crate) fn from_structure(s: conformance::StructureIssue) -> Issue {
    let code = if s.is_value {
        IssueType::Value
    } else {
        IssueType::Structure
    };
    at(IssueSeverity::Error, code, &s.path, s.message)
}

/// `severity code at expression: diagnostics`, for logs, import reports and test messages.
pub fn describe(i: &Issue) -> String {
    format!(
        "{} {} at {}: {}",
        i.severity.as_str(),
        i.code.as_str(),
        i.expression.join(", "),
        i.diagnostics
    )
}
