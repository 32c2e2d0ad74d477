//! PractitionerRole resources (profile `plannet-PractitionerRole`): a practitioner's specialty at
//! one site of an organisation, in one network, with new-patient status and hours.
//! See <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/StructureDefinition-plannet-PractitionerRole.html>.

use serde_json::{json, Map, Value};

use crate::fhir::{
    accepting_patients_code, available_time, coding, concept, contact_point, contact_point_hours,
    meta, new_patients, phone, plan_net_concept, reference, PLAN_NET_SD, USPS, V2_0203,
};
use crate::geography::state_name;
use crate::layout::{org_has_endpoint, role_start};
use crate::rng::Purpose;
use crate::taxonomy::{role_display, NUCC_SYSTEM};
use crate::world::{id, World};

const SCHEDULES: [(&[&str], &str, &str); 4] = [
    (&["mon", "tue", "wed", "thu", "fri"], "08:00:00", "17:00:00"),
    (&["mon", "tue", "wed", "thu"], "09:00:00", "18:00:00"),
    (&["mon", "wed", "fri"], "08:30:00", "16:30:00"),
    (&["tue", "thu", "sat"], "07:00:00", "15:00:00"),
];

/// Role `k` (0 or 1) of practitioner `p`.
pub fn role(world: &World, p: u64, k: u64) -> Value {
    let r = role_start(p) + k;
    let person = world.person(p);
    let spec = person.specialty;
    let o = world.role_org(p, k, spec);
    let j = world.role_site(p, k, o);
    let site = world.site(o, j);
    let mut rng = world.rng(Purpose::RoleDetail, r);

    let networks = world.org_networks(o);
    let network = networks[rng.index(networks.len())];
    let accepting = accepting_patients_code(&mut rng);
    // Some practices take new patients only through one network.
    let from_network =
        (accepting == "newpt" && rng.percent(25)).then(|| world.network_ref(network));
    let (days, start, end) = SCHEDULES[rng.index(SCHEDULES.len())];
    let start_year = 2010 + rng.below(16);
    let org_name = world.org_name(o);

    let mut pr = Map::new();
    pr.insert("resourceType".into(), json!("PractitionerRole"));
    pr.insert("id".into(), json!(id::role(r)));
    pr.insert("meta".into(), meta("plannet-PractitionerRole"));
    let mut extension = vec![
        new_patients(
            accepting,
            from_network,
            Some("Accepts walk-in appointments"),
        ),
        json!({
            "url": format!("{PLAN_NET_SD}network-reference"),
            "valueReference": world.network_ref(network),
        }),
    ];
    // Most physicians are board certified in their specialty.
    if spec.role == "ph" && rng.percent(75) {
        let state = site.city.state;
        extension.push(json!({
            "url": format!("{PLAN_NET_SD}qualification"),
            "extension": [
                { "url": "code", "valueCodeableConcept": concept(NUCC_SYSTEM, spec.code, spec.display) },
                { "url": "issuer", "valueReference": { "display": "American Board of Medical Specialties" } },
                { "url": "status", "valueCode": "active" },
                { "url": "period", "valuePeriod": { "start": format!("{}-01-01", start_year - 2), "end": "2029-12-31" } },
                { "url": "whereValid", "valueCodeableConcept": { "coding": [coding(USPS, state, state_name(state))] } },
            ],
        }));
    }
    pr.insert("extension".into(), Value::Array(extension));
    pr.insert(
        "identifier".into(),
        json!([{
            "use": "secondary",
            "type": concept(V2_0203, "PRN", "Provider number"),
            "system": format!("https://www.{}.example.org/providers", crate::fhir::slug(&org_name)),
            "value": format!("PR-{:07}", r + 1),
        }]),
    );
    pr.insert("active".into(), json!(true));
    pr.insert(
        "period".into(),
        json!({ "start": format!("{start_year}-07-01") }),
    );
    pr.insert(
        "practitioner".into(),
        reference("Practitioner", &id::practitioner(p), &person.display()),
    );
    pr.insert("organization".into(), world.org_ref(o));
    pr.insert(
        "code".into(),
        json!([plan_net_concept(
            "ProviderRoleCS",
            spec.role,
            role_display(spec.role)
        )]),
    );
    pr.insert(
        "specialty".into(),
        json!([concept(NUCC_SYSTEM, spec.code, spec.display)]),
    );
    pr.insert("location".into(), json!([world.site_ref(o, j)]));
    pr.insert(
        "healthcareService".into(),
        json!([crate::service::service_ref(world, o)]),
    );
    pr.insert(
        "telecom".into(),
        json!([
            contact_point_hours("phone", &phone(&mut rng, site.city), days, start, end),
            contact_point("fax", &phone(&mut rng, site.city)),
        ]),
    );
    pr.insert(
        "availableTime".into(),
        json!([available_time(days, start, end)]),
    );
    if rng.percent(10) {
        pr.insert(
            "notAvailable".into(),
            json!([{
                "description": "On leave",
                "during": { "start": "2026-12-20", "end": "2027-01-05" },
            }]),
        );
    }
    if org_has_endpoint(o) {
        pr.insert(
            "endpoint".into(),
            json!([crate::endpoint::org_endpoint_ref(world, o)]),
        );
    }
    Value::Object(pr)
}
