//! The final check of a patch result (<https://hl7.org/fhir/R4/http.html#patch>: the server
//! "SHALL return an error if the outcome of the patch operation is not a valid resource"):
//! same `resourceType`, same `id`, and structurally valid.

use std::collections::HashMap;

use conformance::{validate_structure, ElementModel, StructureIssue};
use serde_json::Value;

use crate::error::PatchError;

/// Accepts `after` as the result of patching `before`, or says why not: the
/// `resourceType` or `id` changed, or the patch introduced structural problems
/// ([`conformance::validate_structure`]).
///
/// Only problems the patch *introduced* count: an issue also present in `before` (stored
/// data that predates a rule, e.g. an NPI written as a JSON number) does not block an
/// unrelated patch. Issues are compared by message and by path without list indexes, and
/// counted, so a list shifted by an insert keeps its old issues while one more issue of
/// the same kind is reported.
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
    // Pre-existing issues, counted by path without list indexes, so that an insert that
    // shifts a list does not make old issues look new, while one more issue of the same
    // kind still counts.
    let mut existing: HashMap<(String, String), usize> = HashMap::new();
    for issue in validate_structure(before, model) {
        *existing.entry(issue_key(&issue)).or_default() += 1;
    }
    let issues: Vec<StructureIssue> = validate_structure(after, model)
        .into_iter()
        .filter(|issue| match existing.get_mut(&issue_key(issue)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect();
    if issues.is_empty() {
        Ok(())
    } else {
        Err(PatchError::InvalidResult { issues })
    }
}

/// An issue's path with list indexes removed (`Organization.identifier.value`), and its
/// message.
fn issue_key(issue: &StructureIssue) -> (String, String) {
    let mut path = String::with_capacity(issue.path.len());
    let mut in_index = false;
    for c in issue.path.chars() {
        match c {
            '[' => in_index = true,
            ']' if in_index => in_index = false,
            _ if in_index => {}
            _ => path.push(c),
        }
    }
    (path, issue.message.clone())
}
