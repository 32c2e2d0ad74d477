//! `Extractor`: whole resources to index entries through the built-in parameters' FHIRPath.

use conformance::Registry;
use search::{Extractor, IndexValue};
use serde_json::json;

fn entries(resource: &serde_json::Value) -> Vec<String> {
    let extractor = Extractor::new(Registry::builtin());
    let mut out: Vec<String> = extractor
        .extract(resource)
        .into_iter()
        .map(|e| {
            let v = match &e.value {
                IndexValue::String { normalized, .. } => format!("str:{normalized}"),
                IndexValue::Token { system, code, .. } => {
                    format!(
                        "tok:{}|{}",
                        system.as_deref().unwrap_or(""),
                        code.as_deref().unwrap_or("")
                    )
                }
                IndexValue::Reference {
                    target_type,
                    target_id,
                    ..
                } => format!(
                    "ref:{}/{}",
                    target_type.as_deref().unwrap_or("?"),
                    target_id.as_deref().unwrap_or("?")
                ),
                IndexValue::Date { low, .. } => format!("date:{}", low.format("%Y-%m-%d")),
                IndexValue::Uri(u) => format!("uri:{u}"),
                IndexValue::Geo { lat, lon } => format!("geo:{lat},{lon}"),
                other => format!("{other:?}"),
            };
            format!("{}={v}", e.param.code)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn practitioner_role_entries_cover_plan_net_parameters() {
    let role = json!({
        "resourceType": "PractitionerRole",
        "id": "role1",
        "meta": {"lastUpdated": "2024-05-01T10:00:00Z",
                 "profile": ["http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-PractitionerRole"]},
        "extension": [{"url": "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/network-reference",
                       "valueReference": {"reference": "Organization/net1"}}],
        "active": true,
        "practitioner": {"reference": "Practitioner/p1"},
        "organization": {"reference": "Organization/o1"},
        "location": [{"reference": "Location/l1"}],
        "specialty": [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "207Q00000X"}]}]
    });
    let got = entries(&role);
    let want = [
        "_id=tok:|role1",
        "_lastUpdated=date:2024-05-01",
        "_profile=uri:http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-PractitionerRole",
        "active=tok:|true",
        "location=ref:Location/l1",
        "network=ref:Organization/net1",
        "organization=ref:Organization/o1",
        "practitioner=ref:Practitioner/p1",
        "specialty=tok:http://nucc.org/provider-taxonomy|207Q00000X",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w} in {got:#?}");
    }
}

#[test]
fn location_position_is_indexed_for_near_and_names_are_normalised() {
    let loc = json!({
        "resourceType": "Location",
        "id": "l1",
        "name": "Hôpital  Saint-Luc",
        "address": {"city": "Montréal", "state": "QC"},
        "position": {"latitude": 45.5, "longitude": -73.6}
    });
    let got = entries(&loc);
    for w in [
        "near=geo:45.5,-73.6",
        "name=str:hopital saint-luc",
        "address-city=str:montreal",
        "address=str:montreal",
    ] {
        assert!(got.iter().any(|g| g == w), "missing {w} in {got:#?}");
    }
}

#[test]
fn most_builtin_expressions_compile() {
    let extractor = Extractor::new(Registry::builtin());
    // Listed so that a FHIRPath regression (or a new unparsable table row) shows up here.
    let failed: Vec<&str> = extractor.failed().iter().map(|(u, _)| u.as_str()).collect();
    assert!(
        failed.is_empty(),
        "expressions that do not compile: {:#?}",
        extractor.failed()
    );
}

#[test]
fn a_resource_without_resource_type_has_no_entries() {
    assert!(Extractor::new(Registry::builtin())
        .extract(&json!({"id": "x"}))
        .is_empty());
}

/// Composite parameters index each component value under `{code}${component}${element}`,
/// so the store can pair components of the same element.
#[test]
fn composite_components_are_keyed_by_element() {
    let group = json!({
        "resourceType": "Group", "id": "g", "type": "person", "actual": true,
        "characteristic": [
            {"code": {"text": "gender", "coding": [{"system": "http://s", "code": "gender"}]},
             "valueCodeableConcept": {"coding": [{"code": "female"}]}, "exclude": false},
            {"code": {"coding": [{"code": "age"}]}, "valueQuantity": {"value": 40, "unit": "a"}, "exclude": false}
        ]
    });
    let got: Vec<String> = entries(&group)
        .into_iter()
        .filter(|e| e.starts_with("characteristic-value$"))
        .collect();
    assert_eq!(
        got,
        [
            "characteristic-value$0$0=tok:http://s|gender",
            "characteristic-value$0$1=tok:|age",
            "characteristic-value$1$0=tok:|female",
            // A Quantity value is a token without system or code (as for `Group.value`).
            "characteristic-value$1$1=tok:|",
        ]
    );

    // NDH writes the components from the resource root; values still go to their element.
    const NEWPAT: &str = "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-newpatients";
    let role = json!({
        "resourceType": "PractitionerRole", "id": "r",
        "extension": [
            {"url": NEWPAT, "extension": [
                {"url": "acceptingPatients", "valueCodeableConcept": {"coding": [{"code": "no"}]}},
                {"url": "fromNetwork", "valueReference": {"reference": "Organization/n1"}}
            ]},
            {"url": "http://other"},
            {"url": NEWPAT, "extension": [
                {"url": "acceptingPatients", "valueCodeableConcept": {"coding": [{"code": "yes"}]}},
                {"url": "fromNetwork", "valueReference": {"reference": "Organization/n2"}}
            ]}
        ]
    });
    let got: Vec<String> = entries(&role)
        .into_iter()
        .filter(|e| e.starts_with("new-patient-and-from-network$"))
        .collect();
    assert_eq!(
        got,
        [
            "new-patient-and-from-network$0$0=tok:|no",
            "new-patient-and-from-network$0$1=tok:|yes",
            "new-patient-and-from-network$1$0=ref:Organization/n1",
            "new-patient-and-from-network$1$1=ref:Organization/n2",
        ]
    );
}
