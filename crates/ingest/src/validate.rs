//! The minimal checks a resource passes before it is imported.
//!
//! Import is a load of trusted exports, not the API: it checks a JSON object, a known R4
//! `resourceType` and a valid `id`, then passes the write pipeline's checks for an import
//! ([`writes::check`] with [`writes::Source::Import`]).
//!
//! **Resources without an id are rejected.** Import keeps the ids of the file (NDJSON exports
//! always carry them, and references between the files point at them); assigning server ids
//! instead would break those references and make a rerun create every such resource again
//! rather than find it unchanged.

use serde_json::{Map, Value};
use store::{Method, Precondition, WriteRequest};

/// A resource that passed the checks.
#[derive(Debug, Clone)]
pub struct Checked {
    pub resource_type: String,
    pub id: String,
    pub resource: Map<String, Value>,
}

impl Checked {
    /// The write the import makes: a `PUT` of the resource with its own id and no
    /// precondition (update, or create-on-update).
    pub fn into_request(self) -> WriteRequest {
        WriteRequest {
            resource_type: self.resource_type,
            id: self.id,
            resource: self.resource,
            precondition: Precondition::None,
            method: Method::Put,
        }
    }
}

/// Checks `value` (see the module documentation).
pub fn check(value: Value) -> Result<Checked, String> {
    let Value::Object(map) = value else {
        return Err(format!("expected a JSON object, found {}", kind(&value)));
    };

    let resource_type = match map.get("resourceType") {
        Some(Value::String(t)) if fhir::is_resource_type(t) => t.clone(),
        Some(Value::String(t)) => return Err(format!("unknown resourceType {t:?}")),
        Some(_) => return Err("resourceType must be a string".to_owned()),
        None => return Err("no resourceType".to_owned()),
    };
    let id = match map.get("id") {
        Some(Value::String(id)) if fhir::is_valid_id(id) => id.clone(),
        Some(Value::String(id)) => {
            return Err(format!(
                "{resource_type}: invalid id {id:?} (expected [A-Za-z0-9-.]{{1,64}})"
            ))
        }
        Some(_) => return Err(format!("{resource_type}: id must be a string")),
        None => {
            return Err(format!(
                "{resource_type} has no id (import keeps the file's ids so that references hold and reruns change nothing)"
            ))
        }
    };
    writes::check(writes::Source::Import, &resource_type, &map).map_err(|e| e.to_string())?;
    Ok(Checked {
        resource_type,
        id,
        resource: map,
    })
}

/// Validation of a checked resource under the tenant's policy (when the tenant enforces
/// validation): its errors, or the resource back.
pub fn with(policy: &validation::Policy, c: Checked) -> Result<Checked, String> {
    let resource = Value::Object(c.resource);
    let issues = policy.validate(&resource);
    if validation::has_errors(&issues) {
        let errors: Vec<String> = issues
            .iter()
            .filter(|i| i.severity <= validation::IssueSeverity::Error)
            .map(validation::describe)
            .collect();
        return Err(format!(
            "invalid {}: {}",
            c.resource_type,
            errors.join("; ")
        ));
    }
    let Value::Object(resource) = resource else {
        unreachable!("an object stays an object");
    };
    Ok(Checked { resource, ..c })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_known_type_with_a_valid_id() {
        let checked = check(json!({"resourceType": "Practitioner", "id": "p-1.a"})).unwrap();
        assert_eq!(checked.resource["id"], "p-1.a");
        let req = checked.into_request();
        assert_eq!(
            (req.resource_type.as_str(), req.id.as_str()),
            ("Practitioner", "p-1.a")
        );
        assert_eq!(
            (req.precondition, req.method),
            (Precondition::None, Method::Put)
        );
    }

    #[test]
    fn says_what_is_wrong() {
        let cases = [
            (json!([1]), "expected a JSON object, found an array"),
            (json!({"id": "a"}), "no resourceType"),
            (
                json!({"resourceType": 5, "id": "a"}),
                "resourceType must be a string",
            ),
            (
                json!({"resourceType": "Doctor", "id": "a"}),
                "unknown resourceType \"Doctor\"",
            ),
            (
                json!({"resourceType": "Practitioner"}),
                "Practitioner has no id",
            ),
            (
                json!({"resourceType": "Practitioner", "id": "a b"}),
                "invalid id \"a b\"",
            ),
            (
                json!({"resourceType": "Practitioner", "id": 7}),
                "id must be a string",
            ),
        ];
        for (value, want) in cases {
            let got = check(value.clone()).map(|_| ()).unwrap_err();
            assert!(
                got.contains(want),
                "{value}: {got:?} should contain {want:?}"
            );
        }
    }
}
