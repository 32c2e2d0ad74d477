//! Reading the policy: extension URLs, labels and their setting, inactive and unknown
//! Restrictions, element-level extensions, expressions, provisions, citations, the stored form.

use serde_json::{json, Value};

use crate::path::{ElementPath, Step};
use crate::{
    extract, Effect, Provision, Purpose, Restrictions, Rule, Settings, CONFIDENTIALITY_SYSTEM,
    VHDIR_USAGE_RESTRICTION,
};

use super::{path, policy, practitioner, provision, restriction, usage_restriction};

/// A Location restricted by the Restriction `consent`, referenced from `extension_key` on the
/// root (`extension` or `modifierExtension`) with the extension `url`.
fn location_restricted(url: &str, extension_key: &str, consent: Value) -> Value {
    json!({
        "resourceType": "Location",
        "id": "l1",
        extension_key: [{"url": url, "valueReference": {"reference": "#r1"}}],
        "contained": [consent],
        "name": "Shelter",
        "address": {"city": "Ann Arbor"}
    })
}

#[test]
fn ndh_and_vhdir_extensions_restrict_alike_on_extension_and_modifier_extension() {
    for url in [crate::NDH_USAGE_RESTRICTION, VHDIR_USAGE_RESTRICTION] {
        for key in ["extension", "modifierExtension"] {
            let resource = location_restricted(url, key, restriction("r1", &[], Value::Null));
            let r = policy(&resource);
            assert_eq!(r.whole(), &[Rule::Authenticated], "{url} in {key}");
            assert!(r.elements().is_empty(), "{url} in {key}");
        }
    }
}

#[test]
fn other_extension_urls_restrict_nothing() {
    for url in [
        "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-verification-status",
        "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-usage-restriction-x",
        "http://hl7.org/fhir/StructureDefinition/usage-restriction",
        "",
    ] {
        let resource = location_restricted(url, "extension", restriction("r1", &[], Value::Null));
        assert!(policy(&resource).is_empty(), "{url:?}");
    }
}

#[test]
fn a_resource_without_restrictions_is_the_fast_path() {
    let plain = json!({"resourceType": "Location", "id": "l1", "name": "Clinic"});
    let r = policy(&plain);
    assert!(r.is_empty());
    assert!(r.cites().is_empty());
    assert_eq!(r, Restrictions::default());
    assert!(policy(&json!("not a resource")).is_empty());
}

#[test]
fn meta_security_confidentiality_labels_follow_the_tenant_setting() {
    let default = ["R", "V"];
    // (restricting labels, (system, code) on the resource, the whole-resource rules)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [Rule]);
    let cases: &[Case] = &[
        (
            &default,
            &[(CONFIDENTIALITY_SYSTEM, "R")],
            &[Rule::Authenticated],
        ),
        (
            &default,
            &[(CONFIDENTIALITY_SYSTEM, "V")],
            &[Rule::Privileged],
        ),
        (
            &default,
            &[(CONFIDENTIALITY_SYSTEM, "R"), (CONFIDENTIALITY_SYSTEM, "V")],
            &[Rule::Authenticated, Rule::Privileged],
        ),
        (&default, &[(CONFIDENTIALITY_SYSTEM, "N")], &[]),
        (&default, &[(CONFIDENTIALITY_SYSTEM, "r")], &[]),
        // The code alone, or under another system, is not a confidentiality label.
        (&default, &[("http://example.org/labels", "R")], &[]),
        (&default, &[("", "V")], &[]),
        (&["V"], &[(CONFIDENTIALITY_SYSTEM, "R")], &[]),
        (
            &["V"],
            &[(CONFIDENTIALITY_SYSTEM, "V")],
            &[Rule::Privileged],
        ),
        (
            &["N", "R", "V"],
            &[(CONFIDENTIALITY_SYSTEM, "N")],
            &[Rule::Authenticated],
        ),
        (&[], &[(CONFIDENTIALITY_SYSTEM, "V")], &[]),
    ];
    for &(labels, codes, expected) in cases {
        let settings = Settings {
            restricting_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        };
        let security: Vec<Value> = codes
            .iter()
            .map(|(system, code)| json!({"system": system, "code": code}))
            .collect();
        let resource = json!({
            "resourceType": "Organization",
            "id": "o1",
            "meta": {"security": security},
            "name": "Clinic"
        });
        let r = extract(&resource, &settings, &super::no_store);
        assert_eq!(r.whole(), expected, "labels {labels:?}, codes {codes:?}");
        assert!(r.elements().is_empty());
    }
}

