//! Organization resources: payers and provider organisations (profile `plannet-Organization`) and
//! networks (profile `plannet-Network`).
//! See <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/StructureDefinition-plannet-Organization.html>.

use serde_json::{json, Value};

use crate::fhir::{
    address, address_with_geolocation, coding, concept, contact_point, contact_point_weekdays,
    meta, phone, plan_net_concept, reference, slug, PLAN_NET_SD, USPS, V2_0203,
};
use crate::geography::{state_name, City};
use crate::layout::{org_kind, org_parent, OrgKind};
use crate::npi::NPI_SYSTEM;
use crate::rng::Purpose;
use crate::taxonomy::{
    CLINICAL_LAB, GENERAL_ACUTE_HOSPITAL, MULTI_SPECIALTY_GROUP, NUCC_SYSTEM, PRIMARY_CARE_CLINIC,
    RETAIL_PHARMACY, SINGLE_SPECIALTY_GROUP, URGENT_CARE_CLINIC,
};
use crate::world::{id, World};

fn org_type(code: &str) -> Value {
    let display = match code {
        "fac" => "Facility",
        "prvgrp" => "Provider Group",
        "payer" => "Payer",
        _ => "Network",
    };
    plan_net_concept("OrgTypeCS", code, display)
}

fn npi_identifier(npi: &str) -> Value {
    json!({
        "use": "official",
        "type": concept(V2_0203, "NPI", "National provider identifier"),
        "system": NPI_SYSTEM,
        "value": npi,
    })
}

/// Whose administrative contact: payers, networks and provider organisations are numbered
/// separately, so each gets its own slot in the contact stream.
#[derive(Clone, Copy)]
enum ContactOf {
    Payer(u64),
    Network(u64),
    Provider(u64),
}

/// The administrative contact of an organisation, at its address.
fn admin_contact(world: &World, of: ContactOf, line: &str, city: &City) -> Value {
    let slot = match of {
        ContactOf::Payer(p) => 3 * p,
        ContactOf::Network(n) => 3 * n + 1,
        ContactOf::Provider(o) => 3 * o + 2,
    };
    let mut rng = world.rng(Purpose::Contact, slot);
    let female = rng.percent(50);
    let given = if female {
        *rng.pick(crate::names::FEMALE_GIVEN)
    } else {
        *rng.pick(crate::names::MALE_GIVEN)
    };
    let family = *rng.pick(crate::names::FAMILY);
    json!({
        "purpose": concept("http://terminology.hl7.org/CodeSystem/contactentity-type", "ADMIN", "Administrative"),
        "name": { "use": "official", "text": format!("{given} {family}"), "family": family, "given": [given] },
        "telecom": [contact_point_weekdays("phone", &phone(&mut rng, city), "08:00:00", "17:00:00")],
        "address": address(line, city),
    })
}

/// Payer `p`: an insurer (OrgTypeCS `payer`).
pub fn payer(world: &World, p: u64) -> Value {
    let mut rng = world.rng(Purpose::Payer, p);
    let city = world.payer_city(p);
    let name = world.payer_name(p);
    let line = crate::fhir::street_line(&mut rng);
    let (lat, lon) = crate::geography::jitter(&mut rng, city.lat, city.lon);
    json!({
        "resourceType": "Organization",
        "id": id::payer(p),
        "meta": meta("plannet-Organization"),
        "extension": [{
            "url": format!("{PLAN_NET_SD}org-description"),
            "valueString": format!("Health insurer serving members in {}", state_name(city.state)),
        }],
        "identifier": [npi_identifier(&world.payer_npi(p))],
        "active": true,
        "type": [org_type("payer")],
        "name": name,
        "telecom": [
            contact_point_weekdays("phone", &phone(&mut rng, city), "08:00:00", "20:00:00"),
            contact_point("url", &format!("https://www.{}.example.com", slug(&name))),
        ],
        "address": [address_with_geolocation(&line, city, lat, lon)],
        "contact": [admin_contact(world, ContactOf::Payer(p), &line, city)],
    })
}

/// Network `n`: a provider network of payer `n / 4` (profile `plannet-Network`; `partOf` the
/// payer is mandatory there, and `telecom` is prohibited).
pub fn network(world: &World, n: u64) -> Value {
    let p = World::network_payer(n);
    let city = world.payer_city(p);
    let mut rng = world.rng(Purpose::Network, n);
    let line = crate::fhir::street_line(&mut rng);
    json!({
        "resourceType": "Organization",
        "id": id::network(n),
        "meta": meta("plannet-Network"),
        "identifier": [{
            "use": "official",
            "system": format!("https://www.{}.example.com/networks", slug(&world.payer_name(p))),
            "value": format!("NET-{:06}", n + 1),
            "assigner": world.payer_ref(p),
        }],
        "active": true,
        "type": [org_type("ntwk")],
        "name": world.network_name(n),
        "address": [address(&line, city)],
        "partOf": world.payer_ref(p),
        "contact": [admin_contact(world, ContactOf::Network(n), &line, city)],
    })
}

