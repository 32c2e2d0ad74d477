//! Redaction: exactly the elements named go (with their primitive shadows and any container left
//! empty), the resource's identity, meta and contained Restrictions stay, REDACTED is added once.

use serde_json::{json, Value};

use crate::path::{ElementPath, Step};
use crate::{redact, OBSERVATION_VALUE_SYSTEM};

use super::{path, practitioner, restriction};

fn redacted_label() -> Value {
    json!({"system": OBSERVATION_VALUE_SYSTEM, "code": "REDACTED", "display": "redacted"})
}

/// `resource` after `edit`, with the REDACTED label added to `meta.security`.
fn expected(resource: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut out = resource.clone();
    edit(&mut out);
    let meta = out
        .as_object_mut()
        .expect("object")
        .entry("meta")
        .or_insert_with(|| json!({}));
    meta.as_object_mut()
        .expect("meta")
        .entry("security")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("security")
        .push(redacted_label());
    out
}

fn remove(value: &mut Value, key: &str) {
    value.as_object_mut().expect("object").remove(key);
}

#[test]
fn redact_removes_exactly_the_named_elements_and_keeps_contained_restrictions() {
    let location = json!({
        "resourceType": "Location",
        "id": "l1",
        "meta": {"versionId": "7", "lastUpdated": "2024-01-02T03:04:05Z"},
        "extension": [super::usage_restriction("#r1")],
        "contained": [restriction("r1", &["Location.address", "Location.telecom"], Value::Null)],
        "status": "active",
        "name": "The W Womens Shelter",
        "telecom": [{"system": "phone", "value": "555 administration"}],
        "address": {"city": "Ann Arbor", "line": ["3300 Washtenaw Avenue"]}
    });
    let mut resource = location.clone();
    redact(&mut resource, &[path("address"), path("telecom")]);
    assert_eq!(
        resource,
        expected(&location, |l| {
            remove(l, "address");
            remove(l, "telecom");
        })
    );
}

#[test]
fn redact_of_the_home_form_removes_only_the_home_entries() {
    let joe = practitioner(Vec::new());
    let mut resource = joe.clone();
    redact(
        &mut resource,
        &[
            path("address.where(use='home')"),
            path("telecom.where(use='home')"),
        ],
    );
    assert_eq!(
        resource,
        expected(&joe, |p| {
            p["address"].as_array_mut().expect("addresses").remove(0);
            p["telecom"].as_array_mut().expect("telecoms").remove(0);
        })
    );
    assert_eq!(resource["address"][0]["use"], "work");
    assert_eq!(resource["telecom"][0]["value"], "555-123-1234");
}

#[test]
fn redact_removes_an_element_left_without_entries() {
    let mut joe = practitioner(Vec::new());
    joe["address"][1]["use"] = json!("home");
    let mut resource = joe.clone();
    redact(&mut resource, &[path("address.where(use='home')")]);
    assert_eq!(resource, expected(&joe, |p| remove(p, "address")));
}

#[test]
fn redact_of_one_entry_removes_that_entry_only() {
    let joe = practitioner(Vec::new());
    let mut resource = joe.clone();
    redact(
        &mut resource,
        &[ElementPath::new(vec![Step::entry("telecom", 1)])],
    );
    assert_eq!(
        resource,
        expected(&joe, |p| {
            p["telecom"].as_array_mut().expect("telecoms").remove(1);
        })
    );
}

#[test]
fn redact_of_several_entries_of_one_array_removes_each_once() {
    let mut joe = practitioner(Vec::new());
    joe["telecom"]
        .as_array_mut()
        .expect("telecoms")
        .push(json!({"system": "email", "value": "joe@example.org", "use": "home"}));
    let mut resource = joe.clone();
    redact(
        &mut resource,
        &[
            ElementPath::new(vec![Step::entry("telecom", 0)]),
            path("telecom.where(use='home')"),
            ElementPath::new(vec![Step::entry("telecom", 2)]),
        ],
    );
    assert_eq!(
        resource,
        expected(&joe, |p| {
            let telecom = p["telecom"].as_array_mut().expect("telecoms");
            telecom.remove(2);
            telecom.remove(0);
        })
    );
}

#[test]
fn redact_of_an_element_and_something_inside_it_removes_the_element_only() {
    let mut joe = practitioner(Vec::new());
    joe["address"][0] = json!({"line": ["263 Farmington Ave"]});
    let mut resource = joe.clone();
    redact(
        &mut resource,
        &[
            ElementPath::new(vec![Step::entry("address", 0), Step::named("line")]),
            ElementPath::new(vec![Step::entry("address", 0)]),
        ],
    );
    assert_eq!(
        resource,
        expected(&joe, |p| {
            p["address"].as_array_mut().expect("addresses").remove(0);
        })
    );
    assert_eq!(resource["address"][0]["use"], "work");
}

