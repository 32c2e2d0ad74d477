//! The access rule: for each kind of restriction, every kind of viewer, refusals first.

use serde_json::{json, Value};

use crate::{visibility, Restrictions, Settings, Viewer, Visibility, CONFIDENTIALITY_SYSTEM};

use super::{
    client, no_store, path, policy, practitioner, provision, restriction, whole_restricted, BASE,
};

/// Purposes of use, as a token carries them.
fn purposes(codes: &[&str]) -> Vec<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

/// Checks `r` against each `(what, viewer, sees the resource)`.
fn check_whole(r: &Restrictions, cases: &[(&str, Viewer, bool)]) {
    for (what, viewer, sees) in cases {
        let expected = if *sees {
            Visibility::Whole
        } else {
            Visibility::Hidden
        };
        assert_eq!(visibility(r, viewer), expected, "{what}");
    }
}

fn privileged<'a>(organization: Option<&'a str>) -> Viewer<'a> {
    Viewer::Client {
        organization,
        purpose_of_use: &[],
        see_restricted: true,
        tenant_base: BASE,
    }
}

#[test]
fn unrestricted_content_is_seen_by_everyone() {
    let r = Restrictions::default();
    for viewer in [Viewer::Anonymous, client(None, &[]), Viewer::System] {
        assert_eq!(visibility(&r, &viewer), Visibility::Whole, "{viewer:?}");
    }
}

#[test]
fn a_restriction_without_provision_admits_any_client_but_no_anonymous_caller() {
    let r = whole_restricted(&[Value::Null]);
    check_whole(
        &r,
        &[
            ("anonymous", Viewer::Anonymous, false),
            ("client without organization", client(None, &[]), true),
            (
                "client with organization",
                client(Some("Organization/z"), &[]),
                true,
            ),
            ("see_restricted", privileged(None), true),
            ("system", Viewer::System, true),
        ],
    );
}

#[test]
fn a_permit_admits_exactly_the_client_of_the_organization_it_names() {
    let relative = whole_restricted(&[provision("permit", &["Organization/a"], &[])]);
    let absolute_actor = whole_restricted(&[provision(
        "permit",
        &[&format!("{BASE}/Organization/a")],
        &[],
    )]);
    let absolute_client = format!("{BASE}/Organization/a");
    let other_server = "https://other.example.org/fhir/Organization/a".to_owned();
    for r in [&relative, &absolute_actor] {
        check_whole(
            r,
            &[
                ("anonymous", Viewer::Anonymous, false),
                ("client without organization", client(None, &[]), false),
                ("client of a", client(Some("Organization/a"), &[]), true),
                (
                    "client of a, absolute",
                    client(Some(&absolute_client), &[]),
                    true,
                ),
                ("client of b", client(Some("Organization/b"), &[]), false),
                ("client of ab", client(Some("Organization/ab"), &[]), false),
                ("client of a bare id", client(Some("a"), &[]), false),
                ("client of empty organization", client(Some(""), &[]), false),
                (
                    "client of a on another server",
                    client(Some(&other_server), &[]),
                    false,
                ),
                (
                    "see_restricted of b",
                    privileged(Some("Organization/b")),
                    true,
                ),
                ("system", Viewer::System, true),
            ],
        );
    }
    // The tenant base may be written with a trailing slash.
    let with_slash = format!("{BASE}/");
    let viewer = Viewer::Client {
        organization: Some("Organization/a"),
        purpose_of_use: &[],
        see_restricted: false,
        tenant_base: &with_slash,
    };
    assert_eq!(visibility(&absolute_actor, &viewer), Visibility::Whole);
}

#[test]
fn an_actor_on_another_server_matches_only_that_exact_reference() {
    let other = "https://other.example.org/fhir/Organization/a";
    let r = whole_restricted(&[provision("permit", &[other], &[])]);
    check_whole(
        &r,
        &[
            ("the same URL", client(Some(other), &[]), true),
            ("the local a", client(Some("Organization/a"), &[]), false),
        ],
    );
}

