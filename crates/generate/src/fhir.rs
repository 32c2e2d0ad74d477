//! Small builders for the FHIR R4 datatypes and Plan-Net extensions the generator emits
//! (Coding, CodeableConcept, Reference, ContactPoint, Address, and the Plan-Net extension shapes of
//! <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/artifacts.html>).

use serde_json::{json, Value};

use crate::geography::City;
use crate::rng::Rng;

/// Canonical base of the Plan-Net 1.2.0 StructureDefinitions.
pub const PLAN_NET_SD: &str = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/";
/// Canonical base of the Plan-Net 1.2.0 CodeSystems.
pub const PLAN_NET_CS: &str = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/";
/// HL7 v2 table 0203 (identifier type).
pub const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
/// USPS state codes as used by Plan-Net's `whereValid` examples.
pub const USPS: &str = "https://www.usps.com/";

/// `meta` carrying the Plan-Net profile `name` (e.g. `plannet-Practitioner`). `lastUpdated` is
/// deliberately absent: the server assigns it.
pub fn meta(profile: &str) -> Value {
    json!({ "profile": [format!("{PLAN_NET_SD}{profile}")] })
}

/// A Coding.
pub fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

/// A CodeableConcept with one Coding and the display as text.
pub fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [coding(system, code, display)], "text": display })
}

/// A CodeableConcept from a Plan-Net CodeSystem (`cs` is the CodeSystem id, e.g. `OrgTypeCS`).
pub fn plan_net_concept(cs: &str, code: &str, display: &str) -> Value {
    concept(&format!("{PLAN_NET_CS}{cs}"), code, display)
}

/// A literal relative Reference with a display.
pub fn reference(resource_type: &str, id: &str, display: &str) -> Value {
    json!({ "reference": format!("{resource_type}/{id}"), "display": display })
}

/// A made-up but well-formed US phone number in the city's area code (the 555 exchange is
/// reserved for fiction).
pub fn phone(rng: &mut Rng, city: &City) -> String {
    format!("({}) 555-{:04}", city.area_code, rng.below(10_000))
}

/// A work ContactPoint.
pub fn contact_point(system: &str, value: &str) -> Value {
    json!({ "system": system, "value": value, "use": "work" })
}

/// A work ContactPoint with Plan-Net `contactpoint-availabletime`: reachable on `days` between
/// `start` and `end`.
pub fn contact_point_hours(
    system: &str,
    value: &str,
    days: &[&str],
    start: &str,
    end: &str,
) -> Value {
    let mut ext: Vec<Value> = days
        .iter()
        .map(|day| json!({ "url": "daysOfWeek", "valueCode": day }))
        .collect();
    ext.push(json!({ "url": "availableStartTime", "valueTime": start }));
    ext.push(json!({ "url": "availableEndTime", "valueTime": end }));
    json!({
        "extension": [{ "extension": ext, "url": format!("{PLAN_NET_SD}contactpoint-availabletime") }],
        "system": system,
        "value": value,
        "use": "work",
    })
}

/// [`contact_point_hours`] on weekdays.
pub fn contact_point_weekdays(system: &str, value: &str, start: &str, end: &str) -> Value {
    contact_point_hours(system, value, &WEEKDAYS, start, end)
}

/// A work, physical+postal US Address.
pub fn address(line: &str, city: &City) -> Value {
    json!({
        "use": "work",
        "type": "both",
        "text": format!("{line}, {}, {} {}", city.name, city.state, city.zip),
        "line": [line],
        "city": city.name,
        "state": city.state,
        "postalCode": city.zip,
        "country": "US",
    })
}

/// [`address`] with the core `geolocation` extension (used on Organization and Practitioner
/// addresses, whose profiles mark it must-support).
pub fn address_with_geolocation(line: &str, city: &City, lat: f64, lon: f64) -> Value {
    let mut value = address(line, city);
    if let Value::Object(map) = &mut value {
        // Put the extension first, as FHIR JSON conventionally orders it.
        let mut with_ext = serde_json::Map::new();
        with_ext.insert(
            "extension".into(),
            json!([{
                "extension": [
                    { "url": "latitude", "valueDecimal": lat },
                    { "url": "longitude", "valueDecimal": lon },
                ],
                "url": "http://hl7.org/fhir/StructureDefinition/geolocation",
            }]),
        );
        with_ext.append(map);
        return Value::Object(with_ext);
    }
    value
}

