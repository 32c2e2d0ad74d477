//! A small Plan-Net directory around Hartford, CT, built so that each rule of the provider
//! finder decides one case: three networks, sites at the centre, 5 miles out, just inside and
//! just outside a 10-mile radius and 40 miles out, names at each level of closeness to
//! "smith", cardiology through a role and through a qualification only, new-patient status
//! limited to one network, one Spanish speaker.

use serde_json::{json, Value};

/// The centre of every area here (Hartford, CT) and the radius the tests use.
pub const CENTRE: (f64, f64) = (41.7637, -72.6851);
pub const RADIUS: f64 = 10.0;
pub const NUCC: &str = "http://nucc.org/provider-taxonomy";
pub const CARDIOLOGY: &str = "207RC0000X";
pub const FAMILY: &str = "207Q00000X";
pub const SD: &str = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/";

/// A point `miles` due north of the centre (one degree of latitude is 2πR/360 miles).
pub fn north(miles: f64) -> (f64, f64) {
    let per_degree = finder::EARTH_RADIUS_MILES * std::f64::consts::PI / 180.0;
    (CENTRE.0 + miles / per_degree, CENTRE.1)
}

pub fn network(id: &str) -> Value {
    json!({"resourceType": "Organization", "id": id, "active": true, "name": format!("Network {id}"),
        "identifier": [{"system": "urn:test:networks", "value": id}],
        "type": [{"coding": [{"system": "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/OrgTypeCS", "code": "ntwk"}]}]})
}

pub fn location(id: &str, at: (f64, f64)) -> Value {
    json!({"resourceType": "Location", "id": id, "status": "active", "name": format!("Site {id}"),
        "address": {"line": [format!("{id} Main St")], "city": "Hartford", "state": "CT", "postalCode": "06103"},
        "position": {"latitude": at.0, "longitude": at.1}})
}

pub fn practitioner(
    id: &str,
    given: &str,
    family: &str,
    qualification: Option<&str>,
    language: Option<&str>,
) -> Value {
    let mut p = json!({"resourceType": "Practitioner", "id": id, "active": true,
        "name": [{"given": [given], "family": family}]});
    if let Some(q) = qualification {
        p["qualification"] = json!([{"code": {"coding": [{"system": NUCC, "code": q}]}}]);
    }
    if let Some(l) = language {
        p["communication"] =
            json!([{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": l}]}}]);
    }
    p
}

/// A PractitionerRole of `practitioner` at `locations`, in `networks`, with `specialty`;
/// `accepting`: the newpatients code, optionally limited to one network.
pub fn role(
    id: &str,
    practitioner: &str,
    networks: &[&str],
    locations: &[&str],
    specialty: &str,
    accepting: (&str, Option<&str>),
) -> Value {
    let mut extension: Vec<Value> = networks
        .iter()
        .map(|n| json!({"url": format!("{SD}network-reference"), "valueReference": {"reference": format!("Organization/{n}"), "display": format!("Network {n}")}}))
        .collect();
    let mut np = vec![
        json!({"url": "acceptingPatients", "valueCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/AcceptingPatientsCS", "code": accepting.0}]}}),
    ];
    if let Some(n) = accepting.1 {
        np.push(json!({"url": "fromNetwork", "valueReference": {"reference": format!("Organization/{n}")}}));
    }
    extension.push(json!({"url": format!("{SD}newpatients"), "extension": np}));
    json!({"resourceType": "PractitionerRole", "id": id, "active": true, "extension": extension,
        "practitioner": {"reference": format!("Practitioner/{practitioner}")},
        "location": locations.iter().map(|l| json!({"reference": format!("Location/{l}")})).collect::<Vec<_>>(),
        "specialty": [{"coding": [{"system": NUCC, "code": specialty}]}]})
}

/// The directory every test reads.
pub fn directory() -> Vec<Value> {
    let at = |m| north(m);
    vec![
        network("net-a"),
        network("net-b"),
        network("net-c"),
        // A plan: net-b for the plan as a whole, net-c for its one plan option.
        json!({"resourceType": "InsurancePlan", "id": "plan-b", "status": "active", "name": "Plan B",
            "identifier": [{"system": "urn:test:plans", "value": "plan-b"}],
            "network": [{"reference": "Organization/net-b"}],
            "plan": [{"network": [{"reference": "Organization/net-c"}]}]}),
        location("centre", CENTRE),
        location("mi5", at(5.0)),
        location("inside", at(RADIUS - 0.05)),
        location("outside", at(RADIUS + 0.05)),
        location("far", at(40.0)),
        // Names: one of each level for `name=smith`.
        practitioner("smith", "John", "Smith", Some(CARDIOLOGY), None),
        practitioner("smithson", "Ann", "Smithson", None, None),
        practitioner("smyth", "Jane", "Smyth", None, Some("es-MX")),
        practitioner("smitz", "Lee", "Smitz", None, None),
        practitioner("jones", "Bob", "Jones", None, None),
        practitioner("edge-in", "Ina", "Inside", None, None),
        practitioner("edge-out", "Otto", "Outside", None, None),
        practitioner("other-net", "Carl", "Cee", None, None),
        // smith: a qualification in cardiology, a role in family medicine, 5 miles out.
        role(
            "r-smith",
            "smith",
            &["net-a"],
            &["mi5"],
            FAMILY,
            ("newpt", None),
        ),
        // smithson: cardiology through the role, at the centre, in two networks.
        role(
            "r-smithson-a",
            "smithson",
            &["net-a"],
            &["centre"],
            CARDIOLOGY,
            ("nopt", None),
        ),
        role(
            "r-smithson-b",
            "smithson",
            &["net-b"],
            &["far", "mi5"],
            CARDIOLOGY,
            ("newpt", Some("net-b")),
        ),
        // smyth: two sites; the closest one counts.
        role(
            "r-smyth",
            "smyth",
            &["net-a"],
            &["far", "inside", "centre"],
            FAMILY,
            ("newpt", Some("net-c")),
        ),
        role(
            "r-smitz",
            "smitz",
            &["net-b"],
            &["mi5"],
            FAMILY,
            ("newpt", None),
        ),
        role(
            "r-jones",
            "jones",
            &["net-a"],
            &["mi5"],
            FAMILY,
            ("newpt", None),
        ),
        role(
            "r-in",
            "edge-in",
            &["net-a"],
            &["inside"],
            FAMILY,
            ("newpt", None),
        ),
        role(
            "r-out",
            "edge-out",
            &["net-a"],
            &["outside"],
            FAMILY,
            ("newpt", None),
        ),
        // Never found: an inactive practitioner (whose name starts like `smith`).
        json!({"resourceType": "Practitioner", "id": "retired", "active": false,
            "name": [{"given": ["Ray"], "family": "Smithe"}]}),
        role(
            "r-retired",
            "retired",
            &["net-a"],
            &["centre"],
            FAMILY,
            ("newpt", None),
        ),
        // A role whose "site" is not a Location: found by name, with no site and nothing of
        // that Organization read or shown.
        practitioner("wrongsite", "Wanda", "Wrongsite", None, None),
        json!({"resourceType": "PractitionerRole", "id": "r-wrongsite", "active": true,
            "practitioner": {"reference": "Practitioner/wrongsite"},
            "location": [{"reference": "Organization/net-a"}]}),
        role(
            "r-other",
            "other-net",
            &["net-c"],
            &["centre"],
            FAMILY,
            ("newpt", None),
        ),
    ]
}