#[test]
fn an_actor_given_only_by_display_matches_no_one() {
    let display_only = json!({
        "type": "permit",
        "actor": [{"reference": {"display": "Blue Team @ The W shelter (CareTeam)"}}]
    });
    let r = whole_restricted(&[display_only]);
    check_whole(
        &r,
        &[
            ("client of a", client(Some("Organization/a"), &[]), false),
            ("client without organization", client(None, &[]), false),
            ("see_restricted", privileged(None), true),
        ],
    );
}

#[test]
fn a_permit_with_purposes_needs_one_of_their_codes_in_the_token() {
    let r = whole_restricted(&[provision(
        "permit",
        &["Organization/a"],
        &["TREAT", "SYSDEV"],
    )]);
    let cases: &[(&[&str], bool)] = &[
        (&[], false),
        (&["TREAT"], true),
        (&["SYSDEV"], true),
        (&["HPAYMT", "SYSDEV"], true),
        (
            &["http://terminology.hl7.org/CodeSystem/v3-ActReason#TREAT"],
            true,
        ),
        (&["urn:oid:2.16.840.1.113883.5.8#TREAT"], true),
        (&["HPAYMT"], false),
        (&["treat"], false),
        (&["TREAT#"], false),
        (&["ETREAT"], false),
    ];
    for &(codes, sees) in cases {
        let tokens = purposes(codes);
        let expected = if sees {
            Visibility::Whole
        } else {
            Visibility::Hidden
        };
        assert_eq!(
            visibility(&r, &client(Some("Organization/a"), &tokens)),
            expected,
            "{codes:?}"
        );
    }
    // The right purpose does not stand in for the right organization.
    let treat = purposes(&["TREAT"]);
    assert_eq!(
        visibility(&r, &client(Some("Organization/b"), &treat)),
        Visibility::Hidden
    );
}

#[test]
fn a_deny_in_one_restriction_wins_over_a_permit_in_another() {
    let r = whole_restricted(&[
        provision("permit", &["Organization/a", "Organization/b"], &[]),
        json!({
            "type": "permit",
            "actor": [
                {"reference": {"reference": "Organization/a"}},
                {"reference": {"reference": "Organization/b"}}
            ],
            "provision": [provision("deny", &["Organization/a"], &[])]
        }),
    ]);
    check_whole(
        &r,
        &[
            (
                "client of a, denied",
                client(Some("Organization/a"), &[]),
                false,
            ),
            (
                "client of b, permitted by both",
                client(Some("Organization/b"), &[]),
                true,
            ),
            (
                "see_restricted of a",
                privileged(Some("Organization/a")),
                true,
            ),
        ],
    );
}

#[test]
fn a_deny_for_one_purpose_leaves_the_permit_for_others() {
    let r = whole_restricted(&[json!({
        "type": "permit",
        "actor": [{"reference": {"reference": "Organization/a"}}],
        "provision": [provision("deny", &["Organization/a"], &["SYSDEV"])]
    })]);
    let treat = purposes(&["TREAT"]);
    let both = purposes(&["TREAT", "SYSDEV"]);
    check_whole(
        &r,
        &[
            ("a for TREAT", client(Some("Organization/a"), &treat), true),
            (
                "a for TREAT and SYSDEV",
                client(Some("Organization/a"), &both),
                false,
            ),
        ],
    );
}

#[test]
fn every_restriction_on_the_same_content_must_let_the_client_through() {
    // Each Restriction restricts on its own: a permit in one does not open another.
    let r = whole_restricted(&[
        provision("permit", &["Organization/a"], &[]),
        provision("permit", &["Organization/b"], &[]),
    ]);
    check_whole(
        &r,
        &[
            ("client of a", client(Some("Organization/a"), &[]), false),
            ("client of b", client(Some("Organization/b"), &[]), false),
        ],
    );
    let r = whole_restricted(&[Value::Null, provision("permit", &["Organization/a"], &[])]);
    check_whole(
        &r,
        &[
            ("client of a", client(Some("Organization/a"), &[]), true),
            ("client of b", client(Some("Organization/b"), &[]), false),
        ],
    );
}

