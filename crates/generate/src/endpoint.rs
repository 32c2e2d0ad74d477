//! Endpoint resources (profile `plannet-Endpoint`): each payer's FHIR directory API, hospitals'
//! FHIR APIs and groups' Direct secure-messaging addresses.
//! See <https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.2/StructureDefinition-plannet-Endpoint.html>.

use serde_json::{json, Value};

use crate::fhir::{coding, concept, contact_point, meta, phone, slug, PLAN_NET_CS, PLAN_NET_SD};
use crate::layout::{org_kind, OrgKind};
use crate::rng::Purpose;
use crate::world::{id, World};

const CONNECTION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type";
const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const DIRECT_STANDARD: &str =
    "http://wiki.directproject.org/File:2011-03-09_PDF_-_XDR_and_XDM_for_Direct_Messaging_Specification_FINAL.pdf";

fn usecase(code: &str, display: &str, standard: &str) -> Value {
    json!({
        "extension": [
            { "url": "type", "valueCodeableConcept": concept(ACT_REASON, code, display) },
            { "url": "standard", "valueUri": standard },
        ],
        "url": format!("{PLAN_NET_SD}endpoint-usecase"),
    })
}

/// The directory's own identifier for an endpoint.
fn identifier(id: &str) -> Value {
    json!({ "use": "secondary", "system": "https://example.org/fhirdir/endpoints", "value": id.to_ascii_uppercase() })
}

fn payload_not_applicable() -> Value {
    json!([{ "coding": [coding(&format!("{PLAN_NET_CS}EndpointPayloadTypeCS"), "NA", "Not Applicable")] }])
}

/// The FHIR provider-directory API of payer `p`.
pub fn payer_endpoint(world: &World, p: u64) -> Value {
    let mut rng = world.rng(Purpose::PayerEndpoint, p);
    let name = world.payer_name(p);
    json!({
        "resourceType": "Endpoint",
        "id": id::payer_endpoint(p),
        "meta": meta("plannet-Endpoint"),
        "extension": [usecase("HOPERAT", "healthcare operations", "http://hl7.org/fhir/us/davinci-pdex-plan-net/")],
        "identifier": [identifier(&id::payer_endpoint(p))],
        "status": "active",
        "connectionType": coding(CONNECTION_TYPE, "hl7-fhir-rest", "HL7 FHIR"),
        "name": format!("{name} Provider Directory API"),
        "managingOrganization": world.payer_ref(p),
        "contact": [
            contact_point("phone", &phone(&mut rng, world.payer_city(p))),
            contact_point("email", &format!("directory-support@{}.example.com", slug(&name))),
        ],
        "payloadType": payload_not_applicable(),
        "payloadMimeType": ["application/fhir+json"],
        "address": format!("https://fhir.{}.example.com/plan-net/R4", slug(&name)),
    })
}

/// The endpoint of provider organisation `o` (only for those with
/// [`crate::layout::org_has_endpoint`]).
pub fn org_endpoint(world: &World, o: u64) -> Value {
    let mut rng = world.rng(Purpose::OrgEndpoint, o);
    let name = world.org_name(o);
    let host = slug(&name);
    let (ext, connection, mime, address) = if org_kind(o) == OrgKind::Hospital {
        (
            usecase("TREAT", "treatment", "http://hl7.org/fhir/R4/http.html"),
            coding(CONNECTION_TYPE, "hl7-fhir-rest", "HL7 FHIR"),
            "application/fhir+json",
            format!("https://fhir.{host}.example.org/r4"),
        )
    } else {
        (
            usecase("TREAT", "treatment", DIRECT_STANDARD),
            coding(CONNECTION_TYPE, "direct-project", "Direct Project"),
            "application/pdf",
            format!("mailto:referrals@direct.{host}.example.org"),
        )
    };
    json!({
        "resourceType": "Endpoint",
        "id": id::org_endpoint(o),
        "meta": meta("plannet-Endpoint"),
        "extension": [ext],
        "identifier": [identifier(&id::org_endpoint(o))],
        "status": "active",
        "connectionType": connection,
        "name": format!("{name} {}", org_endpoint_label(o)),
        "managingOrganization": world.org_ref(o),
        "contact": [contact_point("phone", &phone(&mut rng, world.org_city(o)))],
        "payloadType": payload_not_applicable(),
        "payloadMimeType": [mime],
        "address": address,
    })
}

fn org_endpoint_label(o: u64) -> &'static str {
    if org_kind(o) == OrgKind::Hospital {
        "FHIR API"
    } else {
        "Direct Address"
    }
}

/// Reference to the endpoint of provider organisation `o`, with the endpoint's name as display.
pub fn org_endpoint_ref(world: &World, o: u64) -> Value {
    crate::fhir::reference(
        "Endpoint",
        &id::org_endpoint(o),
        &format!("{} {}", world.org_name(o), org_endpoint_label(o)),
    )
}

/// Reference to the directory API of payer `p`.
pub fn payer_endpoint_ref(world: &World, p: u64) -> Value {
    crate::fhir::reference(
        "Endpoint",
        &id::payer_endpoint(p),
        &format!("{} Provider Directory API", world.payer_name(p)),
    )
}
