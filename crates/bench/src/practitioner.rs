//! A small built-in template for realistic Practitioner bodies (about 1 KB), shaped like
//! Da Vinci Plan-Net Practitioners
//! (<http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition-plannet-Practitioner.html>):
//! NPI identifier, name, telecom, address, qualification and communication, with values
//! varied by index so no two bodies are identical.

use serde_json::{json, Value};

const FAMILY: [&str; 12] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Nguyen",
    "Okafor",
    "Kowalski",
];
const GIVEN: [&str; 10] = [
    "James", "Mary", "Robert", "Patricia", "Wei", "Aisha", "Carlos", "Ingrid", "Tomasz", "Priya",
];
const CITY: [(&str, &str, &str); 6] = [
    ("Springfield", "IL", "62701"),
    ("Columbus", "OH", "43004"),
    ("Madison", "WI", "53703"),
    ("Albany", "NY", "12207"),
    ("Austin", "TX", "73301"),
    ("Salem", "OR", "97301"),
];
const QUALIFICATION: [(&str, &str); 4] = [
    ("MD", "Doctor of Medicine"),
    ("DO", "Doctor of Osteopathy"),
    ("NP", "Nurse Practitioner"),
    ("PA", "Physician Assistant"),
];
const LANGUAGE: [(&str, &str); 4] = [
    ("en", "English"),
    ("es", "Spanish"),
    ("zh", "Chinese"),
    ("fr", "French"),
];

/// A 10-digit NPI-like number, unique per index below 10^9.
fn npi(i: u64) -> String {
    format!("1{:09}", i % 1_000_000_000)
}

/// The Practitioner for index `i`; `id` is set when given (PUT), absent otherwise (POST).
pub fn practitioner(i: u64, id: Option<&str>) -> Value {
    let pick = |n: usize, salt: u64| (i.wrapping_mul(31).wrapping_add(salt) % n as u64) as usize;
    let family = FAMILY[pick(FAMILY.len(), 0)];
    let given = GIVEN[pick(GIVEN.len(), 7)];
    let (city, state, zip) = CITY[pick(CITY.len(), 3)];
    let (qcode, qtext) = QUALIFICATION[pick(QUALIFICATION.len(), 5)];
    let (lang, lang_name) = LANGUAGE[pick(LANGUAGE.len(), 11)];
    let mut p = json!({
        "resourceType": "Practitioner",
        "meta": {
            "profile": ["http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/plannet-Practitioner"]
        },
        "active": !i.is_multiple_of(17),
        "identifier": [{
            "use": "official",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NPI"}]},
            "system": "http://hl7.org/fhir/sid/us-npi",
            "value": npi(i)
        }],
        "name": [{
            "use": "official",
            "text": format!("{given} {family}, {qcode}"),
            "family": family,
            "given": [given],
            "suffix": [qcode]
        }],
        "telecom": [
            {"system": "phone", "value": format!("(555) {:03}-{:04}", i % 1000, (i / 1000) % 10_000), "use": "work"},
            {"system": "email", "value": format!("{}.{}{}@example.org", given.to_lowercase(), family.to_lowercase(), i), "use": "work"}
        ],
        "address": [{
            "use": "work",
            "line": [format!("{} Main Street", 100 + i % 900), format!("Suite {}", i % 50 + 1)],
            "city": city,
            "state": state,
            "postalCode": zip,
            "country": "US"
        }],
        "gender": if i.is_multiple_of(2) { "female" } else { "male" },
        "qualification": [{
            "identifier": [{"system": format!("http://www.example.org/license/{}", state.to_lowercase()), "value": format!("{state}-{:07}", i)}],
            "code": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0360", "code": qcode, "display": qtext}],
                "text": qtext
            },
            "issuer": {"display": format!("State of {state} Medical Board")}
        }],
        "communication": [{
            "coding": [{"system": "urn:ietf:bcp:47", "code": lang, "display": lang_name}],
            "text": lang_name
        }]
    });
    if let (Some(id), Some(obj)) = (id, p.as_object_mut()) {
        obj.insert("id".into(), Value::String(id.to_owned()));
    }
    p
}

/// The id used for index `i` in the PUT phase.
pub fn id(i: u64) -> String {
    format!("bench-{i:07}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_about_one_kilobyte_and_distinct() {
        let a = serde_json::to_vec(&practitioner(1, Some(&id(1)))).unwrap_or_default();
        let b = serde_json::to_vec(&practitioner(2, Some(&id(2)))).unwrap_or_default();
        assert!((900..1500).contains(&a.len()), "{} bytes", a.len());
        assert_ne!(a, b);
    }
}