fn org_taxonomy(kind: OrgKind, o: u64) -> (&'static str, &'static str) {
    match kind {
        OrgKind::Group if o.is_multiple_of(2) => MULTI_SPECIALTY_GROUP,
        OrgKind::Group => SINGLE_SPECIALTY_GROUP,
        OrgKind::Hospital => GENERAL_ACUTE_HOSPITAL,
        OrgKind::Clinic => PRIMARY_CARE_CLINIC,
        OrgKind::Pharmacy => RETAIL_PHARMACY,
        OrgKind::Lab => CLINICAL_LAB,
        OrgKind::UrgentCare => URGENT_CARE_CLINIC,
    }
}

/// A short form of an organisation name, as directories list it: "Boston Cardiology Group" ->
/// "BCG", "Corner Drug #123" -> "CD #123".
fn alias(name: &str) -> String {
    let initials: String = name
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .filter(char::is_ascii_alphabetic)
        .collect();
    match name.split_once('#') {
        Some((_, number)) => format!("{initials} #{number}"),
        None => initials,
    }
}

/// The NUCC taxonomy of organisation `o` (used by its services and affiliations too).
pub fn org_specialty(o: u64) -> Value {
    let (code, display) = org_taxonomy(org_kind(o), o);
    concept(NUCC_SYSTEM, code, display)
}

/// Provider organisation `o`: a group (`prvgrp`) or a facility (`fac`).
pub fn provider(world: &World, o: u64) -> Value {
    let mut rng = world.rng(Purpose::ProviderOrg, o);
    let kind = org_kind(o);
    let name = world.org_name(o);
    let site = world.site(o, 0);
    let city = site.city;
    let (tax_code, tax_display) = org_taxonomy(kind, o);
    let year = 1960 + rng.below(60);
    let mut org = json!({
        "resourceType": "Organization",
        "id": id::org(o),
        "meta": meta("plannet-Organization"),
        "extension": [
            {
                "url": format!("{PLAN_NET_SD}org-description"),
                "valueString": format!("{tax_display} serving {} and surrounding communities since {year}", city.name),
            },
            {
                "url": "http://hl7.org/fhir/StructureDefinition/organization-period",
                "valuePeriod": { "start": format!("{year}-01-01") },
            },
            {
                "url": format!("{PLAN_NET_SD}qualification"),
                "extension": [
                    { "url": "code", "valueCodeableConcept": concept(NUCC_SYSTEM, tax_code, tax_display) },
                    { "url": "issuer", "valueReference": { "display": format!("{} Department of Health", state_name(city.state)) } },
                    { "url": "status", "valueCode": "active" },
                    { "url": "period", "valuePeriod": { "start": format!("{year}-01-01") } },
                    { "url": "whereValid", "valueCodeableConcept": { "coding": [coding(USPS, city.state, state_name(city.state))] } },
                ],
            },
        ],
        "identifier": [npi_identifier(&world.org_npi(o))],
        "active": true,
        "type": [org_type(if kind == OrgKind::Group { "prvgrp" } else { "fac" })],
        "name": name,
        "alias": [alias(&name)],
        "telecom": [
            contact_point_weekdays("phone", &crate::fhir::phone(&mut rng, city), "08:00:00", "17:00:00"),
            contact_point("fax", &crate::fhir::phone(&mut rng, city)),
            contact_point("url", &format!("https://www.{}.example.org", slug(&name))),
        ],
        "address": [address_with_geolocation(&site.line, city, site.lat, site.lon)],
        "contact": [admin_contact(world, ContactOf::Provider(o), &site.line, city)],
    });
    if let (Some(parent), Value::Object(map)) = (org_parent(o), &mut org) {
        map.insert(
            "partOf".into(),
            reference("Organization", &id::org(parent), &world.org_name(parent)),
        );
    }
    org
}

#[cfg(test)]
mod tests {
    use super::alias;

    #[test]
    fn alias_is_initials_plus_store_number() {
        assert_eq!(alias("Boston Cardiology Group"), "BCG");
        assert_eq!(alias("Corner Drug #123"), "CD #123");
        assert_eq!(alias("Smith Women's Health"), "SWH");
    }
}
