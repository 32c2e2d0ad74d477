use super::*;

use Interaction::{Create as Cr, Delete as De, Read as Re, Search as Se, Update as Up};

const ALL: [Interaction; 5] = [Cr, Re, Up, De, Se];

/// The interactions `scopes` allows on `resource_type`, as v2 letters.
fn letters(scopes: &Scopes, resource_type: &str) -> String {
    ALL.iter()
        .filter(|i| scopes.allows(resource_type, **i))
        .map(|i| i.letter())
        .collect()
}

#[test]
fn v1_and_v2_forms_grant_their_letters() {
    let cases = [
        ("system/Practitioner.read", "rs"),
        ("system/Practitioner.write", "cud"),
        ("system/Practitioner.*", "cruds"),
        ("system/Practitioner.cruds", "cruds"),
        ("system/Practitioner.rs", "rs"),
        ("system/Practitioner.r", "r"),
        ("system/Practitioner.s", "s"),
        ("system/Practitioner.cud", "cud"),
        ("system/Practitioner.cd", "cd"),
        ("system/Practitioner.us", "us"),
    ];
    for (text, expected) in cases {
        let scopes = Scopes::parse(text).unwrap();
        assert_eq!(letters(&scopes, "Practitioner"), expected, "{text}");
        assert_eq!(
            letters(&scopes, "Organization"),
            "",
            "{text} must not reach another type"
        );
    }
}

#[test]
fn wildcard_type_covers_every_type() {
    let scopes = Scopes::parse("system/*.read").unwrap();
    for ty in ["Practitioner", "Organization", "Endpoint"] {
        assert_eq!(letters(&scopes, ty), "rs", "{ty}");
    }
    let all = Scopes::parse("system/*.*").unwrap();
    assert_eq!(letters(&all, "Location"), "cruds");
}

#[test]
fn several_scopes_add_up() {
    let scopes =
        Scopes::parse("system/Practitioner.r  system/Practitioner.s\tsystem/Organization.c")
            .unwrap();
    assert_eq!(letters(&scopes, "Practitioner"), "rs");
    assert_eq!(letters(&scopes, "Organization"), "c");
}

#[test]
fn grants_write_means_c_u_or_d() {
    let cases = [
        ("system/Practitioner.rs", false),
        ("system/Practitioner.c", true),
        ("system/Practitioner.u", true),
        ("system/Practitioner.d", true),
        ("system/*.write", true),
        ("system/Organization.cud", false),
    ];
    for (text, expected) in cases {
        assert_eq!(
            Scopes::parse(text).unwrap().grants_write("Practitioner"),
            expected,
            "{text}"
        );
    }
}

#[test]
fn strict_parse_names_the_bad_item() {
    let bad = [
        "openid",
        "patient/Practitioner.read",
        "user/*.rs",
        "system/Practitioner",
        "system/Practitioner.",
        "system/practitioner.read",
        "system/Prac-titioner.read",
        "system/.read",
        "system/Practitioner.sr",
        "system/Practitioner.rr",
        "system/Practitioner.x",
        "system/Practitioner.READ",
        "system/Practitioner.rs?name=x",
        "system/Practitioner.read.write",
        "launch/patient",
    ];
    for item in bad {
        let text = format!("system/Organization.rs {item}");
        match Scopes::parse(&text) {
            Err(AuthError::InvalidScope { scope, .. }) => assert_eq!(scope, item),
            other => panic!("{item}: expected InvalidScope, got {other:?}"),
        }
    }
    let long = format!("system/A{}.r", "a".repeat(64));
    assert!(Scopes::parse(&long).is_err(), "a 65-letter type");
    assert!(
        Scopes::parse(&format!("system/A{}.r", "a".repeat(63))).is_ok(),
        "a 64-letter type"
    );
}

#[test]
fn strict_error_message_says_why() {
    let err = Scopes::parse("system/Practitioner.sr").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid scope `system/Practitioner.sr`: v2 permissions must be written once each, in the order c r u d s"
    );
}

#[test]
fn empty_text_is_no_scopes() {
    assert!(Scopes::parse("").unwrap().is_empty());
    assert!(Scopes::parse("  ").unwrap().is_empty());
    assert!(!Scopes::parse("system/*.r").unwrap().is_empty());
}

#[test]
fn lenient_parse_keeps_only_system_scopes() {
    let scopes = Scopes::parse_lenient(
        "openid fhirUser patient/*.read user/Practitioner.rs system/Practitioner.rs?name=x garbage \
         system/Organization.read system/endpoint.r system/Location.rs",
    );
    assert_eq!(
        scopes.to_string(),
        "system/Organization.read system/Location.rs"
    );
    assert!(Scopes::parse_lenient("openid profile").is_empty());
}

