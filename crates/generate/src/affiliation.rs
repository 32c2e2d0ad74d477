//! OrganizationAffiliation resources (profile `plannet-OrganizationAffiliation`): each provider
//! organisation's participation in some of its payer's networks, with the sites and services
//! covered.
//! See <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/StructureDefinition-plannet-OrganizationAffiliation.html>.

use serde_json::{json, Map, Value};

use crate::fhir::{contact_point, meta, phone, plan_net_concept};
use crate::layout::{org_has_endpoint, org_kind, org_location_count, OrgKind};
use crate::organization::org_specialty;
use crate::rng::Purpose;
use crate::world::{id, World};

fn role(kind: OrgKind) -> (&'static str, &'static str) {
    match kind {
        OrgKind::Group => ("group", "Medical Group"),
        OrgKind::Hospital => ("hospital", "Hospital"),
        OrgKind::Clinic => ("outpatient", "Clinic or Outpatient Facility"),
        OrgKind::Pharmacy => ("pharmacy", "Pharmacy"),
        OrgKind::Lab => ("laboratory", "Laboratory"),
        OrgKind::UrgentCare => ("urgent", "Urgent Care Center"),
    }
}

/// The affiliation of provider organisation `o` with its payer's networks.
pub fn affiliation(world: &World, o: u64) -> Value {
    let kind = org_kind(o);
    let mut rng = world.rng(Purpose::Affiliation, o);
    let payer = world.org_payer(o);
    let (code, display) = role(kind);
    let start_year = 2015 + rng.below(10);
    let networks: Vec<Value> = world
        .org_networks(o)
        .into_iter()
        .map(|n| world.network_ref(n))
        .collect();
    let locations: Vec<Value> = (0..org_location_count(o))
        .map(|j| world.site_ref(o, j))
        .collect();

    let mut oa = Map::new();
    oa.insert("resourceType".into(), json!("OrganizationAffiliation"));
    oa.insert("id".into(), json!(id::affiliation(o)));
    oa.insert("meta".into(), meta("plannet-OrganizationAffiliation"));
    oa.insert(
        "identifier".into(),
        json!([{
            "use": "secondary",
            "system": "https://example.org/fhirdir/contracts",
            "value": format!("CTR-{:06}-{:06}", payer + 1, o + 1),
            "assigner": world.payer_ref(payer),
        }]),
    );
    oa.insert("active".into(), json!(true));
    oa.insert(
        "period".into(),
        json!({ "start": format!("{start_year}-01-01"), "end": "2027-12-31" }),
    );
    oa.insert("organization".into(), world.payer_ref(payer));
    oa.insert("participatingOrganization".into(), world.org_ref(o));
    oa.insert("network".into(), Value::Array(networks));
    oa.insert(
        "code".into(),
        json!([plan_net_concept(
            "OrganizationAffiliationRoleCS",
            code,
            display
        )]),
    );
    oa.insert("specialty".into(), json!([org_specialty(o)]));
    oa.insert("location".into(), Value::Array(locations));
    oa.insert(
        "healthcareService".into(),
        json!([crate::service::service_ref(world, o)]),
    );
    oa.insert(
        "telecom".into(),
        json!([contact_point("phone", &phone(&mut rng, world.org_city(o)))]),
    );
    if org_has_endpoint(o) {
        oa.insert(
            "endpoint".into(),
            json!([crate::endpoint::org_endpoint_ref(world, o)]),
        );
    }
    Value::Object(oa)
}
