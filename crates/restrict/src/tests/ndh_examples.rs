//! The NDH STU1 examples of usage restrictions, read from the shared FHIR folder: whole
//! resource, some elements, home addresses and phones only; then what each viewer gets.

use serde_json::{json, Value};

use crate::{extract, redact, visibility, Effect, Provision, Rule, Settings, Viewer, Visibility};

use super::{client, ndh_dir, ndh_example, no_store, path, policy};

/// The women's shelter Restrictions deny one actor known only by `display`: with provisions and
/// no permit, no client is let through.
fn shelter_rule() -> Rule {
    Rule::Provisions {
        provisions: vec![Provision {
            effect: Effect::Deny,
            actors: Vec::new(),
            purposes: Vec::new(),
        }],
    }
}

#[test]
fn element_restrictions_of_the_womens_shelter() {
    let Some(dir) = ndh_dir() else { return };
    for (name, elements) in [
        ("Location-LocationWomenShelter", ["address", "telecom"]),
        (
            "HealthcareService-HealthcareServiceWomenShelter",
            ["location", "telecom"],
        ),
    ] {
        let r = policy(&ndh_example(&dir, name));
        assert!(r.whole().is_empty(), "{name}");
        let paths: Vec<String> = r.elements().iter().map(|e| e.path.to_string()).collect();
        assert_eq!(paths, elements, "{name}");
        for e in r.elements() {
            assert_eq!(e.rules, [shelter_rule()], "{name}");
            assert!(e.path.is_entire_root_element(), "{name}");
        }
        assert!(r.cites().is_empty(), "{name}");
    }
}

#[test]
fn whole_resource_restrictions_of_the_womens_shelter_and_the_military_organization() {
    let Some(dir) = ndh_dir() else { return };
    for (name, rule) in [
        ("Location-LocationWomenShelterAll", shelter_rule()),
        (
            "HealthcareService-HealthcareServiceWomenShelterAll",
            shelter_rule(),
        ),
        (
            "Organization-MilitaryHealthcareOrganization",
            Rule::Authenticated,
        ),
    ] {
        let r = policy(&ndh_example(&dir, name));
        assert_eq!(r.whole(), [rule], "{name}");
        assert!(r.elements().is_empty(), "{name}");
    }
}

#[test]
fn joe_smiths_home_addresses_and_phones_contained_or_stored() {
    let Some(dir) = ndh_dir() else { return };
    let home = [
        path("address.where(use='home')"),
        path("telecom.where(use='home')"),
    ];
    // Contained, written `Practitioner.address.where(use='home')`.
    let joe = ndh_example(&dir, "Practitioner-JoeSmith");
    let r = policy(&joe);
    let paths: Vec<_> = r.elements().iter().map(|e| e.path.clone()).collect();
    assert_eq!(paths, home);
    assert!(r.whole().is_empty());
    assert!(r.cites().is_empty());

    // Stored, written `Practitioner?address.use=home`.
    let stored = ndh_example(&dir, "Consent-PractitionerRestrict");
    let mut joe_stored = joe.clone();
    joe_stored["extension"][1]["valueReference"]["reference"] =
        json!("Consent/PractitionerRestrict");
    let resolve =
        |reference: &str| (reference == "Consent/PractitionerRestrict").then(|| stored.clone());
    let r_stored = extract(&joe_stored, &Settings::default(), &resolve);
    let paths: Vec<_> = r_stored.elements().iter().map(|e| e.path.clone()).collect();
    assert_eq!(paths, home);
    assert_eq!(r_stored.cites(), ["Consent/PractitionerRestrict"]);

    // The same stored Restriction, gone: the whole of Joe is restricted.
    let r_gone = extract(&joe_stored, &Settings::default(), &no_store);
    assert_eq!(r_gone.whole(), [Rule::Privileged]);
}

#[test]
fn what_each_viewer_gets_of_joe_smith() {
    let Some(dir) = ndh_dir() else { return };
    let joe = ndh_example(&dir, "Practitioner-JoeSmith");
    let r = policy(&joe);
    // A Restriction without provision: any client sees the home entries, no anonymous caller.
    for viewer in [client(None, &[]), Viewer::System] {
        assert_eq!(visibility(&r, &viewer), Visibility::Whole, "{viewer:?}");
    }
    let Visibility::Redacted(paths) = visibility(&r, &Viewer::Anonymous) else {
        panic!("anonymous callers see Joe without his home entries");
    };
    let mut seen = joe.clone();
    redact(&mut seen, &paths);
    let uses = |element: &str| -> Vec<Value> {
        seen[element]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["use"].clone())
            .collect()
    };
    assert_eq!(uses("address"), [json!("work")]);
    assert_eq!(uses("telecom"), [json!("work")]);
    assert_eq!(seen["contained"], joe["contained"]);
    assert_eq!(seen["qualification"], joe["qualification"]);
    assert_eq!(seen["meta"]["security"][0]["code"], "REDACTED");
}

#[test]
fn what_each_viewer_gets_of_the_womens_shelter() {
    let Some(dir) = ndh_dir() else { return };
    let shelter = ndh_example(&dir, "Location-LocationWomenShelter");
    let r = policy(&shelter);
    let both = Visibility::Redacted(vec![path("address"), path("telecom")]);
    for viewer in [
        Viewer::Anonymous,
        client(None, &[]),
        client(Some("Organization/a"), &[]),
    ] {
        assert_eq!(visibility(&r, &viewer), both, "{viewer:?}");
    }
    let mut seen = shelter.clone();
    redact(&mut seen, &[path("address"), path("telecom")]);
    assert!(seen.get("address").is_none());
    assert!(seen.get("telecom").is_none());
    assert_eq!(seen["name"], shelter["name"]);
    assert_eq!(seen["contained"], shelter["contained"]);
    assert_eq!(seen["extension"], shelter["extension"]);

    let all = policy(&ndh_example(&dir, "Location-LocationWomenShelterAll"));
    for viewer in [Viewer::Anonymous, client(Some("Organization/a"), &[])] {
        assert_eq!(visibility(&all, &viewer), Visibility::Hidden, "{viewer:?}");
    }
    assert_eq!(visibility(&all, &Viewer::System), Visibility::Whole);
}
