//! [`PatchError`]: why a patch was refused. fhirdir answers (the conversion is in the
//! services' error table) with an OperationOutcome whose diagnostics is the `Display` text:
//!
//! | variant | meaning | status | issue code |
//! |---|---|---|---|
//! | `InvalidDocument` | not a JSON Patch array / not a Parameters resource | 400 | `invalid` |
//! | `Operation` | operation number `index` could not be applied | 422 | `processing` |
//! | `ResourceTypeChanged`, `IdChanged` | the result changes what the resource is | 422 | `processing` |
//! | `InvalidResult` | the result is not a well-formed resource | 422 | `processing` |
//!
//! (<https://hl7.org/fhir/R4/http.html#patch>: a patch that cannot be applied is 422; a body
//! that is not a patch document at all is a bad request.)

use conformance::StructureIssue;
use serde_json::Value;
use thiserror::Error;

/// A patch document that could not be applied, or whose result is not acceptable.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The document is not a patch of the expected format.
    #[error("invalid patch document: {0}")]
    InvalidDocument(String),
    /// Operation `index` (0-based, in document order) failed; nothing was changed.
    #[error("patch operation {index} ({op}) failed: {failure}")]
    Operation {
        /// Position of the operation in the patch document.
        index: usize,
        /// Its `op` (JSON Patch) or `type` (FHIRPath Patch), or `?` when missing.
        op: String,
        /// Why it failed (boxed to keep `Result<_, PatchError>` small).
        failure: Box<OpFailure>,
    },
    /// The patched resource has a different `resourceType`.
    #[error("a patch must not change resourceType (from {before:?} to {after:?})")]
    ResourceTypeChanged {
        /// The resource type before the patch.
        before: Option<String>,
        /// The resource type after it.
        after: Option<String>,
    },
    /// The patched resource has a different `id`.
    #[error("a patch must not change the resource id (from {before:?} to {after:?})")]
    IdChanged {
        /// The id before the patch.
        before: Option<String>,
        /// The id after it.
        after: Option<String>,
    },
    /// The patched resource is not structurally valid (see [`conformance::validate_structure`]).
    #[error("the patched resource is not valid: {}", join_issues(issues))]
    InvalidResult {
        /// The problems the patch introduced.
        issues: Vec<StructureIssue>,
    },
}

/// Why one patch operation failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OpFailure {
    /// The operation object lacks a member or has one of the wrong kind.
    #[error("{0}")]
    Malformed(String),
    /// `op` / `type` is not one this format defines.
    #[error("unknown operation {0:?}")]
    UnknownOp(String),
    /// A JSON Pointer (RFC 6901) is not well formed.
    #[error("invalid JSON Pointer {pointer:?}: {reason}")]
    BadPointer {
        /// The pointer as given.
        pointer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A JSON Pointer does not designate an existing value (or, for `add`, an existing
    /// parent).
    #[error("nothing at {pointer:?}: {reason}")]
    NotFound {
        /// The pointer as given.
        pointer: String,
        /// Which step failed.
        reason: String,
    },
    /// A JSON Patch `test` found a different value.
    #[error("test failed at {pointer:?}: expected {expected}, found {actual}")]
    TestFailed {
        /// The tested location.
        pointer: String,
        /// The value the patch expected (boxed: `Value` is large).
        expected: Box<Value>,
        /// The value found.
        actual: Box<Value>,
    },
    /// `move` into one of the moved value's own children.
    #[error("cannot move {from:?} into its own child {path:?}")]
    MoveIntoChild {
        /// The source pointer.
        from: String,
        /// The destination pointer.
        path: String,
    },
    /// A FHIRPath expression does not compile or does not evaluate.
    #[error("FHIRPath {path:?}: {reason}")]
    BadPath {
        /// The expression.
        path: String,
        /// The parser's or evaluator's message.
        reason: String,
    },
    /// A FHIRPath expression selects nothing where one element is required.
    #[error("path {path:?} matches nothing")]
    NoMatch {
        /// The expression.
        path: String,
    },
    /// A FHIRPath expression selects several elements where one is required.
    #[error("path {path:?} matches {count} elements; it must match exactly one")]
    MultipleMatches {
        /// The expression.
        path: String,
        /// How many it matched.
        count: usize,
    },
    /// A FHIRPath expression yields a computed value, not an element of the resource.
    #[error("path {path:?} must select elements of the resource, not computed values")]
    NotAnElement {
        /// The expression.
        path: String,
    },
    /// The element named does not exist on the target (per the FHIR R4 element model).
    #[error("{context} has no element {name:?}")]
    UnknownElement {
        /// Where it was looked for (a type or element path).
        context: String,
        /// The name asked for.
        name: String,
    },
    /// `add` of a single-valued element that already has a value.
    #[error("{element} already has a value; use replace")]
    AlreadyExists {
        /// The element's definition path.
        element: String,
    },
    /// `insert`/`move` on an element that is not a list.
    #[error("{element} is not a list")]
    NotAList {
        /// The element's definition path or the path given.
        element: String,
    },
    /// A list index outside the list.
    #[error("index {index} is out of range for a list of {len}")]
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// The list's length.
        len: usize,
    },
    /// The value's type does not fit the element.
    #[error("{element} cannot hold a {found}{}", expected_types(expected))]
    TypeMismatch {
        /// The element's definition path.
        element: String,
        /// The element's allowed types.
        expected: Vec<String>,
        /// The value's type (`valueX` suffix, `resourceType`, or JSON kind).
        found: String,
    },
    /// The operation would remove or replace the resource itself.
    #[error("the resource itself cannot be {0}")]
    WholeResource(&'static str),
}

fn expected_types(expected: &[String]) -> String {
    if expected.is_empty() {
        String::new()
    } else {
        format!(" (expected {})", expected.join(" | "))
    }
}

fn join_issues(issues: &[StructureIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Shorthand for a failed operation.
pub(crate) fn op_error(index: usize, op: &str, failure: OpFailure) -> PatchError {
    PatchError::Operation {
        index,
        op: op.to_string(),
        failure: Box::new(failure),
    }
}
