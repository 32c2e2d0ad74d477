//! FHIRPath Patch (<https://hl7.org/fhir/R4/fhirpatch.html>): the spec page's examples (as
//! equivalents), every operation type with its error cases, typed and part-built values,
//! and atomicity.

use patch::{apply_fhirpath_patch, check_patched, PatchError};
use serde_json::{json, Value};

/// One `operation` parameter: `type`, `path`, then extra parts (each a JSON part object).
fn op(kind: &str, path: &str, extra: Value) -> Value {
    let mut parts = vec![
        json!({"name": "type", "valueCode": kind}),
        json!({"name": "path", "valueString": path}),
    ];
    parts.extend(extra.as_array().cloned().unwrap_or_default());
    json!({"name": "operation", "part": parts})
}

fn params(ops: Vec<Value>) -> Value {
    json!({"resourceType": "Parameters", "parameter": ops})
}

fn patient() -> Value {
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

/// (name, patch operations, the expected resource made from `patient()` by a closure).
type Edit = fn(&mut Value);

fn successes() -> Vec<(&'static str, Vec<Value>, Edit)> {
    vec![
        (
            "spec: add a primitive (birthDate style) to the resource",
            vec![op(
                "add",
                "Patient",
                json!([{"name": "name", "valueString": "deceasedBoolean"}, {"name": "value", "valueBoolean": false}]),
            )],
            |p| {
                p["deceasedBoolean"] = json!(false);
            },
        ),
        (
            "spec: add a choice element by its base name takes the value's type",
            vec![op(
                "add",
                "Patient",
                json!([{"name": "name", "valueString": "deceased"}, {"name": "value", "valueDateTime": "2020-01-01"}]),
            )],
            |p| {
                p["deceasedDateTime"] = json!("2020-01-01");
            },
        ),
        (
            "spec: add an anonymous element (Patient.contact) built from parts",
            vec![op(
                "add",
                "Patient",
                json!([{"name": "name", "valueString": "contact"}, {"name": "value", "part": [
                    {"name": "name", "valueHumanName": {"text": "a name"}},
                    {"name": "telecom", "valueContactPoint": {"system": "phone", "value": "555"}},
                    {"name": "telecom", "valueContactPoint": {"system": "email", "value": "a@b"}}
                ]}]),
            )],
            |p| {
                p["contact"] = json!([{"name": {"text": "a name"}, "telecom": [{"system": "phone", "value": "555"}, {"system": "email", "value": "a@b"}]}]);
            },
        ),
        (
            "add to a repeating element appends; one given part still becomes an array",
            vec![op(
                "add",
                "Patient",
                json!([{"name": "name", "valueString": "name"}, {"name": "value", "part": [
                    {"name": "family", "valueString": "Windsor"},
                    {"name": "given", "valueString": "Jim"}
                ]}]),
            )],
            |p| {
                p["name"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"family": "Windsor", "given": ["Jim"]}));
            },
        ),
        (
            "add a given name to the official name",
            vec![op(
                "add",
                "Patient.name.where(use = 'official')",
                json!([{"name": "name", "valueString": "given"}, {"name": "value", "valueString": "Jim"}]),
            )],
            |p| {
                p["name"][0]["given"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("Jim"));
            },
        ),
        (
            "add an extension built from parts, choice value named by base name",
            vec![op(
                "add",
                "Patient",
                json!([{"name": "name", "valueString": "extension"}, {"name": "value", "part": [
                    {"name": "url", "valueUri": "http://example.org/x"},
                    {"name": "value", "valueInteger": 3}
                ]}]),
            )],
            |p| {
                p["extension"] = json!([{"url": "http://example.org/x", "valueInteger": 3}]);
            },
        ),
        (
            "add a contained resource",
            vec![op(
                "add",
                "Patient",
                json!([{"name": "name", "valueString": "contained"}, {"name": "value", "resource": {"resourceType": "Organization", "id": "o1", "name": "Acme"}}]),
            )],
            |p| {
                p["contained"] =
                    json!([{"resourceType": "Organization", "id": "o1", "name": "Acme"}]);
            },
        ),
        (
            "spec: insert an identifier at the start",
            vec![op(
                "insert",
                "Patient.identifier",
                json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueIdentifier": {"system": "http://z", "value": "0"}}]),
            )],
            |p| {
                p["identifier"]
                    .as_array_mut()
                    .unwrap()
                    .insert(0, json!({"system": "http://z", "value": "0"}));
            },
        ),
        (
            "insert at the end (index = length)",
            vec![op(
                "insert",
                "Patient.name[0].given",
                json!([{"name": "index", "valueInteger": 2}, {"name": "value", "valueString": "Jr"}]),
            )],
            |p| {
                p["name"][0]["given"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("Jr"));
            },
        ),
        (
            "insert creates a missing list at index 0",
            vec![op(
                "insert",
                "Patient.telecom",
                json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueContactPoint": {"system": "phone", "value": "1"}}]),
            )],
            |p| {
                p["telecom"] = json!([{"system": "phone", "value": "1"}]);
            },
        ),
        (
            "spec: delete an element",
            vec![op("delete", "Patient.gender", json!([]))],
            |p| {
                p.as_object_mut().unwrap().remove("gender");
            },
        ),
        (
            "delete removes the primitive's extensions too",
            vec![op("delete", "Patient.birthDate", json!([]))],
            |p| {
                let o = p.as_object_mut().unwrap();
                o.remove("birthDate");
                o.remove("_birthDate");
            },
        ),
        (
            "delete one list item",
            vec![op("delete", "Patient.identifier[1]", json!([]))],
            |p| {
                p["identifier"].as_array_mut().unwrap().remove(1);
            },
        ),
        (
            "delete by filter",
            vec![op(
                "delete",
                "Patient.identifier.where(system = 'http://c')",
                json!([]),
            )],
            |p| {
                p["identifier"].as_array_mut().unwrap().remove(2);
            },
        ),
        (
            "delete of nothing is a no-op",
            vec![
                op("delete", "Patient.maritalStatus", json!([])),
                op(
                    "delete",
                    "Patient.identifier.where(system = 'none')",
                    json!([]),
                ),
            ],
            |_| {},
        ),
        (
            "delete the last item removes the emptied list and object",
            vec![
                op("delete", "Patient.name[0].given[0]", json!([])),
                op("delete", "Patient.name[0].given[0]", json!([])),
                op("delete", "Patient.name.family", json!([])),
                op("delete", "Patient.name.use", json!([])),
            ],
            |p| {
                p.as_object_mut().unwrap().remove("name");
            },
        ),
        (
            "spec: replace a primitive",
            vec![op(
                "replace",
                "Patient.birthDate",
                json!([{"name": "value", "valueDate": "1930-01-01"}]),
            )],
            |p| {
                p["birthDate"] = json!("1930-01-01");
            },
        ),
        (
            "replace a list item with a complex value",
            vec![op(
                "replace",
                "Patient.identifier[0]",
                json!([{"name": "value", "valueIdentifier": {"system": "http://q", "value": "9"}}]),
            )],
            |p| {
                p["identifier"][0] = json!({"system": "http://q", "value": "9"});
            },
        ),
        (
            "replace a boolean keeps JSON typing",
            vec![op(
                "replace",
                "Patient.active",
                json!([{"name": "value", "valueBoolean": false}]),
            )],
            |p| {
                p["active"] = json!(false);
            },
        ),
        (
            "spec: move within a list",
            vec![op(
                "move",
                "Patient.identifier",
                json!([{"name": "source", "valueInteger": 0}, {"name": "destination", "valueInteger": 2}]),
            )],
            |p| {
                let ids = p["identifier"].as_array_mut().unwrap();
                let first = ids.remove(0);
                ids.push(first);
            },
        ),
        (
            "several operations apply in order",
            vec![
                op(
                    "replace",
                    "Patient.name[0].family",
                    json!([{"name": "value", "valueString": "Smith"}]),
                ),
                op("delete", "Patient.name[0].given[1]", json!([])),
                op(
                    "add",
                    "Patient",
                    json!([{"name": "name", "valueString": "multipleBirthInteger"}, {"name": "value", "valueInteger": 2}]),
                ),
            ],
            |p| {
                p["name"][0]["family"] = json!("Smith");
                p["name"][0]["given"] = json!(["Peter"]);
                p["multipleBirthInteger"] = json!(2);
            },
        ),
    ]
}

