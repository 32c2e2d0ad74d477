//! Practitioner resources (profile `plannet-Practitioner`): NPI, name, gender, languages with
//! proficiency, and qualifications (degree, NUCC specialty, state licence) carrying the Plan-Net
//! `practitioner-qualification` extension.
//! See <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/StructureDefinition-plannet-Practitioner.html>.

use serde_json::{json, Value};

use crate::fhir::{
    address_with_geolocation, coding, concept, contact_point, meta, phone, plan_net_concept,
    PLAN_NET_SD, USPS, V2_0203,
};
use crate::geography::state_name;
use crate::names::LANGUAGES;
use crate::npi::NPI_SYSTEM;
use crate::rng::Purpose;
use crate::taxonomy::{v2_0360_display, NUCC_SYSTEM};
use crate::world::{id, World};

const BCP47: &str = "urn:ietf:bcp:47";
const V2_0360: &str = "http://terminology.hl7.org/CodeSystem/v2-0360";

fn proficiency(code: &str) -> Value {
    let display = match code {
        "50" => "Functional native proficiency",
        "40" => "Advanced professional proficiency",
        "30" => "General professional proficiency",
        _ => "Limited working proficiency",
    };
    json!([{
        "url": format!("{PLAN_NET_SD}communication-proficiency"),
        "valueCodeableConcept": plan_net_concept("LanguageProficiencyCS", code, display),
    }])
}

fn qualification_extension(state: &str) -> Value {
    json!([{
        "extension": [
            { "url": "status", "valueCode": "active" },
            { "url": "whereValid", "valueCodeableConcept": {
                "coding": [coding(USPS, state, state_name(state))],
                "text": state_name(state),
            } },
        ],
        "url": format!("{PLAN_NET_SD}practitioner-qualification"),
    }])
}

/// Practitioner `p`.
pub fn practitioner(world: &World, p: u64) -> Value {
    let person = world.person(p);
    let spec = person.specialty;
    let mut rng = world.rng(Purpose::PractitionerDetail, p);
    // The practice address is the site of the first role, so `Practitioner.address` and the
    // role's location agree.
    let o = world.role_org(p, 0, spec);
    let site = world.site(o, world.role_site(p, 0, o));
    let state = site.city.state;
    let licensed = 1975 + rng.below(48);
    let board_cert = licensed + 3 + rng.below(3);

    let mut qualifications = Vec::new();
    if let Some(degree_display) = v2_0360_display(spec.degree) {
        qualifications.push(json!({
            "extension": qualification_extension(state),
            "code": concept(V2_0360, spec.degree, degree_display),
            "period": { "start": format!("{licensed}-06-01") },
            "issuer": { "display": format!("{} Board of Medicine", state_name(state)) },
        }));
    }
    qualifications.push(json!({
        "extension": qualification_extension(state),
        "identifier": [{
            "use": "official",
            "type": concept(V2_0203, "MD", "Medical License number"),
            "system": format!("https://licensing.example.gov/{}", state.to_ascii_lowercase()),
            "value": format!("{state}{:07}", rng.below(10_000_000)),
        }],
        "code": concept(NUCC_SYSTEM, spec.code, spec.display),
        "period": { "start": format!("{board_cert}-01-01"), "end": "2028-12-31" },
        "issuer": { "display": format!("{} Department of Health", state_name(state)) },
    }));

    let mut communication = vec![json!({
        "extension": proficiency("50"),
        "coding": [coding(BCP47, "en", "English")],
        "text": "English",
    })];
    // About three in ten practitioners list a second language.
    if rng.percent(30) {
        let (code, display) = *rng.pick(LANGUAGES);
        let level = *rng.pick(&["30", "40", "50", "20"]);
        communication.push(json!({
            "extension": proficiency(level),
            "coding": [coding(BCP47, code, display)],
            "text": display,
        }));
    }

    let name = person.display();
    let mut human_name = json!({
        "use": "official",
        "text": format!("{name}, {}", spec.degree),
        "family": person.family,
        "given": [person.given, format!("{}.", person.middle_initial)],
        "suffix": [spec.degree],
    });
    if matches!(spec.degree, "MD" | "DO") {
        human_name["prefix"] = json!(["Dr."]);
    }

    json!({
        "resourceType": "Practitioner",
        "id": id::practitioner(p),
        "meta": meta("plannet-Practitioner"),
        // In practice since licensing (Plan-Net 1.2.0 `practitioner-period`, searchable as `period`).
        "extension": [{
            "url": format!("{PLAN_NET_SD}practitioner-period"),
            "valuePeriod": { "start": format!("{licensed}-06-01") },
        }],
        "identifier": [{
            "use": "official",
            "type": concept(V2_0203, "NPI", "National provider identifier"),
            "system": NPI_SYSTEM,
            "value": world.practitioner_npi(p),
        }],
        "active": true,
        "name": [human_name],
        "telecom": [
            contact_point("phone", &phone(&mut rng, site.city)),
            contact_point("fax", &phone(&mut rng, site.city)),
        ],
        "address": [address_with_geolocation(&site.line, site.city, site.lat, site.lon)],
        "gender": if person.female { "female" } else { "male" },
        "qualification": qualifications,
        "communication": communication,
    })
}