#[test]
fn default_settings_restrict_on_r_and_v() {
    assert_eq!(
        Settings::default().restricting_labels,
        vec!["R".to_owned(), "V".to_owned()]
    );
    // A tenant setting written without the field gets the default.
    let settings: Settings = serde_json::from_value(json!({})).expect("deserializes");
    assert_eq!(settings, Settings::default());
}

#[test]
fn a_restriction_not_active_restricts_nothing() {
    for status in [
        "inactive",
        "draft",
        "proposed",
        "rejected",
        "entered-in-error",
        "Active",
    ] {
        let mut consent = restriction("r1", &["Location.address"], Value::Null);
        consent["status"] = json!(status);
        let resource = location_restricted(crate::NDH_USAGE_RESTRICTION, "extension", consent);
        assert!(policy(&resource).is_empty(), "status {status:?}");
    }
    let active = restriction("r1", &["Location.address"], Value::Null);
    let resource = location_restricted(crate::NDH_USAGE_RESTRICTION, "extension", active);
    assert!(!policy(&resource).is_empty());
}

#[test]
fn a_restriction_without_status_is_read_as_in_force() {
    let mut consent = restriction("r1", &[], Value::Null);
    consent.as_object_mut().expect("object").remove("status");
    let resource = location_restricted(crate::NDH_USAGE_RESTRICTION, "extension", consent);
    assert_eq!(policy(&resource).whole(), &[Rule::Authenticated]);
}

/// A Location whose root extension references `reference` and which contains `r1`.
fn location_referencing(reference: Value) -> Value {
    json!({
        "resourceType": "Location",
        "id": "l1",
        "extension": [{"url": crate::NDH_USAGE_RESTRICTION, "valueReference": reference}],
        "contained": [restriction("r1", &["Location.address"], Value::Null)],
        "address": {"city": "Ann Arbor"}
    })
}

#[test]
fn an_unknown_restriction_fails_closed_to_the_whole_resource() {
    let patient = json!({"resourceType": "Patient", "id": "gone"});
    // (reference, what the store answers, cited)
    let cases: &[(Value, Option<Value>, &[&str])] = &[
        (
            json!({"reference": "Consent/gone"}),
            None,
            &["Consent/gone"],
        ),
        (
            json!({"reference": "Consent/gone"}),
            Some(patient.clone()),
            &["Consent/gone"],
        ),
        (json!({"reference": "#missing"}), None, &[]),
        (json!({"reference": "#"}), None, &[]),
        (json!({"identifier": {"value": "r1"}}), None, &[]),
        (json!({"display": "the shelter's restriction"}), None, &[]),
        (json!({"reference": ""}), None, &[]),
        (json!({"reference": "Consent/"}), None, &[]),
        // Not a Restriction this server holds: nothing to cite.
        (
            json!({"reference": "https://other.example.org/fhir/Consent/r1"}),
            Some(restriction("r1", &[], Value::Null)),
            &[],
        ),
        (
            json!({"reference": "Consent/r1/_history/2"}),
            Some(restriction("r1", &[], Value::Null)),
            &[],
        ),
        (json!({"reference": "Basic/r1"}), None, &[]),
    ];
    for (reference, stored, cited) in cases {
        let resource = location_referencing(reference.clone());
        let r = extract(&resource, &Settings::default(), &|_: &str| stored.clone());
        assert_eq!(r.whole(), &[Rule::Privileged], "{reference}");
        assert!(r.elements().is_empty(), "{reference}");
        assert_eq!(r.cites(), *cited, "{reference}");
    }
}

#[test]
fn a_contained_reference_to_another_resource_type_fails_closed() {
    let mut resource = location_referencing(json!({"reference": "#r1"}));
    resource["contained"][0]["resourceType"] = json!("Basic");
    assert_eq!(policy(&resource).whole(), &[Rule::Privileged]);
}

