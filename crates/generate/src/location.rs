//! Location resources (profile `plannet-Location`): payers' state-wide service areas (the targets
//! of `coverageArea`) and provider sites with a real city/ZIP, jittered coordinates, opening hours
//! and accessibility.
//! See <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/StructureDefinition-plannet-Location.html>.

use serde_json::{json, Map, Value};

use crate::fhir::{
    accepting_patients_code, accessibility, address, concept, contact_point_weekdays, meta,
    new_patients, phone, slug, ALL_DAYS, WEEKDAYS,
};
use crate::geography::state_name;
use crate::layout::{org_has_endpoint, org_kind, org_location_start, OrgKind};
use crate::rng::Purpose;
use crate::world::{id, World};

const ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
const PHYSICAL_TYPE: &str = "http://terminology.hl7.org/CodeSystem/location-physical-type";
const ACCESSIBILITY: [&str; 7] = [
    "handiaccess",
    "adacomp",
    "pubtrans",
    "cultcomp",
    "anssrvc",
    "cognitive",
    "mobility",
];

/// The service area of payer `p`: the state of its headquarters.
pub fn area(world: &World, p: u64) -> Value {
    let city = world.payer_city(p);
    let state = state_name(city.state);
    json!({
        "resourceType": "Location",
        "id": id::area(p),
        "meta": meta("plannet-Location"),
        "status": "active",
        "name": format!("State of {state} service area"),
        "description": format!("Service area of {}", world.payer_name(p)),
        "physicalType": concept(PHYSICAL_TYPE, "area", "Area"),
        "address": { "state": city.state, "country": "US" },
        "position": { "longitude": city.lon, "latitude": city.lat },
        "managingOrganization": world.payer_ref(p),
    })
}

fn site_type(kind: OrgKind) -> Value {
    let (code, display) = match kind {
        OrgKind::Group => ("PROFF", "Provider's Office"),
        OrgKind::Hospital => ("HOSP", "Hospital"),
        OrgKind::Clinic => ("PC", "Primary care clinic"),
        OrgKind::Pharmacy => ("OUTPHARM", "outpatient pharmacy"),
        OrgKind::Lab => ("MBL", "medical laboratory"),
        OrgKind::UrgentCare => ("OF", "Outpatient facility"),
    };
    concept(ROLE_CODE, code, display)
}

fn hours(kind: OrgKind) -> (Value, &'static str) {
    match kind {
        OrgKind::Hospital => (
            json!([{ "daysOfWeek": ALL_DAYS, "allDay": true }]),
            "Emergency department open around the clock; visiting hours 8:00 am - 8:00 pm",
        ),
        OrgKind::Pharmacy => (
            json!([
                { "daysOfWeek": ["mon", "tue", "wed", "thu", "fri", "sat"], "openingTime": "08:00:00", "closingTime": "21:00:00" },
                { "daysOfWeek": ["sun"], "openingTime": "10:00:00", "closingTime": "18:00:00" },
            ]),
            "Pharmacy counter closes 30 minutes before the store",
        ),
        OrgKind::UrgentCare => (
            json!([{ "daysOfWeek": ALL_DAYS, "openingTime": "08:00:00", "closingTime": "20:00:00" }]),
            "Walk-ins welcome; closed Thanksgiving and Christmas Day",
        ),
        OrgKind::Group | OrgKind::Clinic | OrgKind::Lab => (
            json!([{ "daysOfWeek": WEEKDAYS, "openingTime": "08:00:00", "closingTime": "17:00:00" }]),
            "Closed on federal holidays",
        ),
    }
}

/// Site `j` of provider organisation `o`.
pub fn site(world: &World, o: u64, j: u64) -> Value {
    let l = org_location_start(o) + j;
    let kind = org_kind(o);
    let mut rng = world.rng(Purpose::SiteDetail, l);
    let site = world.site(o, j);
    let org_name = world.org_name(o);

    let mut extension = Vec::new();
    // One to three accessibility features at most sites.
    if rng.percent(80) {
        let first = rng.index(ACCESSIBILITY.len());
        for k in 0..=rng.below(3) as usize {
            extension.push(accessibility(
                ACCESSIBILITY[(first + k) % ACCESSIBILITY.len()],
            ));
        }
    }
    if matches!(kind, OrgKind::Group | OrgKind::Clinic) {
        extension.push(new_patients(accepting_patients_code(&mut rng), None, None));
    }
    let (hours_of_operation, exceptions) = hours(kind);

    let mut loc = Map::new();
    loc.insert("resourceType".into(), json!("Location"));
    loc.insert("id".into(), json!(id::site(l)));
    loc.insert("meta".into(), meta("plannet-Location"));
    if !extension.is_empty() {
        loc.insert("extension".into(), Value::Array(extension));
    }
    loc.insert(
        "identifier".into(),
        json!([{
            "use": "secondary",
            "system": format!("https://www.{}.example.org/locations", slug(&org_name)),
            "value": format!("SITE-{}", j + 1),
            "assigner": world.org_ref(o),
        }]),
    );
    loc.insert("status".into(), json!("active"));
    loc.insert("name".into(), json!(world.site_name(o, j)));
    loc.insert(
        "alias".into(),
        json!([format!("{} {} {}", org_name, site.city.name, j + 1)]),
    );
    loc.insert(
        "description".into(),
        json!(format!("{} location of {org_name}", site.city.name)),
    );
    loc.insert("type".into(), json!([site_type(kind)]));
    loc.insert(
        "telecom".into(),
        json!([contact_point_weekdays(
            "phone",
            &phone(&mut rng, site.city),
            "08:00:00",
            "17:00:00"
        )]),
    );
    loc.insert("address".into(), address(&site.line, site.city));
    loc.insert(
        "physicalType".into(),
        concept(PHYSICAL_TYPE, "bu", "Building"),
    );
    loc.insert(
        "position".into(),
        json!({ "longitude": site.lon, "latitude": site.lat }),
    );
    loc.insert("managingOrganization".into(), world.org_ref(o));
    // A hospital's secondary campuses are part of its main campus.
    if kind == OrgKind::Hospital && j > 0 {
        loc.insert("partOf".into(), world.site_ref(o, 0));
    }
    loc.insert("hoursOfOperation".into(), hours_of_operation);
    loc.insert("availabilityExceptions".into(), json!(exceptions));
    if org_has_endpoint(o) {
        loc.insert(
            "endpoint".into(),
            json!([crate::endpoint::org_endpoint_ref(world, o)]),
        );
    }
    Value::Object(loc)
}
