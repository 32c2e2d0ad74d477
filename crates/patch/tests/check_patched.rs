//! `check_patched`: the result of a patch keeps its type and id and is structurally valid;
//! problems already present before the patch do not block it.

use conformance::ElementModel;
use patch::{apply_fhirpath_patch, apply_json_patch, check_patched, PatchError};
use serde_json::{json, Value};

fn practitioner() -> Value {
    json!({"resourceType": "Practitioner", "id": "p1", "active": true, "name": [{"family": "Smith", "given": ["A"]}]})
}

/// (name, JSON Patch, expected error text).
fn rejected() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "type change",
            json!([{"op": "replace", "path": "/resourceType", "value": "Organization"}]),
            "must not change resourceType (from Some(\"Practitioner\") to Some(\"Organization\"))",
        ),
        (
            "type removed",
            json!([{"op": "remove", "path": "/resourceType"}]),
            "must not change resourceType",
        ),
        (
            "id change",
            json!([{"op": "replace", "path": "/id", "value": "p2"}]),
            "must not change the resource id (from Some(\"p1\") to Some(\"p2\"))",
        ),
        (
            "id removed",
            json!([{"op": "remove", "path": "/id"}]),
            "must not change the resource id",
        ),
        (
            "unknown element",
            json!([{"op": "add", "path": "/nickname", "value": "x"}]),
            "Practitioner.nickname: unknown element",
        ),
        (
            "single made an array",
            json!([{"op": "replace", "path": "/active", "value": [true]}]),
            "Practitioner.active: Practitioner.active has at most one value",
        ),
        (
            "array made single",
            json!([{"op": "replace", "path": "/name", "value": {"family": "X"}}]),
            "Practitioner.name repeats",
        ),
        (
            "wrong JSON kind",
            json!([{"op": "replace", "path": "/active", "value": "true"}]),
            "boolean must be true or false, found a string",
        ),
        (
            "nested wrong kind",
            json!([{"op": "add", "path": "/name/0/given/-", "value": 5}]),
            "Practitioner.name[0].given[1]: string must be a string, found a number",
        ),
        (
            "badly formed date",
            json!([{"op": "add", "path": "/birthDate", "value": "yesterday"}]),
            "Practitioner.birthDate: date must be a date",
        ),
        (
            "emptied list",
            json!([{"op": "remove", "path": "/name/0"}]),
            "Practitioner.name: arrays must not be empty",
        ),
        (
            "bad contained",
            json!([{"op": "add", "path": "/contained", "value": [{"resourceType": "Nope"}]}]),
            "unknown resource type \"Nope\"",
        ),
    ]
}

#[test]
fn results_that_change_identity_or_break_structure_are_rejected() {
    let model = ElementModel::r4();
    for (name, patch, expected) in rejected() {
        let before = practitioner();
        let mut after = before.clone();
        apply_json_patch(&mut after, &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
        let err = check_patched(&before, &after, model).expect_err(name);
        assert!(err.to_string().contains(expected), "{name}: {err}");
    }
}

#[test]
fn a_valid_result_is_accepted() {
    let before = practitioner();
    let mut after = before.clone();
    apply_json_patch(
        &mut after,
        &json!([{"op": "add", "path": "/gender", "value": "female"}]),
    )
    .unwrap();
    check_patched(&before, &after, ElementModel::r4()).unwrap();
    // Adding an id where there was none is an id change, too.
    let mut no_id = before.clone();
    no_id.as_object_mut().unwrap().remove("id");
    assert!(matches!(
        check_patched(&no_id, &before, ElementModel::r4()),
        Err(PatchError::IdChanged { .. })
    ));
}

#[test]
fn problems_already_present_do_not_block_an_unrelated_patch() {
    // As in the Plan-Net RI data: an NPI stored as a JSON number.
    let before = json!({"resourceType": "Organization", "id": "o", "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": 1234567893}]});
    let mut after = before.clone();
    let p = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Organization"},
        {"name": "name", "valueString": "active"}, {"name": "value", "valueBoolean": true}]}]});
    apply_fhirpath_patch(&mut after, &p).unwrap();
    check_patched(&before, &after, ElementModel::r4()).unwrap();
    // An insert that shifts the faulty identifier does not make its issue new...
    let shift = json!([{"op": "add", "path": "/identifier/0", "value": {"value": "x"}}]);
    let mut shifted = after.clone();
    apply_json_patch(&mut shifted, &shift).unwrap();
    check_patched(&before, &shifted, ElementModel::r4()).unwrap();
    // ...but one more identifier with the same fault is.
    let another = json!([{"op": "add", "path": "/identifier/-", "value": {"value": 5}}]);
    apply_json_patch(&mut shifted, &another).unwrap();
    assert!(check_patched(&before, &shifted, ElementModel::r4()).is_err());
    // A new problem still counts, and only it is reported.
    apply_json_patch(
        &mut after,
        &json!([{"op": "add", "path": "/alias", "value": "x"}]),
    )
    .unwrap();
    match check_patched(&before, &after, ElementModel::r4()) {
        Err(PatchError::InvalidResult { issues }) => {
            assert_eq!(issues.len(), 1, "{issues:?}");
            assert_eq!(issues[0].path, "Organization.alias");
        }
        other => panic!("{other:?}"),
    }
}

/// Every Plan-Net example in the shared data takes a typical FHIRPath Patch (add an
/// extension built from parts, delete the narrative) and still passes the check.
#[test]
fn official_examples_survive_a_typical_patch() {
    let Some(dir) = testkit::shared_fhir_at("plan-net/1.2.0/example") else {
        return;
    };
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let before: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let rt = before["resourceType"].as_str().unwrap().to_string();
        let p = json!({"resourceType": "Parameters", "parameter": [
            {"name": "operation", "part": [
                {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": rt},
                {"name": "name", "valueString": "extension"},
                {"name": "value", "part": [{"name": "url", "valueUri": "http://example.org/patched"}, {"name": "value", "valueBoolean": true}]}]},
            {"name": "operation", "part": [
                {"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": format!("{rt}.text")}]}
        ]});
        let mut after = before.clone();
        apply_fhirpath_patch(&mut after, &p).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(after.get("text").is_none());
        let ext = after["extension"].as_array().unwrap().last().unwrap();
        assert_eq!(
            ext,
            &json!({"url": "http://example.org/patched", "valueBoolean": true})
        );
        check_patched(&before, &after, ElementModel::r4())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        count += 1;
    }
    assert!(count >= 40, "{count}");
}
