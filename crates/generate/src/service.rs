//! HealthcareService resources (profile `plannet-HealthcareService`): one per provider
//! organisation, describing what it offers, where, when, and how (in person and, for some groups,
//! virtually).
//! See <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/StructureDefinition-plannet-HealthcareService.html>.

use serde_json::{json, Map, Value};

use crate::fhir::{
    accepting_patients_code, available_time, contact_point, meta, new_patients, phone,
    plan_net_concept, reference, ALL_DAYS, PLAN_NET_SD, WEEKDAYS,
};
use crate::layout::{org_has_endpoint, org_kind, org_location_count, OrgKind};
use crate::organization::org_specialty;
use crate::rng::Purpose;
use crate::world::{id, World};

/// Plan-Net HealthcareServiceCategoryCS (code, display) for an organisation kind.
pub fn category(kind: OrgKind) -> (&'static str, &'static str) {
    match kind {
        OrgKind::Group => ("group", "Medical Group"),
        OrgKind::Hospital => ("hosp", "Hospital"),
        OrgKind::Clinic => ("outpat", "Clinic or Outpatient Facility"),
        OrgKind::Pharmacy => ("pharm", "Pharmacy"),
        OrgKind::Lab => ("lab", "Laboratory"),
        OrgKind::UrgentCare => ("urg", "Urgent Care"),
    }
}

const SERVICE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/service-type";

/// Service types (Plan-Net HealthcareServiceTypeVS, drawn from the core `service-type` codes) an
/// organisation kind offers.
fn service_types(kind: OrgKind) -> Value {
    let codes: &[(&str, &str)] = match kind {
        OrgKind::Group => &[
            ("554", "Chronic Disease Management"),
            ("76", "Health Counselling"),
        ],
        OrgKind::Hospital => &[("501", "Cancer Services"), ("51", "Blood Donation")],
        OrgKind::Clinic => &[
            ("554", "Chronic Disease Management"),
            ("559", "Women's Health"),
        ],
        OrgKind::Pharmacy => &[("537", "Medication Reviews")],
        OrgKind::Lab => &[("411", "Pregnancy Tests"), ("75", "Genetic Counselling")],
        OrgKind::UrgentCare => &[("309", "Crisis Assistance")],
    };
    Value::Array(
        codes
            .iter()
            .map(|(code, display)| crate::fhir::concept(SERVICE_TYPE, code, display))
            .collect(),
    )
}

fn delivery_method(virtual_care: bool) -> Value {
    let mut ext = vec![json!({
        "url": "type",
        "valueCodeableConcept": plan_net_concept(
            "DeliveryMethodCS",
            if virtual_care { "virtual" } else { "physical" },
            if virtual_care { "Virtual" } else { "Physical" },
        ),
    })];
    if virtual_care {
        for (code, display) in [("video", "video chat"), ("phone", "phone")] {
            ext.push(json!({
                "url": "virtualModalities",
                "valueCodeableConcept": plan_net_concept("VirtualModalitiesCS", code, display),
            }));
        }
    }
    json!({ "extension": ext, "url": format!("{PLAN_NET_SD}delivery-method") })
}

/// The HealthcareService of provider organisation `o`.
pub fn service(world: &World, o: u64) -> Value {
    let kind = org_kind(o);
    let mut rng = world.rng(Purpose::Service, o);
    let org_name = world.org_name(o);
    let city = world.org_city(o);
    let (cat_code, cat_display) = category(kind);
    let payer = world.org_payer(o);

    let mut extension = vec![
        new_patients(
            accepting_patients_code(&mut rng),
            None,
            Some("Same-week appointments for new patients"),
        ),
        delivery_method(false),
    ];
    // About a third of groups also see patients by telehealth.
    if kind == OrgKind::Group && rng.percent(35) {
        extension.push(delivery_method(true));
    }
    let locations: Vec<Value> = (0..org_location_count(o))
        .map(|j| world.site_ref(o, j))
        .collect();
    let available = match kind {
        OrgKind::Hospital => json!([{ "daysOfWeek": ALL_DAYS, "allDay": true }]),
        OrgKind::UrgentCare => json!([available_time(&ALL_DAYS, "08:00:00", "20:00:00")]),
        OrgKind::Pharmacy => json!([available_time(&ALL_DAYS, "09:00:00", "21:00:00")]),
        _ => json!([available_time(&WEEKDAYS, "08:00:00", "17:00:00")]),
    };

    let mut hs = Map::new();
    hs.insert("resourceType".into(), json!("HealthcareService"));
    hs.insert("id".into(), json!(id::service(o)));
    hs.insert("meta".into(), meta("plannet-HealthcareService"));
    hs.insert("extension".into(), Value::Array(extension));
    hs.insert(
        "identifier".into(),
        json!([{
            "use": "secondary",
            "type": crate::fhir::concept(crate::fhir::V2_0203, "RI", "Resource identifier"),
            "system": format!("https://www.{}.example.org/services", crate::fhir::slug(&org_name)),
            "value": format!("HS-{:06}", o + 1),
        }]),
    );
    hs.insert("active".into(), json!(true));
    hs.insert("providedBy".into(), world.org_ref(o));
    hs.insert(
        "category".into(),
        json!([plan_net_concept(
            "HealthcareServiceCategoryCS",
            cat_code,
            cat_display
        )]),
    );
    hs.insert("type".into(), service_types(kind));
    hs.insert("specialty".into(), json!([org_specialty(o)]));
    hs.insert("location".into(), Value::Array(locations));
    hs.insert(
        "name".into(),
        json!(format!("{org_name} {cat_display} services")),
    );
    hs.insert(
        "comment".into(),
        json!(format!(
            "{cat_display} services of {org_name} in {}",
            city.name
        )),
    );
    hs.insert(
        "telecom".into(),
        json!([
            contact_point("phone", &phone(&mut rng, city)),
            contact_point("fax", &phone(&mut rng, city)),
        ]),
    );
    hs.insert(
        "coverageArea".into(),
        json!([reference(
            "Location",
            &id::area(payer),
            &format!("Service area of {}", world.payer_name(payer))
        )]),
    );
    hs.insert(
        "appointmentRequired".into(),
        json!(matches!(kind, OrgKind::Group | OrgKind::Clinic)),
    );
    hs.insert("availableTime".into(), available);
    hs.insert(
        "notAvailable".into(),
        json!([{
            "description": "Closed for Thanksgiving",
            "during": { "start": "2026-11-26", "end": "2026-11-26" },
        }]),
    );
    hs.insert(
        "availabilityExceptions".into(),
        json!("Reduced hours on public holidays"),
    );
    if org_has_endpoint(o) {
        hs.insert(
            "endpoint".into(),
            json!([crate::endpoint::org_endpoint_ref(world, o)]),
        );
    }
    Value::Object(hs)
}

/// Reference to the HealthcareService of organisation `o`, with the service's name as display.
pub fn service_ref(world: &World, o: u64) -> Value {
    reference(
        "HealthcareService",
        &id::service(o),
        &format!("{} {} services", world.org_name(o), category(org_kind(o)).1),
    )
}