#[test]
fn redact_of_everything_in_an_entry_removes_the_entry() {
    let mut joe = practitioner(Vec::new());
    joe["address"][0] = json!({"line": ["263 Farmington Ave", "Apt 2"]});
    let mut resource = joe.clone();
    redact(
        &mut resource,
        &[ElementPath::new(vec![
            Step::entry("address", 0),
            Step::named("line"),
        ])],
    );
    assert_eq!(
        resource,
        expected(&joe, |p| {
            p["address"].as_array_mut().expect("addresses").remove(0);
        })
    );
}

#[test]
fn redact_takes_primitives_with_their_extensions() {
    let mut joe = practitioner(Vec::new());
    joe["birthDate"] = json!("1970-01-01");
    joe["_birthDate"] = json!({"extension": [{"url": "http://example.org/x", "valueString": "y"}]});
    joe["name"][0]["given"] = json!(["Joe", "Jim"]);
    joe["name"][0]["_given"] = json!([null, {"id": "g2"}]);
    let mut resource = joe.clone();
    redact(
        &mut resource,
        &[
            path("birthDate"),
            ElementPath::new(vec![Step::entry("name", 0), Step::entry("given", 1)]),
        ],
    );
    assert_eq!(
        resource,
        expected(&joe, |p| {
            remove(p, "birthDate");
            remove(p, "_birthDate");
            p["name"][0]["given"] = json!(["Joe"]);
            remove(&mut p["name"][0], "_given");
        })
    );
}

#[test]
fn redact_of_a_nested_element_prunes_the_containers_it_empties() {
    let mut joe = practitioner(Vec::new());
    joe["qualification"] = json!([
        {"code": {"text": "MD"}},
        {"code": {"text": "Board"}, "issuer": {"display": "ABIM"}}
    ]);
    let mut resource = joe.clone();
    redact(&mut resource, &[path("qualification.code")]);
    assert_eq!(
        resource,
        expected(&joe, |p| {
            p["qualification"] = json!([{"issuer": {"display": "ABIM"}}]);
        })
    );
}

#[test]
fn redact_never_removes_identity_meta_or_contained_restrictions() {
    let joe = practitioner(vec![restriction("r1", &[], Value::Null)]);
    let mut with_location = joe.clone();
    with_location["contained"]
        .as_array_mut()
        .expect("contained")
        .push(json!({"resourceType": "Location", "id": "loc"}));
    let mut resource = with_location.clone();
    // Paths no expression parses to, as a stored policy could still carry them.
    let forbidden: Vec<ElementPath> = ["id", "meta", "resourceType", "contained"]
        .iter()
        .map(|name| ElementPath::new(vec![Step::named(name)]))
        .chain([
            ElementPath::new(vec![Step::named("meta"), Step::named("versionId")]),
            ElementPath::new(vec![Step::entry("contained", 0)]),
        ])
        .collect();
    redact(&mut resource, &forbidden);
    // Only the contained Location goes.
    assert_eq!(resource, expected(&joe, |_| {}));
    assert_eq!(resource["meta"]["versionId"], "3");
    assert_eq!(resource["contained"][0]["id"], "r1");
}

#[test]
fn redact_adds_the_redacted_label_once_and_keeps_other_labels_and_version() {
    let mut joe = practitioner(Vec::new());
    joe["meta"]["security"] = json!([{
        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
        "code": "R"
    }]);
    let mut once = joe.clone();
    redact(&mut once, &[path("telecom")]);
    let mut twice = once.clone();
    redact(&mut twice, &[path("telecom")]);
    assert_eq!(twice, once);
    let labels = once["meta"]["security"].as_array().expect("labels");
    assert_eq!(labels.len(), 2);
    assert_eq!(labels[0]["code"], "R");
    assert_eq!(labels[1], redacted_label());
    assert_eq!(once["meta"]["versionId"], "3");
    assert_eq!(once["meta"]["lastUpdated"], "2024-01-02T03:04:05Z");
}

#[test]
fn redact_labels_a_resource_without_meta() {
    let mut resource = json!({"resourceType": "Location", "id": "l1", "telecom": [{"value": "1"}]});
    redact(&mut resource, &[path("telecom")]);
    assert_eq!(
        resource,
        json!({
            "resourceType": "Location",
            "id": "l1",
            "meta": {"security": [redacted_label()]}
        })
    );
}

#[test]
fn redact_labels_even_when_nothing_is_at_the_paths_so_the_label_reveals_nothing() {
    let mut joe = practitioner(Vec::new());
    remove(&mut joe, "address");
    let mut resource = joe.clone();
    redact(&mut resource, &[path("address.where(use='home')")]);
    assert_eq!(resource, expected(&joe, |_| {}));
}

#[test]
fn redact_drops_the_narrative_which_may_repeat_hidden_elements() {
    let mut joe = practitioner(Vec::new());
    joe["text"] = json!({
        "status": "generated",
        "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Joe Smith, 555-123-6666</div>"
    });
    let mut resource = joe.clone();
    redact(&mut resource, &[path("telecom.where(use='home')")]);
    assert!(resource.get("text").is_none());
}

#[test]
fn redact_without_paths_changes_nothing() {
    let joe = practitioner(Vec::new());
    let mut resource = joe.clone();
    redact(&mut resource, &[]);
    assert_eq!(resource, joe);
}