/// A street line such as `"417 Maple Ave"`.
pub fn street_line(rng: &mut Rng) -> String {
    format!(
        "{} {}",
        1 + rng.below(9_899),
        rng.pick(crate::geography::STREETS)
    )
}

/// Plan-Net `newpatients`: whether new patients are accepted, optionally only from one network.
/// `characteristics` is only added when patients are accepted (invariant
/// `new-patients-characteristics`).
pub fn new_patients(
    code: &str,
    from_network: Option<Value>,
    characteristics: Option<&str>,
) -> Value {
    let display = match code {
        "newpt" => "Accepting",
        "existptonly" => "Accepting existing patients",
        "existptfam" => "Accepting existing patients and their families",
        _ => "Not Accepting",
    };
    let mut ext = vec![json!({
        "url": "acceptingPatients",
        "valueCodeableConcept": plan_net_concept("AcceptingPatientsCS", code, display),
    })];
    if let Some(network) = from_network {
        ext.push(json!({ "url": "fromNetwork", "valueReference": network }));
    }
    if let Some(text) = characteristics.filter(|_| code != "nopt") {
        ext.push(json!({ "url": "characteristics", "valueString": text }));
    }
    json!({ "extension": ext, "url": format!("{PLAN_NET_SD}newpatients") })
}

/// A weighted accepting-patients code: most practices take new patients.
pub fn accepting_patients_code(rng: &mut Rng) -> &'static str {
    match rng.below(100) {
        0..=64 => "newpt",
        65..=79 => "existptonly",
        80..=89 => "existptfam",
        _ => "nopt",
    }
}

/// Plan-Net `accessibility` extension.
pub fn accessibility(code: &str) -> Value {
    let display = match code {
        "cultcomp" => "Cultural competence",
        "handiaccess" => "handicap accessible",
        "adacomp" => "ADA compliant",
        "pubtrans" => "public transit options",
        "anssrvc" => "answering service",
        "cognitive" => "cognitive",
        _ => "mobility",
    };
    json!({
        "url": format!("{PLAN_NET_SD}accessibility"),
        "valueCodeableConcept": plan_net_concept("AccessibilityCS", code, display),
    })
}

/// A weekly availability block (`availableTime` of PractitionerRole/HealthcareService).
pub fn available_time(days: &[&str], start: &str, end: &str) -> Value {
    json!({
        "daysOfWeek": days,
        "allDay": false,
        "availableStartTime": start,
        "availableEndTime": end,
    })
}

/// Weekdays, for hours.
pub const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];
/// All days, for hours.
pub const ALL_DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A lowercase slug for host names and e-mail addresses: `"St. Mary's Hospital"` -> `st-marys-hospital`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            dash = false;
        } else if c == '\'' || c == '.' {
            // Dropped without a separator: "Mary's" -> "marys".
        } else if !dash && !out.is_empty() {
            out.push('-');
            dash = true;
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_is_host_safe() {
        assert_eq!(slug("St. Mary's Hospital"), "st-marys-hospital");
        assert_eq!(slug("  Acme & Co -- Boston "), "acme-co-boston");
    }

    #[test]
    fn new_patients_drops_characteristics_when_not_accepting() {
        let v = new_patients("nopt", None, Some("wheelchair"));
        assert_eq!(v["extension"].as_array().map(Vec::len), Some(1));
        let v = new_patients("newpt", None, Some("wheelchair"));
        assert_eq!(v["extension"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn geolocation_extension_comes_first() {
        let city = &crate::geography::CITIES[0];
        let v = address_with_geolocation("1 Main St", city, 1.0, 2.0);
        let keys: Vec<_> = v
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys.first().map(String::as_str), Some("extension"));
        assert_eq!(v["city"], city.name);
    }
}
