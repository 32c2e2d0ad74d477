//! FHIRPath Patch error cases: every operation's failures, with the failing operation's
//! index and a readable reason, and atomicity (a failed patch changes nothing).

mod common;

use common::{op, params, patient};
use patch::{apply_fhirpath_patch, PatchError};
use serde_json::{json, Value};

/// (name, operations, failing operation index, expected text in the error).
fn failures() -> Vec<(&'static str, Vec<Value>, usize, &'static str)> {
    let add = |path: &str, name: &str, value: Value| {
        let mut parts = vec![json!({"name": "name", "valueString": name})];
        let mut v = value;
        v["name"] = json!("value");
        parts.push(v);
        op("add", path, Value::Array(parts))
    };
    vec![
        (
            "add: path matches nothing",
            vec![add(
                "Patient.contact",
                "name",
                json!({"valueHumanName": {"text": "x"}}),
            )],
            0,
            "path \"Patient.contact\" matches nothing",
        ),
        (
            "add: path matches several",
            vec![add(
                "Patient.identifier",
                "period",
                json!({"valuePeriod": {"start": "2000"}}),
            )],
            0,
            "matches 3 elements; it must match exactly one",
        ),
        (
            "add: single element already present",
            vec![add("Patient", "gender", json!({"valueCode": "female"}))],
            0,
            "Patient.gender already has a value; use replace",
        ),
        (
            "add: choice already present under another type",
            vec![
                add("Patient", "deceasedBoolean", json!({"valueBoolean": true})),
                add("Patient", "deceased", json!({"valueDateTime": "2020"})),
            ],
            1,
            "Patient.deceased[x] already has a value",
        ),
        (
            "add: unknown element",
            vec![add("Patient", "nickname", json!({"valueString": "x"}))],
            0,
            "Patient has no element \"nickname\"",
        ),
        (
            "add: wrong type",
            vec![add("Patient", "name", json!({"valueBoolean": true}))],
            0,
            "Patient.name cannot hold a boolean (expected HumanName)",
        ),
        (
            "add: wrong complex type",
            vec![add(
                "Patient",
                "telecom",
                json!({"valueHumanName": {"text": "x"}}),
            )],
            0,
            "cannot hold a HumanName",
        ),
        (
            "add: primitive built from parts",
            vec![add(
                "Patient",
                "birthDate",
                json!({"part": [{"name": "x", "valueString": "y"}]}),
            )],
            0,
            "cannot hold a complex value (parts)",
        ),
        (
            "add: choice type not allowed",
            vec![add("Patient", "deceased", json!({"valueString": "yes"}))],
            0,
            "Patient.deceased[x] cannot hold a string",
        ),
        (
            "add: unknown part element",
            vec![add(
                "Patient",
                "contact",
                json!({"part": [{"name": "nope", "valueString": "y"}]}),
            )],
            0,
            "Patient.contact has no element \"nope\"",
        ),
        (
            "add: single part given twice",
            vec![add(
                "Patient",
                "contact",
                json!({"part": [{"name": "gender", "valueCode": "male"}, {"name": "gender", "valueCode": "female"}]}),
            )],
            0,
            "given twice",
        ),
        (
            "add: to a primitive",
            vec![add("Patient.gender", "x", json!({"valueString": "y"}))],
            0,
            "has no element \"x\"",
        ),
        (
            "add: resource where a datatype goes",
            vec![add(
                "Patient",
                "name",
                json!({"resource": {"resourceType": "Basic", "code": {"text": "x"}}}),
            )],
            0,
            "cannot hold a Basic",
        ),
        (
            "insert: index past the end",
            vec![op(
                "insert",
                "Patient.identifier",
                json!([{"name": "index", "valueInteger": 4}, {"name": "value", "valueIdentifier": {"value": "x"}}]),
            )],
            0,
            "index 4 is out of range for a list of 3",
        ),
        (
            "insert: not a list",
            vec![op(
                "insert",
                "Patient.gender",
                json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueCode": "male"}]),
            )],
            0,
            "Patient.gender is not a list",
        ),
        (
            "insert: path is not a list name",
            vec![op(
                "insert",
                "Patient.identifier[0]",
                json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueIdentifier": {"value": "x"}}]),
            )],
            0,
            "must end with the name of a list element",
        ),
        (
            "insert: missing index",
            vec![op(
                "insert",
                "Patient.identifier",
                json!([{"name": "value", "valueIdentifier": {"value": "x"}}]),
            )],
            0,
            "missing part \"index\"",
        ),
        (
            "insert: negative index",
            vec![op(
                "insert",
                "Patient.identifier",
                json!([{"name": "index", "valueInteger": -1}, {"name": "value", "valueIdentifier": {"value": "x"}}]),
            )],
            0,
            "non-negative",
        ),
        (
            "delete: several matches",
            vec![op("delete", "Patient.identifier", json!([]))],
            0,
            "matches 3 elements",
        ),
        (
            "delete: the resource itself",
            vec![op("delete", "Patient", json!([]))],
            0,
            "the resource itself cannot be deleted",
        ),
        (
            "replace: no match",
            vec![op(
                "replace",
                "Patient.maritalStatus",
                json!([{"name": "value", "valueCodeableConcept": {"text": "x"}}]),
            )],
            0,
            "matches nothing",
        ),
        (
            "replace: several matches",
            vec![op(
                "replace",
                "Patient.name.given",
                json!([{"name": "value", "valueString": "x"}]),
            )],
            0,
            "matches 2 elements",
        ),
        (
            "replace: wrong type",
            vec![op(
                "replace",
                "Patient.active",
                json!([{"name": "value", "valueString": "yes"}]),
            )],
            0,
            "Patient.active cannot hold a string (expected boolean)",
        ),
        (
            "replace: the resource itself",
            vec![op(
                "replace",
                "Patient",
                json!([{"name": "value", "resource": {"resourceType": "Patient"}}]),
            )],
            0,
            "cannot be replaced",
        ),
        (
            "replace: missing value",
            vec![op("replace", "Patient.active", json!([]))],
            0,
            "missing part \"value\"",
        ),
        (
            "replace: two value forms",
            vec![op(
                "replace",
                "Patient.active",
                json!([{"name": "value", "valueBoolean": true, "part": [{"name": "x", "valueString": "y"}]}]),
            )],
            0,
            "exactly one of value[x], resource or part",
        ),
        (
            "move: source past the end",
            vec![op(
                "move",
                "Patient.identifier",
                json!([{"name": "source", "valueInteger": 3}, {"name": "destination", "valueInteger": 0}]),
            )],
            0,
            "index 3 is out of range for a list of 3",
        ),
        (
            "move: destination past the end",
            vec![op(
                "move",
                "Patient.identifier",
                json!([{"name": "source", "valueInteger": 0}, {"name": "destination", "valueInteger": 3}]),
            )],
            0,
            "index 3 is out of range",
        ),
        (
            "move: not a list",
            vec![op(
                "move",
                "Patient.gender",
                json!([{"name": "source", "valueInteger": 0}, {"name": "destination", "valueInteger": 0}]),
            )],
            0,
            "is not a list",
        ),
        (
            "move: missing destination",
            vec![op(
                "move",
                "Patient.identifier",
                json!([{"name": "source", "valueInteger": 0}]),
            )],
            0,
            "missing part \"destination\"",
        ),
        (
            "bad FHIRPath syntax",
            vec![op("delete", "Patient.name.where(", json!([]))],
            0,
            "FHIRPath \"Patient.name.where(\"",
        ),
        (
            "computed value as target",
            vec![op(
                "replace",
                "'abc'",
                json!([{"name": "value", "valueString": "x"}]),
            )],
            0,
            "must select elements of the resource",
        ),
        (
            "unknown operation type",
            vec![op("upsert", "Patient", json!([]))],
            0,
            "unknown operation \"upsert\"",
        ),
        (
            "unknown part",
            vec![op(
                "delete",
                "Patient.gender",
                json!([{"name": "colour", "valueString": "x"}]),
            )],
            0,
            "unknown part \"colour\"",
        ),
        (
            "duplicate part",
            vec![op(
                "delete",
                "Patient.gender",
                json!([{"name": "path", "valueString": "Patient.active"}]),
            )],
            0,
            "part \"path\" is given twice",
        ),
        (
            "missing type",
            vec![
                json!({"name": "operation", "part": [{"name": "path", "valueString": "Patient"}]}),
            ],
            0,
            "missing part \"type\"",
        ),
        (
            "missing path",
            vec![json!({"name": "operation", "part": [{"name": "type", "valueCode": "delete"}]})],
            0,
            "missing part \"path\"",
        ),
        (
            "parameter not named operation",
            vec![json!({"name": "op", "part": [{"name": "type", "valueCode": "delete"}]})],
            0,
            "must be named \"operation\"",
        ),
        (
            "the third operation fails",
            vec![
                op("delete", "Patient.gender", json!([])),
                op("delete", "Patient.active", json!([])),
                op(
                    "replace",
                    "Patient.gender",
                    json!([{"name": "value", "valueCode": "male"}]),
                ),
            ],
            2,
            "operation 2 (replace)",
        ),
    ]
}

