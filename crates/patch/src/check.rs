//! The final check of a patch result (<https://hl7.org/fhir/R4/http.html#patch>: the server
//! "SHALL return an error if the outcome of the patch operation is not a valid resource"):
//! same `resourceType`, same `id`, and structurally valid.

use conformance::{validate_structure, ElementModel, StructureIssue};
use serde_json::Value;

use crate::error::PatchError;

/// Accepts `after` as the result of patching `before`, or says why not: the
/// `resourceType` or `id` changed, or the patch introduced structural problems
/// ([`conformance::validate_structure`]).
///
/// Only problems the patch *introduced* count: an issue also present in `before` (stored
/// data that predates a rule, e.g. an NPI written as a JSON number) does not block an
/// unrelated patch. Issues are compared by path and message.
pub fn check_patched(
    before: &Value,
    after: &Value,
    model: &ElementModel,
) -> Result<(), PatchError> {
    let string = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let (rt_before, rt_after) = (
        string(before, "resourceType"),
        string(after, "resourceType"),
    );
    if rt_before != rt_after {
        return Err(PatchError::ResourceTypeChanged {
            before: rt_before,
            after: rt_after,
        });
    }
    let (id_before, id_after) = (string(before, "id"), string(after, "id"));
    if id_before != id_after || before.get("id").is_some() != after.get("id").is_some() {
        return Err(PatchError::IdChanged {
            before: id_before,
            after: id_after,
        });
    }
    let existing: Vec<StructureIssue> = validate_structure(before, model);
    let issues: Vec<StructureIssue> = validate_structure(after, model)
        .into_iter()
        .filter(|i| !existing.contains(i))
        .collect();
    if issues.is_empty() {
        Ok(())
    } else {
        Err(PatchError::InvalidResult { issues })
    }
}