#[test]
fn a_restriction_with_only_denies_admits_no_client() {
    let r = whole_restricted(&[provision("deny", &["Organization/a"], &[])]);
    check_whole(
        &r,
        &[
            ("client of a", client(Some("Organization/a"), &[]), false),
            ("client of b", client(Some("Organization/b"), &[]), false),
            (
                "see_restricted of a",
                privileged(Some("Organization/a")),
                true,
            ),
        ],
    );
}

fn labelled(code: &str) -> Restrictions {
    let resource = json!({
        "resourceType": "Organization",
        "id": "o1",
        "meta": {"security": [{"system": CONFIDENTIALITY_SYSTEM, "code": code}]}
    });
    policy(&resource)
}

#[test]
fn meta_security_r_admits_clients_and_v_only_see_restricted_ones() {
    check_whole(
        &labelled("R"),
        &[
            ("R, anonymous", Viewer::Anonymous, false),
            ("R, client without organization", client(None, &[]), true),
            ("R, see_restricted", privileged(None), true),
            ("R, system", Viewer::System, true),
        ],
    );
    check_whole(
        &labelled("V"),
        &[
            ("V, anonymous", Viewer::Anonymous, false),
            ("V, client without organization", client(None, &[]), false),
            ("V, client of a", client(Some("Organization/a"), &[]), false),
            ("V, see_restricted", privileged(None), true),
            ("V, system", Viewer::System, true),
        ],
    );
}

#[test]
fn an_unknown_restriction_admits_only_see_restricted_clients() {
    let mut resource = practitioner(Vec::new());
    resource["extension"] = json!([super::usage_restriction("Consent/gone")]);
    let r = crate::extract(&resource, &Settings::default(), &no_store);
    check_whole(
        &r,
        &[
            ("anonymous", Viewer::Anonymous, false),
            ("client of a", client(Some("Organization/a"), &[]), false),
            ("see_restricted", privileged(None), true),
            ("system", Viewer::System, true),
        ],
    );
}

#[test]
fn element_restrictions_redact_only_the_elements_a_viewer_may_not_see() {
    let addresses = restriction(
        "addresses",
        &["Practitioner.address"],
        provision("permit", &["Organization/a"], &[]),
    );
    let home_phones = restriction("phones", &["Practitioner?telecom.use=home"], Value::Null);
    let r = policy(&practitioner(vec![addresses, home_phones]));
    let both = Visibility::Redacted(vec![path("address"), path("telecom.where(use='home')")]);
    let cases: &[(&str, Viewer, Visibility)] = &[
        ("anonymous", Viewer::Anonymous, both.clone()),
        (
            "client of b",
            client(Some("Organization/b"), &[]),
            Visibility::Redacted(vec![path("address")]),
        ),
        (
            "client of a",
            client(Some("Organization/a"), &[]),
            Visibility::Whole,
        ),
        ("see_restricted", privileged(None), Visibility::Whole),
        ("system", Viewer::System, Visibility::Whole),
    ];
    for (what, viewer, expected) in cases {
        assert_eq!(&visibility(&r, viewer), expected, "{what}");
    }
}

#[test]
fn a_deny_on_one_element_does_not_reach_another() {
    let consent = restriction(
        "r1",
        &["Practitioner.address"],
        provision("deny", &["Organization/a"], &[]),
    );
    let open = restriction(
        "r2",
        &["Practitioner.telecom"],
        provision("permit", &["Organization/a"], &[]),
    );
    let r = policy(&practitioner(vec![consent, open]));
    assert_eq!(
        visibility(&r, &client(Some("Organization/a"), &[])),
        Visibility::Redacted(vec![path("address")])
    );
}

#[test]
fn a_hidden_resource_is_hidden_before_its_elements_are_considered() {
    let mut resource = practitioner(vec![restriction(
        "r1",
        &["Practitioner.address"],
        Value::Null,
    )]);
    resource["meta"]["security"] = json!([{"system": CONFIDENTIALITY_SYSTEM, "code": "V"}]);
    let r = policy(&resource);
    assert_eq!(
        visibility(&r, &client(Some("Organization/a"), &[])),
        Visibility::Hidden
    );
    assert_eq!(visibility(&r, &Viewer::Anonymous), Visibility::Hidden);
    assert_eq!(visibility(&r, &privileged(None)), Visibility::Whole);
}