#[test]
fn failing_operations_are_reported_and_change_nothing() {
    for (name, ops, index, expected) in failures() {
        let before = patient();
        let mut patched = before.clone();
        let err = apply_fhirpath_patch(&mut patched, &params(ops)).expect_err(name);
        match &err {
            PatchError::Operation { index: i, .. } => assert_eq!(*i, index, "{name}: {err}"),
            other => panic!("{name}: unexpected {other}"),
        }
        assert!(err.to_string().contains(expected), "{name}: {err}");
        assert_eq!(patched, before, "{name}: the resource must be unchanged");
    }
}

#[test]
fn documents_that_are_not_fhirpath_patches_are_refused() {
    let cases = [
        (json!([]), "must be a Parameters resource"),
        (
            json!({"resourceType": "Patient"}),
            "must be a Parameters resource",
        ),
        (
            json!({"resourceType": "Parameters", "parameter": {"name": "operation"}}),
            "Parameters resource is malformed",
        ),
        (
            json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [{"name": "index", "valueInteger": "1"}]}]}),
            "integer must be a 32-bit integer number",
        ),
    ];
    for (doc, expected) in cases {
        let mut p = patient();
        let err = apply_fhirpath_patch(&mut p, &doc).unwrap_err();
        assert!(matches!(err, PatchError::InvalidDocument(_)), "{err}");
        assert!(err.to_string().contains(expected), "{doc}: {err}");
        assert_eq!(p, patient());
    }
    // No operations: nothing to do.
    let mut p = patient();
    apply_fhirpath_patch(&mut p, &json!({"resourceType": "Parameters"})).unwrap();
    assert_eq!(p, patient());
}
