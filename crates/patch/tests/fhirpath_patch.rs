//! FHIRPath Patch (<https://hl7.org/fhir/R4/fhirpatch.html>): the spec page's examples (as
//! equivalents), every operation type, typed and part-built values, list companions and
//! contained resources. Error cases are in `fhirpath_patch_errors.rs`.

mod common;

use common::{op, params, patient};
use patch::{apply_fhirpath_patch, check_patched};
use serde_json::{json, Value};

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

#[test]
fn extensions_can_be_added_to_primitives() {
    let ext = json!([{"name": "name", "valueString": "extension"}, {"name": "value", "part": [
        {"name": "url", "valueUri": "http://example.org/e"}, {"name": "value", "valueCode": "x"}]}]);
    let before = patient();
    let mut p = before.clone();
    let ops = vec![
        op("add", "Patient.birthDate", ext.clone()),
        op("add", "Patient.gender", ext.clone()),
        op("add", "Patient.name[0].given[1]", ext),
    ];
    apply_fhirpath_patch(&mut p, &params(ops)).unwrap();
    let e = json!({"url": "http://example.org/e", "valueCode": "x"});
    assert_eq!(p["_birthDate"]["extension"][1], e);
    assert_eq!(p["_gender"], json!({"extension": [e]}));
    assert_eq!(p["name"][0]["_given"], json!([null, {"extension": [e]}]));
    check_patched(&before, &p, conformance::ElementModel::r4()).unwrap();
    // And deleted again: the emptied companions go too.
    let ops = vec![
        op("delete", "Patient.gender.extension", json!([])),
        op("delete", "Patient.name[0].given[1].extension", json!([])),
    ];
    apply_fhirpath_patch(&mut p, &params(ops)).unwrap();
    assert!(p.get("_gender").is_none(), "{p}");
    assert!(p["name"][0].get("_given").is_none(), "{p}");
}

#[test]
fn consecutive_moves_apply_in_order() {
    // Three moves of the last item reverse the list: each move sees the previous result.
    let mut p = patient();
    let mv = |source: usize, destination: usize| {
        op(
            "move",
            "Patient.identifier",
            json!([{"name": "source", "valueInteger": source}, {"name": "destination", "valueInteger": destination}]),
        )
    };
    apply_fhirpath_patch(&mut p, &params(vec![mv(2, 0), mv(2, 1)])).unwrap();
    let values: Vec<&str> = p["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["3", "2", "1"]);
}

#[test]
fn the_narrative_div_takes_a_string() {
    let before = json!({"resourceType": "Patient", "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">a</div>"}});
    let mut p = before.clone();
    let div = "<div xmlns=\"http://www.w3.org/1999/xhtml\"><b>b</b></div>";
    apply_fhirpath_patch(
        &mut p,
        &params(vec![op(
            "replace",
            "Patient.text.div",
            json!([{"name": "value", "valueString": div}]),
        )]),
    )
    .unwrap();
    assert_eq!(p["text"]["div"], json!(div));
    check_patched(&before, &p, conformance::ElementModel::r4()).unwrap();
}

#[test]
fn resolve_reaches_contained_resources_only() {
    let before = json!({"resourceType": "Patient",
        "contained": [{"resourceType": "Organization", "id": "o", "name": "Old"}],
        "managingOrganization": {"reference": "#o"},
        "generalPractitioner": [{"reference": "Practitioner/elsewhere"}]});
    let mut p = before.clone();
    let ops = vec![op(
        "replace",
        "Patient.managingOrganization.resolve().name",
        json!([{"name": "value", "valueString": "New"}]),
    )];
    apply_fhirpath_patch(&mut p, &params(ops)).unwrap();
    assert_eq!(p["contained"][0]["name"], json!("New"));
    // Another resource cannot be patched through a reference.
    let ops = vec![op(
        "replace",
        "Patient.generalPractitioner.resolve().id",
        json!([{"name": "value", "valueString": "x"}]),
    )];
    assert!(apply_fhirpath_patch(&mut p, &params(ops)).is_err());
}

#[test]
fn list_paths_may_omit_the_resource_type() {
    let mut p = patient();
    let ops = vec![
        op(
            "move",
            "identifier",
            json!([{"name": "source", "valueInteger": 0}, {"name": "destination", "valueInteger": 1}]),
        ),
        op(
            "insert",
            "telecom",
            json!([{"name": "index", "valueInteger": 0}, {"name": "value", "valueContactPoint": {"value": "1"}}]),
        ),
        op("delete", "gender", json!([])),
    ];
    apply_fhirpath_patch(&mut p, &params(ops)).unwrap();
    assert_eq!(p["identifier"][0]["value"], json!("2"));
    assert_eq!(p["telecom"], json!([{"value": "1"}]));
    assert!(p.get("gender").is_none());
}
