//! InsurancePlan resources (profile `plannet-InsurancePlan`): the products each payer sells, each
//! backed by one of the payer's networks and offered in a few metal-level plans.
//! See <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/StructureDefinition-plannet-InsurancePlan.html>.

use serde_json::{json, Value};

use crate::fhir::{contact_point, meta, phone, plan_net_concept, reference, slug, V2_0203};
use crate::layout::{NETWORKS_PER_PAYER, PLANS_PER_PAYER};
use crate::names::NETWORK_STYLES;
use crate::rng::Purpose;
use crate::world::{id, World};

/// (code, display) of a Plan-Net CodeSystem concept.
type Code = (&'static str, &'static str);
/// Product type code, display, backing network style, plan tiers.
type Product = (&'static str, &'static str, u64, &'static [Code]);

/// Per product slot: (InsuranceProductTypeCS code, display, index of the backing network style,
/// plan tiers as InsurancePlanTypeCS codes). Tiers are distinct within a product
/// (invariant `plan-type-is-distinct`).
const PRODUCTS: [Product; PLANS_PER_PAYER as usize] = [
    (
        "commppo",
        "Commercial PPO",
        0,
        &[
            ("gold", "Gold-QHP"),
            ("silver", "Silver-QHP"),
            ("bronze", "Bronze-QHP"),
        ],
    ),
    (
        "commhmo",
        "Commercial HMO",
        1,
        &[
            ("platinum", "Platinum-QHP"),
            ("gold", "Gold-QHP"),
            ("silver", "Silver-QHP"),
        ],
    ),
    (
        "commepo",
        "Commercial EPO",
        2,
        &[("silver", "Silver-QHP"), ("bronze", "Bronze-QHP")],
    ),
    (
        "mediadv",
        "Medicare Advantage",
        3,
        &[("lowdeductible", "Low Deductible")],
    ),
    (
        "medihmo",
        "Medicaid HMO",
        1,
        &[("catastrophic", "Catastrophic-QHP")],
    ),
    (
        "commhdhp",
        "Commercial HDHP",
        0,
        &[
            ("highdeductible", "High Deductible"),
            ("bronze", "Bronze-QHP"),
        ],
    ),
];

/// "Acme Health of Ohio" -> "AHO": the short form payers use in plan aliases.
fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|word| word.chars().next())
        .filter(char::is_ascii_uppercase)
        .collect()
}

/// Insurance product `q` (product `q % 6` of payer `q / 6`).
pub fn insurance_plan(world: &World, q: u64) -> Value {
    let p = q / PLANS_PER_PAYER;
    let (code, display, style, tiers) = PRODUCTS[(q % PLANS_PER_PAYER) as usize];
    let network = p * NETWORKS_PER_PAYER + style;
    let payer_name = world.payer_name(p);
    let mut rng = world.rng(Purpose::InsurancePlan, q);
    let year = 2025 + rng.below(2);
    let area = reference(
        "Location",
        &id::area(p),
        &format!("Service area of {payer_name}"),
    );
    let plans: Vec<Value> = tiers
        .iter()
        .map(|(tier, tier_display)| {
            json!({
                "identifier": [{ "value": format!("{}-{}-{tier}", id::plan(q), year) }],
                "type": plan_net_concept("InsurancePlanTypeCS", tier, tier_display),
                "coverageArea": [area],
                "network": [world.network_ref(network)],
            })
        })
        .collect();
    let name = format!("{payer_name} {display}");
    json!({
        "resourceType": "InsurancePlan",
        "id": id::plan(q),
        "meta": meta("plannet-InsurancePlan"),
        "identifier": [{
            "use": "official",
            "type": { "coding": [{ "system": V2_0203, "code": "NIIP", "display": "National Insurance Payor Identifier (Payor)" }], "text": "HIOS product ID" },
            "system": "http://www.cms.gov/CCIIO",
            "value": format!("{:05}{}{:03}", 10_000 + p % 90_000, world.payer_city(p).state, q % 1000),
            "assigner": world.payer_ref(p),
        }],
        "status": "active",
        "type": [plan_net_concept("InsuranceProductTypeCS", code, display)],
        "name": name,
        "alias": [format!("{} {} {}", initials(&payer_name), world.payer_city(p).state, NETWORK_STYLES[style as usize].1)],
        "period": { "start": format!("{year}-01-01"), "end": format!("{year}-12-31") },
        "ownedBy": world.payer_ref(p),
        "administeredBy": world.payer_ref(p),
        "coverageArea": [area],
        "contact": [{
            "name": { "text": "Member Services" },
            "telecom": [
                contact_point("phone", &phone(&mut rng, world.payer_city(p))),
                contact_point("url", &format!("https://www.{}.example.com/plans/{}", slug(&payer_name), code)),
            ],
        }],
        "endpoint": [crate::endpoint::payer_endpoint_ref(world, p)],
        "network": [world.network_ref(network)],
        "plan": plans,
    })
}
