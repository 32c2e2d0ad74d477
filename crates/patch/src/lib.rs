//! FHIR PATCH (<https://hl7.org/fhir/R4/http.html#patch>) as pure library code: the two
//! patch formats fhirdir accepts, applied to a resource held as `serde_json::Value`.
//!
//! - [`apply_json_patch`]: JSON Patch (RFC 6902), `application/json-patch+json`.
//! - [`apply_fhirpath_patch`]: FHIRPath Patch (<https://hl7.org/fhir/R4/fhirpatch.html>), a
//!   `Parameters` resource.
//! - [`check_patched`]: whether the result may be stored (same type and id, structurally
//!   valid per the R4 element model).
//!
//! Both appliers are atomic (the resource is untouched unless every operation succeeds) and
//! report the failing operation's index. The HTTP layer answers 422 with an
//! OperationOutcome built from [`PatchError`]'s `Display` (see [`error`] for the table).
//!
//! ```
//! use serde_json::json;
//! let mut p = json!({"resourceType": "Practitioner", "id": "a", "active": true});
//! let before = p.clone();
//! patch::apply_json_patch(&mut p, &json!([{"op": "replace", "path": "/active", "value": false}])).unwrap();
//! patch::apply_fhirpath_patch(&mut p, &json!({"resourceType": "Parameters", "parameter": [{
//!     "name": "operation", "part": [
//!         {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Practitioner"},
//!         {"name": "name", "valueString": "gender"}, {"name": "value", "valueCode": "female"}]}]})).unwrap();
//! assert_eq!(p, json!({"resourceType": "Practitioner", "id": "a", "active": false, "gender": "female"}));
//! patch::check_patched(&before, &p, conformance::ElementModel::r4()).unwrap();
//! ```

mod check;
pub mod error;
mod fhirpath_patch;
mod json_patch;
mod pointer;

pub use check::check_patched;
pub use error::{OpFailure, PatchError};
pub use fhirpath_patch::apply_fhirpath_patch;
pub use json_patch::apply_json_patch;
