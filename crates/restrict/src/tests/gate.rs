//! Gates agree with [`crate::visibility`]: for many policies and viewers, a gate admits a
//! viewer exactly when visibility lets it see the content the gate guards.

use serde_json::{json, Value};

use crate::{visibility, Access, Restrictions, Seer, Viewer, Visibility};

use super::{client, policy, practitioner, provision, restriction, whole_restricted, BASE};

fn elements(provisions: &[Value]) -> Restrictions {
    let contained = provisions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = if i % 2 == 0 {
                "Practitioner.telecom"
            } else {
                "Practitioner.address"
            };
            restriction(&format!("r{i}"), &[path], p.clone())
        })
        .collect();
    policy(&practitioner(contained))
}

fn policies() -> Vec<(&'static str, Vec<Value>)> {
    let a = "Organization/a";
    let b_abs = "https://fhir.example.org/t/acme/fhir/Organization/b";
    vec![
        ("no provision", vec![Value::Null]),
        ("permit a", vec![provision("permit", &[a], &[])]),
        (
            "permit a for TREAT",
            vec![provision("permit", &[a], &["TREAT"])],
        ),
        (
            "permit absolute b",
            vec![provision("permit", &[b_abs], &[])],
        ),
        (
            "permit a, deny a for HRESCH",
            vec![
                json!({"type": "permit", "actor": [{"reference": {"reference": a}}],
                "provision": [provision("deny", &[a], &["HRESCH"])]}),
            ],
        ),
        (
            "two restrictions: permit a / permit a and b",
            vec![
                provision("permit", &[a], &[]),
                provision("permit", &[a, "Organization/b"], &[]),
            ],
        ),
        (
            "two restrictions: permit a / permit b",
            vec![
                provision("permit", &[a], &[]),
                provision("permit", &["Organization/b"], &[]),
            ],
        ),
        (
            "no provision and deny b",
            vec![Value::Null, provision("deny", &["Organization/b"], &[])],
        ),
        (
            "display-only actor",
            vec![json!({"type": "permit", "actor": [{"reference": {"display": "A"}}]})],
        ),
    ]
}

fn viewers() -> Vec<(&'static str, Viewer<'static>)> {
    const TREAT: &[String] = &[];
    let treat: &'static [String] = Box::leak(Box::new(["TREAT".to_owned()]));
    let hresch: &'static [String] = Box::leak(Box::new([
        "http://terminology.hl7.org/CodeSystem/v3-ActReason#HRESCH".to_owned(),
    ]));
    vec![
        ("anonymous", Viewer::Anonymous),
        ("system", Viewer::System),
        ("client without organization", client(None, TREAT)),
        ("client a", client(Some("Organization/a"), TREAT)),
        ("client a, TREAT", client(Some("Organization/a"), treat)),
        ("client a, HRESCH", client(Some("Organization/a"), hresch)),
        ("client b", client(Some("Organization/b"), TREAT)),
        (
            "client b absolute",
            client(
                Some("https://fhir.example.org/t/acme/fhir/Organization/b"),
                TREAT,
            ),
        ),
        ("client c", client(Some("Organization/c"), TREAT)),
        (
            "see_restricted",
            Viewer::Client {
                organization: None,
                purpose_of_use: &[],
                see_restricted: true,
                tenant_base: BASE,
            },
        ),
    ]
}

#[test]
fn gates_agree_with_visibility_for_every_policy_and_viewer() {
    let mut checked = 0;
    for (what, provisions) in policies() {
        let w = whole_restricted(&provisions);
        let e = elements(&provisions);
        for (who, viewer) in viewers() {
            let seer = Seer::of(&viewer);
            let sees_whole = visibility(&w, &viewer) == Visibility::Whole;
            assert_eq!(
                w.whole_gate().admits(&seer),
                sees_whole,
                "whole, {what}, {who}"
            );
            assert_eq!(w.element_gate().access, Access::Open, "{what}");
            let sees_elements = visibility(&e, &viewer) == Visibility::Whole;
            assert_eq!(
                e.element_gate().admits(&seer),
                sees_elements,
                "elements, {what}, {who}"
            );
            assert_eq!(e.whole_gate().access, Access::Open, "{what}");
            checked += 1;
        }
    }
    assert_eq!(checked, 90);
}

#[test]
fn gate_classes_and_rows() {
    let g = whole_restricted(&[Value::Null]).whole_gate();
    assert_eq!(
        (g.access, g.rules, g.provisions.len()),
        (Access::Authenticated, 0, 0)
    );
    let g = whole_restricted(&[provision(
        "permit",
        &["Organization/a", "Organization/b"],
        &["TREAT", "ETREAT"],
    )])
    .whole_gate();
    assert_eq!(
        (g.access, g.rules, g.provisions.len()),
        (Access::Provisions, 1, 4)
    );
    let unknown = json!({"resourceType": "Practitioner", "id": "p", "extension": [
        {"url": crate::NDH_USAGE_RESTRICTION, "valueReference": {"reference": "Consent/gone"}}]});
    let g = policy(&unknown).whole_gate();
    assert_eq!((g.access, g.rules), (Access::Privileged, 0), "fail closed");
    assert_eq!(Restrictions::default().whole_gate().access, Access::Open);
}
