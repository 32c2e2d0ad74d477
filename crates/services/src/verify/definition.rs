//! The OperationDefinition of `$verify`, served at `[base]/OperationDefinition/verify` and
//! named in the CapabilityStatement of each verifiable type.

use serde_json::{json, Value};

/// The canonical URL of the definition.
pub const DEFINITION_URL: &str = "urn:fhirdir:OperationDefinition:verify";

/// The definition, as JSON.
#[must_use]
pub fn definition() -> Value {
    json!({
        "resourceType": "OperationDefinition",
        "id": "verify",
        "url": DEFINITION_URL,
        "name": "Verify",
        "title": "Primary-source verification of attested directory data",
        "status": "active",
        "kind": "operation",
        "code": "verify",
        "resource": super::VERIFIABLE,
        "system": false,
        "type": false,
        "instance": true,
        "affectsState": true,
        "description": "Checks the instance against the tenant's primary sources (remote \
            sources of kind primary-source serving its type): a Practitioner's licences \
            (qualification identifier, code, issuer and period, by the holder's family name) \
            or else its identifiers; an Organization's identifiers (and name) or else its \
            name; a Location's address (normalised: case, punctuation, USPS suffixes, 5-digit \
            ZIP); a HealthcareService's name and category. Writes the instance's \
            VerificationResult (NDH ndh-Verification: validated, val-fail with the reasons, or \
            in-process when a source could not be asked, retried later) and sets its NDH \
            verification-status extension (complete | incomplete) in the same transaction. \
            Needs update access to the instance and create/update access to \
            VerificationResult, and a client that sees all of the instance.",
        "parameter": [
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": "VerificationResult",
             "documentation": "the VerificationResult written"}
        ],
    })
}
