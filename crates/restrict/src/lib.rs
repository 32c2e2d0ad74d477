//! Usage restrictions of directory content (NDH STU1): which parts of a resource are restricted,
//! and the one rule deciding who may see them.
//!
//! NDH marks restricted content with the `base-ext-usage-restriction` extension
//! (<http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-usage-restriction>; VHDir's
//! `usage-restriction` before it) referencing a Restriction: a FHIR R4 Consent
//! (<http://hl7.org/fhir/R4/consent.html>) with the `ndh-Restriction` profile, whose
//! `base-ext-restrictFhirPath` expressions may narrow it to some elements and whose `provision`s
//! say who may see them. The resource-level alternative is a `meta.security` confidentiality
//! label (<http://hl7.org/fhir/R4/security-labels.html>, v3 Confidentiality `R` and `V`).
//!
//! Three pure steps, no storage and no HTTP:
//! - [`extract`], when a resource is written: its policy as [`Restrictions`], kept with it;
//! - [`visibility`], when it is read or found: what a [`Viewer`] may see of it;
//! - [`redact`]: the resource without the [`ElementPath`]s the viewer may not see.
//!
//! Anything this crate cannot read (an unknown Restriction, an expression outside the supported
//! forms) restricts more, never less: the failure is content hidden, not content shown.

mod extract;
mod gate;
mod path;
mod policy;
mod redact;
mod visibility;

#[cfg(test)]
mod tests;

pub use extract::{extract, Settings};
pub use gate::{Access, Gate, ProvisionRow, Seer};
pub use path::{ElementPath, Step};
pub use policy::{Effect, ElementRules, Provision, Purpose, Restrictions, Rule};
pub use redact::redact;
pub use visibility::{visibility, Viewer, Visibility};

/// NDH STU1 extension marking restricted content (on the resource root or on an element).
pub const NDH_USAGE_RESTRICTION: &str =
    "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-usage-restriction";
/// VHDir's extension with the same meaning (VHDir STU1, NDH's predecessor).
pub const VHDIR_USAGE_RESTRICTION: &str =
    "http://hl7.org/fhir/uv/vhdir/StructureDefinition/usage-restriction";
/// NDH STU1 extension of a Restriction: a FHIRPath expression naming the elements it restricts.
pub const NDH_RESTRICT_FHIR_PATH: &str =
    "http://hl7.org/fhir/us/ndh/StructureDefinition/base-ext-restrictFhirPath";
/// The code system of `meta.security` confidentiality labels (`R` restricted, `V` very restricted).
pub const CONFIDENTIALITY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
/// The code system of the `REDACTED` label [`redact`] adds.
pub const OBSERVATION_VALUE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