#[test]
fn display_round_trips_the_written_form() {
    for text in [
        "system/Practitioner.read",
        "system/Practitioner.read system/Organization.cruds",
        "system/*.* system/Endpoint.write",
        "system/Practitioner.rs",
    ] {
        let scopes = Scopes::parse(text).unwrap();
        assert_eq!(scopes.to_string(), text);
        assert_eq!(Scopes::parse(&scopes.to_string()).unwrap(), scopes);
    }
}

#[test]
fn duplicates_are_kept_once() {
    let scopes =
        Scopes::parse("system/Practitioner.rs system/Practitioner.rs system/Practitioner.read")
            .unwrap();
    assert_eq!(scopes.to_string(), "system/Practitioner.rs");
}

#[test]
fn intersection_table() {
    // (requested, registered, granted)
    let cases = [
        (
            "system/*.rs",
            "system/Practitioner.cruds",
            "system/Practitioner.rs",
        ),
        (
            "system/Practitioner.read",
            "system/*.cruds",
            "system/Practitioner.read",
        ),
        (
            "system/Practitioner.cruds",
            "system/*.rs",
            "system/Practitioner.rs",
        ),
        (
            "system/*.cruds",
            "system/Practitioner.rs",
            "system/Practitioner.rs",
        ),
        ("system/*.read", "system/*.*", "system/*.read"),
        ("system/*.*", "system/*.read", "system/*.rs"),
        (
            "system/Practitioner.write",
            "system/Practitioner.cruds",
            "system/Practitioner.write",
        ),
        (
            "system/Practitioner.*",
            "system/Practitioner.read",
            "system/Practitioner.rs",
        ),
        (
            "system/Practitioner.read",
            "system/Practitioner.r",
            "system/Practitioner.r",
        ),
        // Two registered scopes that together cover the request grant it whole, in the client's spelling.
        (
            "system/Practitioner.read",
            "system/Practitioner.r system/Practitioner.s",
            "system/Practitioner.read",
        ),
        (
            "system/*.rs",
            "system/Practitioner.cruds system/Organization.r",
            "system/Practitioner.rs system/Organization.r",
        ),
        (
            "system/Organization.read system/Practitioner.read",
            "system/*.read",
            "system/Organization.read system/Practitioner.read",
        ),
    ];
    for (requested, registered, granted) in cases {
        let requested = Scopes::parse(requested).unwrap();
        let registered = Scopes::parse(registered).unwrap();
        assert_eq!(
            requested.intersect(&registered).to_string(),
            granted,
            "{requested} ∩ {registered}"
        );
    }
}

#[test]
fn intersection_is_symmetric_in_what_it_allows() {
    let pairs = [
        ("system/*.rs", "system/Practitioner.cruds"),
        ("system/Practitioner.read", "system/*.cruds"),
        (
            "system/*.write system/Organization.r",
            "system/Organization.cruds system/Endpoint.rs",
        ),
    ];
    for (a, b) in pairs {
        let (a, b) = (Scopes::parse(a).unwrap(), Scopes::parse(b).unwrap());
        for ty in ["Practitioner", "Organization", "Endpoint", "Location"] {
            assert_eq!(
                letters(&a.intersect(&b), ty),
                letters(&b.intersect(&a), ty),
                "{a} / {b} on {ty}"
            );
        }
    }
}

#[test]
fn empty_intersection() {
    let cases = [
        ("system/Practitioner.rs", "system/Organization.rs"),
        ("system/Practitioner.read", "system/Practitioner.cud"),
        ("system/*.write", "system/*.read"),
        ("", "system/*.*"),
        ("system/*.*", ""),
    ];
    for (requested, registered) in cases {
        let granted = Scopes::parse(requested)
            .unwrap()
            .intersect(&Scopes::parse(registered).unwrap());
        assert!(granted.is_empty(), "{requested} ∩ {registered} = {granted}");
        assert_eq!(granted.to_string(), "");
    }
}

#[test]
fn lenient_request_intersected_with_registration() {
    let requested =
        Scopes::parse_lenient("openid system/Practitioner.read patient/*.read system/Endpoint.c");
    let registered = Scopes::parse("system/*.read").unwrap();
    let granted = requested.intersect(&registered);
    assert_eq!(granted.to_string(), "system/Practitioner.read");
    assert!(granted.allows("Practitioner", Se));
    assert!(!granted.allows("Endpoint", Cr));
}
