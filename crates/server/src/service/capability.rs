//! The CapabilityStatement (<https://hl7.org/fhir/R4/capabilitystatement.html>) served at
//! `[base]/metadata`. It lists only what works: when search, batch or patch land, they add
//! themselves here.

use serde_json::{json, Value};

/// Builds the CapabilityStatement of one tenant base.
/// `date` is when this server started (the statement changes only with the binary).
pub fn capability_statement(tenant_base: &str, date: &str) -> Value {
    let interactions = json!([
        {"code": "read"}, {"code": "vread"}, {"code": "update"}, {"code": "patch"}, {"code": "delete"},
        {"code": "history-instance"}, {"code": "history-type"}, {"code": "create"}
    ]);
    let resources: Vec<Value> = fhir::RESOURCE_TYPES
        .iter()
        .map(|t| {
            json!({
                "type": t,
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": false,
                "conditionalRead": "modified-since",
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "fhirdir",
        "kind": "instance",
        "software": {"name": "fhirdir", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "fhirdir FHIR R4 provider directory", "url": tenant_base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "history-system"}, {"code": "transaction"}, {"code": "batch"}],
        }],
    })
}