#[test]
fn a_stored_restriction_is_resolved_and_cited() {
    let stored = restriction(
        "shared",
        &["Practitioner?address.use=home"],
        provision("permit", &["Organization/a"], &[]),
    );
    let mut resource = practitioner(Vec::new());
    resource["extension"] = json!([usage_restriction("Consent/shared")]);
    let asked = std::cell::RefCell::new(Vec::new());
    let resolve = |reference: &str| {
        asked.borrow_mut().push(reference.to_owned());
        (reference == "Consent/shared").then(|| stored.clone())
    };
    let r = extract(&resource, &Settings::default(), &resolve);
    assert_eq!(asked.into_inner(), vec!["Consent/shared".to_owned()]);
    assert!(r.whole().is_empty());
    assert_eq!(r.elements().len(), 1);
    assert_eq!(r.elements()[0].path, path("address.where(use='home')"));
    assert_eq!(r.cites(), ["Consent/shared".to_owned()]);
}

#[test]
fn cites_lists_every_stored_restriction_once_sorted_including_inactive_and_unknown() {
    let mut inactive = restriction("b-inactive", &[], Value::Null);
    inactive["status"] = json!("inactive");
    let store = |reference: &str| match reference {
        "Consent/b-inactive" => Some(inactive.clone()),
        "Consent/c-active" => Some(restriction("c-active", &[], Value::Null)),
        _ => None,
    };
    let mut resource = practitioner(vec![restriction("contained", &[], Value::Null)]);
    resource["extension"] = json!([
        usage_restriction("Consent/c-active"),
        usage_restriction("#contained"),
        usage_restriction("Consent/b-inactive"),
        usage_restriction("Consent/c-active"),
    ]);
    resource["telecom"][0]["extension"] = json!([usage_restriction("Consent/a-unknown")]);
    let r = extract(&resource, &Settings::default(), &store);
    assert_eq!(
        r.cites(),
        [
            "Consent/a-unknown",
            "Consent/b-inactive",
            "Consent/c-active"
        ]
    );

    // Only an inactive stored Restriction: nothing restricted, but the citation stays, so the
    // resource is recomputed when the Restriction becomes active.
    let mut resource = practitioner(Vec::new());
    resource["extension"] = json!([usage_restriction("Consent/b-inactive")]);
    let r = extract(&resource, &Settings::default(), &store);
    assert!(r.is_empty());
    assert_eq!(r.cites(), ["Consent/b-inactive"]);
}

#[test]
fn an_extension_on_an_element_restricts_that_element() {
    let consent = restriction("r1", &[], Value::Null);
    // (where the extension goes, the element path restricted)
    let cases: &[(&str, ElementPath)] = &[
        (
            "/telecom/1",
            ElementPath::new(vec![Step::entry("telecom", 1)]),
        ),
        (
            "/address/0",
            ElementPath::new(vec![Step::entry("address", 0)]),
        ),
        ("/name/0", ElementPath::new(vec![Step::entry("name", 0)])),
        // Extensions of a primitive sit in its `_element`.
        (
            "/_birthDate",
            ElementPath::new(vec![Step::named("birthDate")]),
        ),
        (
            "/name/0/_given/0",
            ElementPath::new(vec![Step::entry("name", 0), Step::entry("given", 0)]),
        ),
        (
            "/qualification/0/code",
            ElementPath::new(vec![Step::entry("qualification", 0), Step::named("code")]),
        ),
    ];
    for (at, expected) in cases {
        let mut resource = practitioner(vec![consent.clone()]);
        resource["extension"] = json!([]);
        resource["birthDate"] = json!("1970-01-01");
        resource["_birthDate"] = json!({});
        resource["name"][0]["_given"] = json!([{}]);
        resource["qualification"] = json!([{"code": {"text": "MD"}}]);
        resource
            .pointer_mut(at)
            .unwrap_or_else(|| panic!("{at}"))
            .as_object_mut()
            .expect("object")
            .insert("extension".into(), json!([usage_restriction("#r1")]));
        let r = policy(&resource);
        assert!(r.whole().is_empty(), "{at}");
        assert_eq!(r.elements().len(), 1, "{at}");
        assert_eq!(&r.elements()[0].path, expected, "{at}");
        assert_eq!(r.elements()[0].rules, [Rule::Authenticated], "{at}");
    }
}

#[test]
fn an_extension_on_a_single_element_restricts_it_and_on_a_modifier_extension_too() {
    let mut resource = location_referencing(json!({"reference": "#r1"}));
    resource["extension"] = json!([]);
    resource["address"]["modifierExtension"] = json!([usage_restriction("#r1")]);
    let r = policy(&resource);
    assert_eq!(r.elements().len(), 1);
    assert_eq!(r.elements()[0].path, path("address"));
}

