//! `restrictFhirPath` expressions: the supported forms, and everything else refused (so that its
//! Restriction covers the whole resource).

use crate::path::{parse, ElementPath, Parsed, Step};

use super::path;

#[test]
fn supported_expressions_name_these_elements() {
    // (expression, resource type, the path printed, root element, filter)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<(&'a str, &'a str)>,
    );
    let cases: &[Case] = &[
        ("Location.address", "Location", "address", "address", None),
        ("Location.telecom", "Location", "telecom", "telecom", None),
        (
            "HealthcareService.location",
            "HealthcareService",
            "location",
            "location",
            None,
        ),
        (
            "HealthcareService.telecom",
            "HealthcareService",
            "telecom",
            "telecom",
            None,
        ),
        (
            "Practitioner?address.use=home",
            "Practitioner",
            "address.where(use='home')",
            "address",
            Some(("use", "home")),
        ),
        (
            "Practitioner?telecom.use=home",
            "Practitioner",
            "telecom.where(use='home')",
            "telecom",
            Some(("use", "home")),
        ),
        (
            "Practitioner?telecom.use='home'",
            "Practitioner",
            "telecom.where(use='home')",
            "telecom",
            Some(("use", "home")),
        ),
        (
            "Practitioner.address.where(use='home')",
            "Practitioner",
            "address.where(use='home')",
            "address",
            Some(("use", "home")),
        ),
        (
            "Practitioner.telecom.where(use ='home')",
            "Practitioner",
            "telecom.where(use='home')",
            "telecom",
            Some(("use", "home")),
        ),
        (
            "Practitioner.telecom.where(use = \"home\")",
            "Practitioner",
            "telecom.where(use='home')",
            "telecom",
            Some(("use", "home")),
        ),
        (
            "  Practitioner.address  ",
            "Practitioner",
            "address",
            "address",
            None,
        ),
        (
            "Practitioner.qualification.code",
            "Practitioner",
            "qualification.code",
            "qualification",
            None,
        ),
        (
            "Practitioner?qualification.code.text=MD",
            "Practitioner",
            "qualification.code.where(text='MD')",
            "qualification",
            None,
        ),
        // FHIRPath evaluated on the resource may leave the type out.
        ("telecom", "Location", "telecom", "telecom", None),
        (
            "address.where(use='home')",
            "Practitioner",
            "address.where(use='home')",
            "address",
            Some(("use", "home")),
        ),
    ];
    for &(expression, ty, printed, root, filter) in cases {
        let Parsed::Element(path) = parse(expression, ty) else {
            panic!("{expression:?} on {ty}: {:?}", parse(expression, ty));
        };
        assert_eq!(path.to_string(), printed, "{expression:?}");
        assert_eq!(path.root_element(), root, "{expression:?}");
        assert_eq!(path.filter(), filter, "{expression:?}");
        assert_eq!(path.index(), None, "{expression:?}");
        assert_eq!(
            path.is_entire_root_element(),
            path.steps().len() == 1 && filter.is_none(),
            "{expression:?}"
        );
    }
}

#[test]
fn the_type_alone_names_the_whole_resource() {
    assert_eq!(parse("Practitioner", "Practitioner"), Parsed::Whole);
    assert_eq!(parse(" Location ", "Location"), Parsed::Whole);
}

#[test]
fn expressions_for_another_type_name_nothing_here() {
    for expression in [
        "Location.address",
        "Location?address.use=home",
        "PractitionerRole.telecom",
        "Location",
    ] {
        assert_eq!(
            parse(expression, "Practitioner"),
            Parsed::OtherType,
            "{expression:?}"
        );
    }
}

#[test]
fn unsupported_expressions_are_refused() {
    for expression in [
        "",
        "   ",
        ".address",
        "Practitioner.",
        "Practitioner..address",
        "Practitioner.address.first()",
        "Practitioner.address[0]",
        "Practitioner.address.use = 'home'",
        "Practitioner.address.where(use=home)",
        "Practitioner.address.where(use='')",
        "Practitioner.address.where(use='home' and system='phone')",
        "Practitioner.address.where(use='home' or use='work')",
        "Practitioner.address.where(period.start='2020')",
        "Practitioner.address.where(use='home').where(use='work')",
        "Practitioner.where(use='home')",
        "Practitioner.address.where(use='home'",
        "Practitioner.extension('http://example.org/x')",
        "Practitioner.name.given | Practitioner.name.family",
        "Practitioner?address=home",
        "Practitioner?address.use=",
        "Practitioner?address.use",
        "Practitioner?.use=home",
        "Practitioner?address.use=ho'me",
        "Practitioner?address.use=home&telecom.use=home",
        "Practitioner?address.use=home,work",
        "Practitioner.value[x]",
        "%resource.address",
        "Practitioner.address.where(use='h\\'ome')",
        // Another type, but unreadable all the same.
        "Location.address.first()",
    ] {
        assert_eq!(
            parse(expression, "Practitioner"),
            Parsed::Unsupported,
            "{expression:?}"
        );
    }
}

#[test]
fn the_resources_identity_and_its_restrictions_cannot_be_restricted_away() {
    for expression in [
        "Practitioner.id",
        "Practitioner.meta",
        "Practitioner.meta.versionId",
        "Practitioner.resourceType",
        "Practitioner.contained",
        "Practitioner?contained.id=r1",
    ] {
        assert_eq!(
            parse(expression, "Practitioner"),
            Parsed::Unsupported,
            "{expression:?}"
        );
    }
}

#[test]
fn an_entry_path_prints_its_index_and_serializes_as_steps() {
    let one_entry = ElementPath::new(vec![Step::entry("telecom", 1)]);
    assert_eq!(one_entry.to_string(), "telecom[1]");
    assert_eq!(one_entry.index(), Some(1));
    assert!(!one_entry.is_entire_root_element());
    assert_eq!(
        serde_json::to_value(&one_entry).expect("serializes"),
        serde_json::json!([{"name": "telecom", "index": 1}])
    );

    let home = path("address.where(use='home')");
    let json = serde_json::to_value(&home).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!([{"name": "address", "filter": ["use", "home"]}])
    );
    assert_eq!(
        serde_json::from_value::<ElementPath>(json).expect("deserializes"),
        home
    );
}
