//! Broken variants of valid resources, each giving the expected issue at the expected
//! FHIRPath location (`OperationOutcome.issue.expression`), and nothing else.

use serde_json::{json, Value};
use validation::{has_errors, Issue, IssueSeverity as Severity, IssueType, Validator};

fn errors(resource: &Value) -> Vec<Issue> {
    Validator::core()
        .validate(resource)
        .into_iter()
        .filter(|i| i.severity <= Severity::Error)
        .collect()
}

fn role() -> Value {
    json!({
        "resourceType": "PractitionerRole",
        "id": "r1",
        "active": true,
        "practitioner": {"reference": "Practitioner/p1"},
        "telecom": [{"system": "phone", "value": "555-0100", "use": "work"}],
        "availableTime": [{"daysOfWeek": ["mon", "tue"], "availableStartTime": "08:00:00"}],
        "period": {"start": "2020-01-01", "end": "2024-12-31"}
    })
}

/// The one error of `resource`: its code and location.
fn only_error(resource: &Value) -> (IssueType, String, String) {
    let e = errors(resource);
    assert_eq!(e.len(), 1, "one error expected: {e:#?}");
    (
        e[0].code,
        e[0].expression.join(", "),
        e[0].diagnostics.clone(),
    )
}

#[test]
fn the_valid_resource_has_no_error() {
    assert!(!has_errors(&Validator::core().validate(&role())));
}

#[test]
fn a_missing_required_element_is_reported_at_its_parent_naming_it() {
    let bundle = json!({"resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": role(), "request": {"url": "PractitionerRole/r1"}}]});
    let (code, at, why) = only_error(&bundle);
    assert_eq!(code, IssueType::Required);
    assert_eq!(at, "Bundle.entry[0].request");
    assert!(why.contains("`method`"), "{why}");
    let mut r = role();
    r["telecom"][0] = json!({"system": "phone", "value": "555-0100", "use": "work",
                             "rank": 1, "period": {"start": "2020"}});
    assert!(errors(&r).is_empty());
    // Extension.url (min 1).
    r["extension"] = json!([{"valueString": "x"}]);
    let (code, at, why) = only_error(&r);
    assert_eq!(
        (code, at.as_str()),
        (IssueType::Required, "PractitionerRole.extension[0]")
    );
    assert!(why.contains("`url`"), "{why}");
}

#[test]
fn a_code_outside_a_required_binding_is_refused_where_it_stands() {
    let mut r = role();
    r["telecom"][0]["system"] = json!("pager-ish");
    let (code, at, why) = only_error(&r);
    assert_eq!(code, IssueType::CodeInvalid);
    assert_eq!(at, "PractitionerRole.telecom[0].system");
    assert!(why.contains("contact-point-system"), "{why}");
    let mut r = role();
    r["availableTime"][0]["daysOfWeek"][1] = json!("someday");
    let (code, at, _) = only_error(&r);
    assert_eq!(code, IssueType::CodeInvalid);
    assert_eq!(at, "PractitionerRole.availableTime[0].daysOfWeek[1]");
}

#[test]
fn cardinality_exceeded_and_unknown_elements_are_structure_errors() {
    let mut r = role();
    r["active"] = json!([true, false]);
    let (code, at, _) = only_error(&r);
    assert_eq!(
        (code, at.as_str()),
        (IssueType::Structure, "PractitionerRole.active")
    );
    let mut r = role();
    r["telecom"][0]["colour"] = json!("blue");
    let (code, at, why) = only_error(&r);
    assert_eq!(code, IssueType::Structure);
    assert_eq!(at, "PractitionerRole.telecom[0].colour");
    assert!(why.contains("unknown element"), "{why}");
}

#[test]
fn a_wrong_primitive_format_is_a_value_error() {
    let mut r = role();
    r["period"]["start"] = json!("01/02/2020");
    let (code, at, _) = only_error(&r);
    assert_eq!(
        (code, at.as_str()),
        (IssueType::Value, "PractitionerRole.period.start")
    );
    let mut r = role();
    r["availableTime"][0]["availableStartTime"] = json!("8am");
    let (code, at, _) = only_error(&r);
    assert_eq!(
        (code, at.as_str()),
        (
            IssueType::Value,
            "PractitionerRole.availableTime[0].availableStartTime"
        )
    );
}

#[test]
fn a_failing_invariant_is_reported_with_its_key() {
    // per-1: a period's start is not after its end.
    let mut r = role();
    r["period"] = json!({"start": "2025-01-01", "end": "2020-01-01"});
    let (code, at, why) = only_error(&r);
    assert_eq!(
        (code, at.as_str()),
        (IssueType::Invariant, "PractitionerRole.period")
    );
    assert!(why.starts_with("per-1 failed"), "{why}");
    // org-1: an organization has a name or an identifier.
    let org = json!({"resourceType": "Organization", "id": "o", "active": true});
    let (code, at, why) = only_error(&org);
    assert_eq!((code, at.as_str()), (IssueType::Invariant, "Organization"));
    assert!(why.starts_with("org-1 failed"), "{why}");
    // cpt-2: a contact point with a value has a system.
    let mut r = role();
    r["telecom"][0].as_object_mut().unwrap().remove("system");
    let (code, at, why) = only_error(&r);
    assert_eq!(
        (code, at.as_str()),
        (IssueType::Invariant, "PractitionerRole.telecom[0]")
    );
    assert!(why.starts_with("cpt-2 failed"), "{why}");
    // ref-1 in a contained resource's container: a local reference must resolve.
    let mut r = role();
    r["location"] = json!([{"reference": "#nowhere"}]);
    let (code, at, why) = only_error(&r);
    assert_eq!(
        (code, at.as_str()),
        (IssueType::Invariant, "PractitionerRole.location[0]")
    );
    assert!(why.starts_with("ref-1 failed"), "{why}");
    r["contained"] = json!([{"resourceType": "Location", "id": "nowhere", "name": "Here"}]);
    assert!(errors(&r).is_empty(), "{:#?}", errors(&r));
}

#[test]
fn warnings_do_not_make_a_resource_invalid() {
    // dom-6: a resource should have a narrative (a warning).
    let issues = Validator::core().validate(&role());
    assert!(issues
        .iter()
        .any(|i| i.severity == Severity::Warning && i.diagnostics.starts_with("dom-6")));
    assert!(!has_errors(&issues));
}