#[test]
fn an_element_extension_whose_restriction_is_unknown_restricts_the_whole_resource() {
    let mut resource = practitioner(Vec::new());
    resource["extension"] = json!([]);
    resource["telecom"][0]["extension"] = json!([usage_restriction("#nowhere")]);
    let r = policy(&resource);
    assert_eq!(r.whole(), &[Rule::Privileged]);
    assert!(r.elements().is_empty());
}

#[test]
fn an_element_extension_in_meta_restricts_the_whole_resource() {
    let mut resource = practitioner(vec![restriction("r1", &[], Value::Null)]);
    resource["extension"] = json!([]);
    resource["meta"]["extension"] = json!([usage_restriction("#r1")]);
    let r = policy(&resource);
    assert_eq!(r.whole(), &[Rule::Authenticated]);
    assert!(r.elements().is_empty());
}

#[test]
fn a_contained_resource_with_a_usage_restriction_is_a_restricted_element() {
    let resource = json!({
        "resourceType": "HealthcareService",
        "id": "h1",
        "contained": [
            restriction("r1", &[], Value::Null),
            {"resourceType": "Location", "id": "loc", "extension": [usage_restriction("#r1")]}
        ],
        "location": [{"reference": "#loc"}]
    });
    let r = policy(&resource);
    assert!(r.whole().is_empty());
    assert_eq!(
        r.elements()[0].path,
        ElementPath::new(vec![Step::entry("contained", 1)])
    );
}

#[test]
fn expressions_narrow_a_root_restriction_and_unreadable_ones_widen_it_to_the_whole() {
    let rule = Rule::Provisions {
        provisions: vec![Provision {
            effect: Effect::Permit,
            actors: vec!["Organization/a".to_owned()],
            purposes: Vec::new(),
        }],
    };
    // (expressions, whole-resource rules, element paths)
    let cases: &[(&[&str], bool, &[&str])] = &[
        (&["Practitioner.address"], false, &["address"]),
        (
            &[
                "Practitioner.address",
                "Practitioner.telecom",
                "Practitioner.address",
            ],
            false,
            &["address", "telecom"],
        ),
        // Shared with another type: its expressions name nothing here.
        (
            &["Practitioner.address", "PractitionerRole.telecom"],
            false,
            &["address"],
        ),
        (&["PractitionerRole.telecom"], true, &[]),
        (&["Practitioner"], true, &[]),
        (&["Practitioner.address.first()"], true, &[]),
        (&["Practitioner.meta"], true, &[]),
        (
            &[
                "Practitioner.telecom",
                "Practitioner.name.given | Practitioner.name.family",
            ],
            true,
            &["telecom"],
        ),
    ];
    for &(expressions, whole, elements) in cases {
        let consent = restriction(
            "r1",
            expressions,
            provision("permit", &["Organization/a"], &[]),
        );
        let r = policy(&practitioner(vec![consent]));
        let expected_whole: &[Rule] = if whole {
            std::slice::from_ref(&rule)
        } else {
            &[]
        };
        assert_eq!(r.whole(), expected_whole, "{expressions:?}");
        let paths: Vec<String> = r.elements().iter().map(|e| e.path.to_string()).collect();
        assert_eq!(paths, elements, "{expressions:?}");
        for e in r.elements() {
            assert_eq!(e.rules, std::slice::from_ref(&rule), "{expressions:?}");
        }
    }
}

#[test]
fn an_expression_in_another_language_or_without_text_restricts_the_whole_resource() {
    for expression in [
        json!({"language": "text/cql", "expression": "Practitioner.address"}),
        json!({"language": "text/fhirpath"}),
        json!({"language": "text/fhirpath", "reference": "http://example.org/expr"}),
    ] {
        let mut consent = restriction("r1", &[], Value::Null);
        consent["extension"] =
            json!([{"url": crate::NDH_RESTRICT_FHIR_PATH, "valueExpression": expression}]);
        let r = policy(&practitioner(vec![consent]));
        assert_eq!(r.whole(), &[Rule::Authenticated], "{expression}");
        assert!(r.elements().is_empty(), "{expression}");
    }
    // No language at all is read as FHIRPath.
    let mut consent = restriction("r1", &[], Value::Null);
    consent["extension"] = json!([{
        "url": crate::NDH_RESTRICT_FHIR_PATH,
        "valueExpression": {"expression": "Practitioner.address"}
    }]);
    let r = policy(&practitioner(vec![consent]));
    assert!(r.whole().is_empty());
    assert_eq!(r.elements()[0].path, path("address"));
}

