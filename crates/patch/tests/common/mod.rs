//! Helpers shared by the FHIRPath Patch tests: building `operation` parameters and the
//! sample Patient they patch.

use serde_json::{json, Value};

/// One `operation` parameter: `type`, `path`, then extra parts (each a JSON part object).
pub fn op(kind: &str, path: &str, extra: Value) -> Value {
    let mut parts = vec![
        json!({"name": "type", "valueCode": kind}),
        json!({"name": "path", "valueString": path}),
    ];
    parts.extend(extra.as_array().cloned().unwrap_or_default());
    json!({"name": "operation", "part": parts})
}

pub fn params(ops: Vec<Value>) -> Value {
    json!({"resourceType": "Parameters", "parameter": ops})
}

pub fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "example",
        "identifier": [
            {"system": "http://a", "value": "1"},
            {"system": "http://b", "value": "2"},
            {"system": "http://c", "value": "3"}
        ],
        "active": true,
        "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]}
    })
}
