//! Profile rules one at a time, on a small package written here: each broken variant of a
//! valid Practitioner gives the expected issue at the expected expression, and the valid
//! one gives none.

use conformance::DefinitionPackage;
use serde_json::{json, Value};
use validation::{describe, IssueSeverity as Severity, ProfileSet};

const STRICT: &str = "http://example.org/sd/strict-practitioner";
const CHILD: &str = "http://example.org/sd/strict-child";
const ORPHAN: &str = "http://example.org/sd/orphan";
const OPEN_BASE: &str = "http://example.org/sd/open-base";
const CLOSING: &str = "http://example.org/sd/closing-child";
const NPI_IDENTIFIER: &str = "http://example.org/sd/npi-identifier";
const DISCRIMINATED: &str = "http://example.org/sd/discriminated";
const TYPED: &str = "http://example.org/sd/typed";
const RATING: &str = "http://example.org/ext/rating";
const HOURS: &str = "http://example.org/ext/hours";

fn el(id: &str, rest: Value) -> Value {
    let path: String = id
        .split('.')
        .map(|p| p.split(':').next().unwrap())
        .collect::<Vec<_>>()
        .join(".");
    let mut e = json!({"id": id, "path": path});
    e.as_object_mut()
        .unwrap()
        .extend(rest.as_object().unwrap().clone());
    e
}

fn sd(url: &str, ty: &str, base: &str, elements: Vec<Value>, extra: Value) -> Value {
    let mut sd = json!({
        "resourceType": "StructureDefinition", "url": url, "name": "X", "status": "active",
        "kind": if ty == "Extension" { "complex-type" } else { "resource" },
        "abstract": false, "type": ty, "baseDefinition": base, "derivation": "constraint",
        "differential": {"element": elements}
    });
    sd.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    sd
}