#[test]
fn provisions_are_read_flat_with_actor_references_and_purposes() {
    let mut root = json!({
        // R4 leaves `type` out of the root rule: it neither permits nor denies.
        "actor": [{"reference": {"reference": "Organization/root"}}],
        "provision": [
            provision("permit", &["Organization/a", "https://fhir.example.org/t/acme/fhir/Organization/b"], &["TREAT"]),
            {
                "type": "deny",
                "actor": [
                    {"reference": {"display": "Blue Team"}},
                    {"reference": {"identifier": {"value": "x"}}},
                    {"reference": {"reference": "Organization/c"}}
                ],
                "provision": [provision("permit", &[], &[])]
            },
            {"type": "unknown", "actor": [{"reference": {"reference": "Organization/d"}}]}
        ]
    });
    root["provision"][1]["purpose"] = json!([{"system": "http://example.org"}]);
    root["provision"][0]["purpose"]
        .as_array_mut()
        .expect("purposes")
        .push(json!({"display": "no code"}));
    let r = policy(&practitioner(vec![restriction("r1", &[], root)]));
    let purpose = |system: Option<&str>, code: &str| Purpose {
        system: system.map(str::to_owned),
        code: code.to_owned(),
    };
    assert_eq!(
        r.whole(),
        &[Rule::Provisions {
            provisions: vec![
                Provision {
                    effect: Effect::Permit,
                    actors: vec![
                        "Organization/a".to_owned(),
                        "https://fhir.example.org/t/acme/fhir/Organization/b".to_owned()
                    ],
                    // A permit keeps an unreadable purpose: it matches no token.
                    purposes: vec![
                        purpose(
                            Some("http://terminology.hl7.org/CodeSystem/v3-ActReason"),
                            "TREAT"
                        ),
                        purpose(None, ""),
                    ],
                },
                Provision {
                    effect: Effect::Deny,
                    actors: vec!["Organization/c".to_owned()],
                    // A deny drops it: the deny is not narrowed by what cannot be read.
                    purposes: Vec::new(),
                },
                Provision {
                    effect: Effect::Permit,
                    actors: Vec::new(),
                    purposes: Vec::new(),
                },
            ]
        }]
    );
}

#[test]
fn a_restriction_with_only_untyped_provisions_still_has_provisions() {
    let root = json!({"actor": [{"reference": {"reference": "Organization/a"}}]});
    let r = policy(&practitioner(vec![restriction("r1", &[], root)]));
    assert_eq!(
        r.whole(),
        &[Rule::Provisions {
            provisions: Vec::new()
        }]
    );
}

#[test]
fn the_stored_form_is_compact_json_and_reads_back() {
    let consent = restriction(
        "r1",
        &["Practitioner?address.use=home"],
        provision("deny", &["Organization/a"], &["SYSDEV"]),
    );
    let mut resource = practitioner(vec![consent]);
    resource["meta"]["security"] = json!([{"system": CONFIDENTIALITY_SYSTEM, "code": "R"}]);
    resource["extension"]
        .as_array_mut()
        .expect("extensions")
        .push(usage_restriction("Consent/gone"));
    let r = policy(&resource);
    let stored = serde_json::to_value(&r).expect("serializes");
    assert_eq!(
        stored,
        json!({
            "whole": [{"rule": "authenticated"}, {"rule": "privileged"}],
            "elements": [{
                "path": [{"name": "address", "filter": ["use", "home"]}],
                "rules": [{"rule": "provisions", "provisions": [{
                    "effect": "deny",
                    "actors": ["Organization/a"],
                    "purposes": [{
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": "SYSDEV"
                    }]
                }]}]
            }],
            "cites": ["Consent/gone"]
        })
    );
    let back: Restrictions = serde_json::from_value(stored).expect("deserializes");
    assert_eq!(back, r);
    assert_eq!(
        serde_json::to_value(Restrictions::default()).expect("serializes"),
        json!({})
    );
}