#[test]
fn operations_apply_as_the_spec_describes() {
    for (name, ops, edit) in successes() {
        let before = patient();
        let mut patched = before.clone();
        apply_fhirpath_patch(&mut patched, &params(ops)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut expected = before.clone();
        edit(&mut expected);
        assert_eq!(patched, expected, "{name}");
        check_patched(&before, &patched, conformance::ElementModel::r4())
            .unwrap_or_else(|e| panic!("{name}: result rejected: {e}"));
    }
}

#[test]
fn choice_elements_can_change_type_on_replace() {
    let mut obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueQuantity": {"value": 1}});
    let p = params(vec![op(
        "replace",
        "Observation.value",
        json!([{"name": "value", "valueString": "high"}]),
    )]);
    apply_fhirpath_patch(&mut obs, &p).unwrap();
    assert_eq!(
        obs,
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valueString": "high"})
    );
}

#[test]
fn a_primitive_with_only_extensions_can_be_replaced_and_deleted() {
    let base = json!({"resourceType": "Patient", "_gender": {"extension": [{"url": "http://x", "valueString": "y"}]}});
    let mut p = base.clone();
    apply_fhirpath_patch(
        &mut p,
        &params(vec![op(
            "replace",
            "Patient.gender",
            json!([{"name": "value", "valueCode": "other"}]),
        )]),
    )
    .unwrap();
    assert_eq!(
        p,
        json!({"resourceType": "Patient", "_gender": {"extension": [{"url": "http://x", "valueString": "y"}]}, "gender": "other"})
    );
    let mut p = base.clone();
    apply_fhirpath_patch(
        &mut p,
        &params(vec![op("delete", "Patient.gender", json!([]))]),
    )
    .unwrap();
    assert_eq!(p, json!({"resourceType": "Patient"}));
}

#[test]
fn list_companions_stay_aligned() {
    let base = json!({"resourceType": "Practitioner", "name": [{"given": ["A", "B"], "_given": [null, {"extension": [{"url": "http://x", "valueString": "b"}]}]}]});
    let mut p = base.clone();
    let ops = vec![op(
        "move",
        "Practitioner.name[0].given",
        json!([{"name": "source", "valueInteger": 1}, {"name": "destination", "valueInteger": 0}]),
    )];
    apply_fhirpath_patch(&mut p, &params(ops)).unwrap();
    assert_eq!(
        p["name"][0],
        json!({"given": ["B", "A"], "_given": [{"extension": [{"url": "http://x", "valueString": "b"}]}, null]})
    );
    let mut p = base.clone();
    apply_fhirpath_patch(
        &mut p,
        &params(vec![op(
            "delete",
            "Practitioner.name[0].given[1]",
            json!([]),
        )]),
    )
    .unwrap();
    assert_eq!(p["name"][0], json!({"given": ["A"]}));
    let mut p = base.clone();
    apply_fhirpath_patch(
        &mut p,
        &params(vec![op(
            "insert",
            "Practitioner.name[0].given",
            json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueString": "Z"}]),
        )]),
    )
    .unwrap();
    assert_eq!(
        p["name"][0],
        json!({"given": ["Z", "A", "B"], "_given": [null, null, {"extension": [{"url": "http://x", "valueString": "b"}]}]})
    );
    check_patched(&base, &p, conformance::ElementModel::r4()).unwrap();
}

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

#[test]
fn patches_reach_into_contained_resources() {
    let mut org = json!({"resourceType": "Organization", "contained": [{"resourceType": "Location", "id": "l", "name": "Old"}]});
    let ops = vec![
        op(
            "replace",
            "Organization.contained.ofType(Location).name",
            json!([{"name": "value", "valueString": "New"}]),
        ),
        op(
            "add",
            "Organization.contained.ofType(Location)",
            json!([{"name": "name", "valueString": "alias"}, {"name": "value", "valueString": "A"}]),
        ),
    ];
    apply_fhirpath_patch(&mut org, &params(ops)).unwrap();
    assert_eq!(
        org["contained"][0],
        json!({"resourceType": "Location", "id": "l", "name": "New", "alias": ["A"]})
    );
}