fn package() -> DefinitionPackage {
    let core = |t: &str| format!("http://hl7.org/fhir/StructureDefinition/{t}");
    let resources = vec![
        sd(
            RATING,
            "Extension",
            &core("Extension"),
            vec![
                el("Extension.url", json!({"fixedUri": RATING})),
                el("Extension.value[x]", json!({"type": [{"code": "integer"}]})),
            ],
            json!({"context": [{"type": "element", "expression": "Practitioner"}]}),
        ),
        sd(
            HOURS,
            "Extension",
            &core("Extension"),
            vec![
                el(
                    "Extension.extension",
                    json!({"slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "closed"}}),
                ),
                el("Extension.extension:day", json!({"min": 1, "max": "1"})),
                el("Extension.extension:day.url", json!({"fixedUri": "day"})),
                el(
                    "Extension.extension:day.value[x]",
                    json!({"type": [{"code": "code"}]}),
                ),
                el("Extension.extension:open", json!({"min": 0, "max": "1"})),
                el("Extension.extension:open.url", json!({"fixedUri": "open"})),
                el(
                    "Extension.extension:open.value[x]",
                    json!({"type": [{"code": "boolean"}]}),
                ),
                el("Extension.url", json!({"fixedUri": HOURS})),
                el("Extension.value[x]", json!({"max": "0"})),
            ],
            json!({"context": [{"type": "element", "expression": "Practitioner"}]}),
        ),
        sd(
            STRICT,
            "Practitioner",
            &core("Practitioner"),
            vec![
                el(
                    "Practitioner",
                    json!({"constraint": [{"key": "strict-1", "severity": "error", "human": "a practitioner is named", "expression": "name.exists()"}]}),
                ),
                el(
                    "Practitioner.extension",
                    json!({"slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}}),
                ),
                el(
                    "Practitioner.extension:rating",
                    json!({"min": 1, "max": "1", "type": [{"code": "Extension", "profile": [RATING]}]}),
                ),
                el(
                    "Practitioner.identifier",
                    json!({"slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "closed"}}),
                ),
                el("Practitioner.identifier:NPI", json!({"min": 1, "max": "1"})),
                el(
                    "Practitioner.identifier:NPI.system",
                    json!({"min": 1, "fixedUri": "http://hl7.org/fhir/sid/us-npi"}),
                ),
                el("Practitioner.identifier:NPI.value", json!({"min": 1})),
                el("Practitioner.active", json!({"fixedBoolean": true})),
                el("Practitioner.name", json!({"max": "1"})),
                el(
                    "Practitioner.communication",
                    json!({"binding": {"strength": "required", "valueSet": "http://example.org/vs/langs"}}),
                ),
            ],
            json!({}),
        ),
        sd(
            CHILD,
            "Practitioner",
            STRICT,
            vec![el("Practitioner.identifier:NPI.period", json!({"min": 1}))],
            json!({}),
        ),
        sd(
            ORPHAN,
            "Practitioner",
            "http://example.org/sd/absent",
            vec![el("Practitioner.gender", json!({"min": 1}))],
            json!({}),
        ),
        sd(
            OPEN_BASE,
            "Practitioner",
            &core("Practitioner"),
            vec![
                el(
                    "Practitioner.identifier",
                    json!({"slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "open"}}),
                ),
                el("Practitioner.identifier:NPI", json!({"min": 1})),
                el(
                    "Practitioner.identifier:NPI.system",
                    json!({"fixedUri": "http://hl7.org/fhir/sid/us-npi"}),
                ),
            ],
            json!({}),
        ),
        sd(
            CLOSING,
            "Practitioner",
            OPEN_BASE,
            vec![
                el(
                    "Practitioner.identifier",
                    json!({"slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "closed"}}),
                ),
                el("Practitioner.identifier:licence", json!({"max": "1"})),
                el(
                    "Practitioner.identifier:licence.system",
                    json!({"fixedUri": "http://example.org/licence"}),
                ),
                el(
                    "Practitioner.telecom",
                    json!({"slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "openAtEnd", "ordered": true}}),
                ),
                el("Practitioner.telecom:phone", json!({})),
                el(
                    "Practitioner.telecom:phone.system",
                    json!({"fixedCode": "phone"}),
                ),
                el("Practitioner.telecom:email", json!({})),
                el(
                    "Practitioner.telecom:email.system",
                    json!({"fixedCode": "email"}),
                ),
            ],
            json!({}),
        ),
        sd(
            NPI_IDENTIFIER,
            "Identifier",
            &core("Identifier"),
            vec![el(
                "Identifier.system",
                json!({"fixedUri": "http://hl7.org/fhir/sid/us-npi"}),
            )],
            json!({"kind": "complex-type"}),
        ),
        sd(
            DISCRIMINATED,
            "Practitioner",
            &core("Practitioner"),
            vec![
                // By profile: an identifier that meets NPI_IDENTIFIER.
                el(
                    "Practitioner.identifier",
                    json!({"slicing": {"discriminator": [{"type": "profile", "path": "$this"}], "rules": "open"}}),
                ),
                el(
                    "Practitioner.identifier:npi",
                    json!({"min": 1, "type": [{"code": "Identifier", "profile": [NPI_IDENTIFIER]}]}),
                ),
                // By existence: a qualification with a period.
                el(
                    "Practitioner.qualification",
                    json!({"slicing": {"discriminator": [{"type": "exists", "path": "period"}], "rules": "open"}}),
                ),
                el("Practitioner.qualification:dated", json!({"min": 1})),
                el("Practitioner.qualification:dated.period", json!({"min": 1})),
                // Extensible and preferred bindings warn; a required one to a value set
                // nobody loaded warns that it was not checked.
                el(
                    "Practitioner.gender",
                    json!({"binding": {"strength": "extensible", "valueSet": "http://example.org/vs/female"}}),
                ),
                el(
                    "Practitioner.qualification.code",
                    json!({"binding": {"strength": "preferred", "valueSet": "http://example.org/vs/degrees"}}),
                ),
                el(
                    "Practitioner.communication",
                    json!({"binding": {"strength": "required", "valueSet": "http://example.org/vs/absent"}}),
                ),
            ],
            json!({}),
        ),
        sd(
            TYPED,
            "Observation",
            &core("Observation"),
            vec![
                // By type, closed: a Quantity only.
                el(
                    "Observation.value[x]",
                    json!({"slicing": {"discriminator": [{"type": "type", "path": "$this"}], "rules": "closed"}}),
                ),
                el(
                    "Observation.value[x]:amount",
                    json!({"type": [{"code": "Quantity"}]}),
                ),
            ],
            json!({}),
        ),
        json!({"resourceType": "ValueSet", "url": "http://example.org/vs/female", "status": "active",
               "compose": {"include": [{"system": "http://hl7.org/fhir/administrative-gender", "concept": [{"code": "female"}]}]}}),
        json!({"resourceType": "ValueSet", "url": "http://example.org/vs/degrees", "status": "active",
               "compose": {"include": [{"system": "http://example.org/degrees", "concept": [{"code": "MD"}]}]}}),
        json!({"resourceType": "ValueSet", "url": "http://example.org/vs/langs", "status": "active",
               "compose": {"include": [{"system": "urn:ietf:bcp:47", "concept": [{"code": "en"}, {"code": "es"}]}]}}),
    ];
    DefinitionPackage {
        id: Some("example.rules#1.0.0".into()),
        resources,
        ..DefinitionPackage::default()
    }
}

fn valid(profile: &str) -> Value {
    json!({
        "resourceType": "Practitioner", "id": "p1", "meta": {"profile": [profile]},
        "extension": [
            {"url": RATING, "valueInteger": 5},
            {"url": HOURS, "extension": [{"url": "day", "valueCode": "mon"}, {"url": "open", "valueBoolean": true}]}
        ],
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893",
                        "period": {"start": "2020-01-01"}}],
        "active": true,
        "name": [{"family": "Osler"}],
        "communication": [{"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}]
    })
}

fn errors(set: &ProfileSet, r: &Value) -> Vec<(String, String, String)> {
    set.validate(r, &[])
        .into_iter()
        .filter(|i| i.severity <= Severity::Error)
        .map(|i| {
            (
                i.code.as_str().to_owned(),
                i.expression.join(" "),
                i.diagnostics,
            )
        })
        .collect()
}

#[test]
fn the_valid_practitioner_meets_both_profiles() {
    let set = ProfileSet::new([&package()]);
    for p in [STRICT, CHILD] {
        let mut issues = set.validate(&valid(p), &[]);
        // R4 core's best practice (dom-6, a warning): no narrative.
        issues.retain(|i| !i.diagnostics.starts_with("dom-6"));
        assert!(
            issues.iter().all(|i| i.severity > Severity::Warning),
            "{p}: {:?}",
            issues.iter().map(describe).collect::<Vec<_>>()
        );
    }
}

#[test]
fn each_broken_variant_gives_its_issue_at_its_place() {
    let set = ProfileSet::new([&package()]);
    type Change = fn(&mut Value);
    let cases: Vec<(&str, Change, &str, &str, &str)> = vec![
        (
            "a required slice missing",
            |r| {
                r.as_object_mut().unwrap().remove("identifier");
            },
            "required",
            "Practitioner",
            "of the slice NPI",
        ),
        (
            "a closed slicing violated",
            |r| {
                r["identifier"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"system": "http://example.org/other", "value": "x"}))
            },
            "structure",
            "Practitioner.identifier[1]",
            "matches none of the slices of Practitioner.identifier",
        ),
        (
            "a fixed value",
            |r| r["active"] = json!(false),
            "value",
            "Practitioner.active",
            "must be exactly true",
        ),
        (
            "cardinality exceeded",
            |r| r["name"] = json!([{"family": "A"}, {"family": "B"}]),
            "structure",
            "Practitioner.name",
            "allows at most 1, found 2",
        ),
        (
            "a code outside a required binding",
            |r| r["communication"][0]["coding"][0]["code"] = json!("fr"),
            "code-invalid",
            "Practitioner.communication[0]",
            "`urn:ietf:bcp:47|fr` is not in the value set http://example.org/vs/langs",
        ),
        (
            "a failing invariant",
            |r| {
                r.as_object_mut().unwrap().remove("name");
            },
            "invariant",
            "Practitioner",
            "strict-1 failed",
        ),
        (
            "a wrong extension value type",
            |r| r["extension"][0] = json!({"url": RATING, "valueString": "five"}),
            "structure",
            "Practitioner.extension[0].valueString",
            "allows the types integer, not String",
        ),
        (
            "an extension out of its context",
            |r| r["name"][0]["extension"] = json!([{"url": RATING, "valueInteger": 1}]),
            "structure",
            "Practitioner.name[0].extension[0]",
            "is not allowed on Practitioner.name",
        ),
        (
            "a complex extension without its required part",
            |r| r["extension"][1]["extension"] = json!([{"url": "open", "valueBoolean": false}]),
            "required",
            "Practitioner.extension[1]",
            "of the slice day",
        ),
        (
            "a complex extension with a value",
            |r| r["extension"][1]["valueString"] = json!("x"),
            "structure",
            "Practitioner.extension[1].valueString",
            "allows at most 0",
        ),
        (
            "an extension required by the profile missing",
            |r| {
                r["extension"].as_array_mut().unwrap().remove(0);
            },
            "required",
            "Practitioner",
            "of the slice rating",
        ),
    ];
    for (what, change, code, at, says) in cases {
        let mut r = valid(STRICT);
        change(&mut r);
        let found = errors(&set, &r);
        assert!(
            found
                .iter()
                .any(|(c, a, d)| c == code && a == at && d.contains(says)),
            "{what}: expected {code} at {at} saying {says:?}, got {found:#?}"
        );
    }
}

#[test]
fn a_derived_profile_adds_to_its_base_and_a_missing_base_is_an_error() {
    let set = ProfileSet::new([&package()]);
    // The child constrains a slice its base declared (the slicing comes from the base).
    let mut r = valid(CHILD);
    r["identifier"][0].as_object_mut().unwrap().remove("period");
    let found = errors(&set, &r);
    assert!(
        found.iter().any(|(c, a, d)| c == "required"
            && a == "Practitioner.identifier[0]"
            && d.contains("`period`")),
        "{found:#?}"
    );
    // ...and the base's rules still hold.
    let mut r = valid(CHILD);
    r["active"] = json!(false);
    assert!(
        errors(&set, &r)
            .iter()
            .any(|(_, a, _)| a == "Practitioner.active"),
        "the base layer applies"
    );
    // Against STRICT alone, the period is not required.
    let mut r = valid(STRICT);
    r["identifier"][0].as_object_mut().unwrap().remove("period");
    assert_eq!(errors(&set, &r), Vec::new());
    // A base that is not loaded: named when the package loads, and an error of every
    // validation against the profile, never a silent pass.
    assert!(
        set.problems()
            .iter()
            .any(|p| p.starts_with(ORPHAN) && p.contains("http://example.org/sd/absent")),
        "{:?}",
        set.problems()
    );
    let found = errors(&set, &valid(ORPHAN));
    assert!(
        found.iter().any(|(c, a, d)| c == "not-found"
            && a == "Practitioner"
            && d.contains("its base profile http://example.org/sd/absent is not loaded")),
        "{found:#?}"
    );
    // A required profile that is not loaded is an error; a declared one a warning.
    let r = valid("http://example.org/sd/unknown");
    assert_eq!(errors(&set, &r), Vec::new());
    let all = set.validate(&r, &[]);
    assert!(all.iter().any(|i| i.severity == Severity::Warning
        && i.diagnostics.contains("http://example.org/sd/unknown")));
    let req = ["http://example.org/sd/required".to_owned()];
    assert!(set
        .validate(&valid(STRICT), &req)
        .iter()
        .any(|i| i.severity == Severity::Error && i.diagnostics.contains("sd/required")));
    // An extension nobody defines is named as not checked.
    let mut r = valid(STRICT);
    r["extension"]
        .as_array_mut()
        .unwrap()
        .push(json!({"url": "http://example.org/ext/unknown", "valueString": "?"}));
    assert!(set
        .validate(&r, &[])
        .iter()
        .any(|i| i.severity == Severity::Warning
            && i.expression == ["Practitioner.extension[2]"]
            && i.diagnostics.contains("not defined by any loaded package")));
}

#[test]
fn a_derived_profile_may_close_a_slicing_whose_slices_its_base_declared() {
    let set = ProfileSet::new([&package()]);
    let practitioner = |systems: &[&str]| {
        let ids: Vec<Value> = systems
            .iter()
            .map(|s| json!({"system": s, "value": "1"}))
            .collect();
        json!({"resourceType": "Practitioner", "id": "p", "meta": {"profile": [CLOSING]},
               "identifier": ids})
    };
    // The base's NPI slice and the child's licence slice both admit their items.
    let ok = practitioner(&[
        "http://hl7.org/fhir/sid/us-npi",
        "http://example.org/licence",
    ]);
    assert_eq!(errors(&set, &ok), Vec::new());
    // Anything else is refused by the closed slicing.
    let other = practitioner(&["http://hl7.org/fhir/sid/us-npi", "http://example.org/other"]);
    let found = errors(&set, &other);
    assert!(
        found.iter().any(|(c, a, d)| c == "structure"
            && a == "Practitioner.identifier[1]"
            && d.contains("closed")),
        "{found:#?}"
    );
    // The base's minimum still holds.
    let found = errors(&set, &practitioner(&["http://example.org/licence"]));
    assert!(
        found
            .iter()
            .any(|(c, _, d)| c == "required" && d.contains("NPI")),
        "{found:#?}"
    );
}

#[test]
fn an_ordered_slicing_and_one_open_at_the_end_refuse_items_out_of_place() {
    let set = ProfileSet::new([&package()]);
    let practitioner = |systems: &[&str]| {
        let telecom: Vec<Value> = systems
            .iter()
            .map(|s| json!({"system": s, "value": "x"}))
            .collect();
        json!({"resourceType": "Practitioner", "id": "p", "meta": {"profile": [CLOSING]},
               "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1"}],
               "telecom": telecom})
    };
    assert_eq!(
        errors(&set, &practitioner(&["phone", "email", "fax"])),
        Vec::new()
    );
    let found = errors(&set, &practitioner(&["email", "phone"]));
    assert!(
        found.iter().any(|(c, a, d)| c == "structure"
            && a == "Practitioner.telecom[1]"
            && d.contains("ordered")),
        "{found:#?}"
    );
    let found = errors(&set, &practitioner(&["phone", "fax", "email"]));
    assert!(
        found.iter().any(|(c, a, d)| c == "structure"
            && a == "Practitioner.telecom[2]"
            && d.contains("open at the end")),
        "{found:#?}"
    );
}

#[test]
fn slices_are_told_apart_by_profile_existence_and_type_and_weak_bindings_warn() {
    let set = ProfileSet::new([&package()]);
    let base = || {
        json!({"resourceType": "Practitioner", "id": "p", "meta": {"profile": [DISCRIMINATED]},
               "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1"}],
               "qualification": [{"code": {"coding": [{"system": "http://example.org/degrees", "code": "MD"}]},
                                  "period": {"start": "2001"}}],
               "gender": "female"})
    };
    assert_eq!(errors(&set, &base()), Vec::new());
    type Change = fn(&mut Value);
    let cases: Vec<(&str, Change, &str, &str, &str)> = vec![
        (
            "no identifier meets the slice's profile",
            |r| r["identifier"][0]["system"] = json!("http://example.org/other"),
            "required",
            "Practitioner",
            "of the slice npi",
        ),
        (
            "no qualification has the period its slice requires",
            |r| {
                r["qualification"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("period");
            },
            "required",
            "Practitioner",
            "of the slice dated",
        ),
    ];
    for (what, change, code, at, says) in cases {
        let mut r = base();
        change(&mut r);
        let found = errors(&set, &r);
        assert!(
            found
                .iter()
                .any(|(c, a, d)| c == code && a == at && d.contains(says)),
            "{what}: expected {code} at {at} saying {says:?}, got {found:#?}"
        );
    }
    // By type, closed: a Quantity is of the slice, a string is refused.
    let observation = |key: &str, value: Value| {
        let mut o = json!({"resourceType": "Observation", "id": "o", "status": "final",
                           "meta": {"profile": [TYPED]}, "code": {"text": "weight"}});
        o[key] = value;
        o
    };
    let weight = observation("valueQuantity", json!({"value": 70, "unit": "kg"}));
    assert_eq!(errors(&set, &weight), Vec::new());
    let found = errors(&set, &observation("valueString", json!("heavy")));
    assert!(
        found.iter().any(|(c, a, d)| c == "structure"
            && a == "Observation.valueString"
            && d.contains("closed")),
        "{found:#?}"
    );
    // Weak bindings: warnings, never errors.
    let mut r = base();
    r["gender"] = json!("male");
    r["qualification"][0]["code"]["coding"][0]["code"] = json!("PhD");
    r["communication"] = json!([{"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}]);
    assert_eq!(errors(&set, &r), Vec::new());
    let warnings: Vec<(String, String)> = set
        .validate(&r, &[])
        .into_iter()
        .filter(|i| i.severity == Severity::Warning)
        .map(|i| (i.expression.join(" "), i.diagnostics))
        .collect();
    for (at, says) in [
        ("Practitioner.gender", "expects (extensible)"),
        ("Practitioner.qualification[0].code", "prefers"),
        (
            "Practitioner.communication[0]",
            "http://example.org/vs/absent",
        ),
    ] {
        assert!(
            warnings.iter().any(|(a, d)| a == at && d.contains(says)),
            "a warning at {at} saying {says:?}: {warnings:#?}"
        );
    }
}
