//! FHIR R4 and FHIRPath System type names and the subtype relation used by `is`, `as` and
//! `ofType()` (<http://hl7.org/fhirpath/N1/#types-and-reflection>,
//! <http://hl7.org/fhir/R4/fhirpath.html#types>).
//!
//! The crate has no StructureDefinitions at hand, so element types come from the JSON
//! itself: `resourceType`, the suffix of a choice element (`valueQuantity`), or, for
//! primitives of unknown type, the JSON kind.

use crate::ast::TypeSpec;

/// FHIR R4 primitive type names.
pub(crate) const PRIMITIVES: &[&str] = &[
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
    "xhtml",
];

/// FHIR R4 complex datatypes (all that can appear as a choice suffix, plus a few more).
const COMPLEX: &[&str] = &[
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "BackboneElement",
    "CodeableConcept",
    "Coding",
    "ContactDetail",
    "ContactPoint",
    "Contributor",
    "Count",
    "DataRequirement",
    "Distance",
    "Dosage",
    "Duration",
    "Element",
    "Expression",
    "Extension",
    "HumanName",
    "Identifier",
    "MarketingStatus",
    "Meta",
    "Money",
    "MoneyQuantity",
    "Narrative",
    "ParameterDefinition",
    "Period",
    "Population",
    "ProdCharacteristic",
    "ProductShelfLife",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "RelatedArtifact",
    "SampledData",
    "Signature",
    "SimpleQuantity",
    "SubstanceAmount",
    "Timing",
    "TriggerDefinition",
    "UsageContext",
];

/// Resource types that derive from Resource directly rather than DomainResource.
const PLAIN_RESOURCES: &[&str] = &["Bundle", "Binary", "Parameters"];

/// FHIRPath System types.
const SYSTEM: &[&str] = &[
    "Boolean", "String", "Integer", "Decimal", "Date", "DateTime", "Time", "Quantity",
];

/// The names of every choice element (`value[x]`, `onset[x]`, …) of FHIR R4, sorted. Only
/// these find a typed property (`value` finds `valueQuantity`): without a schema, any other
/// name would wrongly match a longer one that happens to end in a type name (TestScript's
/// `response` is not `responseCode`). `conformance`'s tests check the list against the R4
/// element model.
pub const CHOICE_STEMS: &[&str] = &[
    "abatement",
    "additive",
    "age",
    "allowed",
    "amount",
    "answer",
    "asNeeded",
    "author",
    "born",
    "bounds",
    "characteristic",
    "chargeItem",
    "code",
    "collected",
    "content",
    "created",
    "date",
    "deceased",
    "defaultValue",
    "definingSubstance",
    "definition",
    "detail",
    "diagnosis",
    "dose",
    "doseNumber",
    "due",
    "effective",
    "entity",
    "event",
    "example",
    "fastingStatus",
    "fixed",
    "identified",
    "indication",
    "item",
    "legallyBinding",
    "location",
    "manufacturer",
    "maxValue",
    "medication",
    "minValue",
    "minimumVolume",
    "module",
    "multipleBirth",
    "name",
    "occurred",
    "occurrence",
    "offset",
    "onset",
    "participantEffective",
    "pattern",
    "performed",
    "probability",
    "procedure",
    "product",
    "quantity",
    "rate",
    "reported",
    "scheduled",
    "seriesDoses",
    "serviced",
    "source",
    "start",
    "statusReason",
    "studyEffective",
    "subject",
    "substance",
    "target",
    "time",
    "timing",
    "topic",
    "used",
    "value",
    "when",
];

/// Type of a choice element from the suffix of its JSON key (`Quantity` in `valueQuantity`,
/// `dateTime` in `effectiveDateTime`).
pub(crate) fn choice_suffix_type(suffix: &str) -> Option<String> {
    let mut chars = suffix.chars();
    let first = chars.next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    if COMPLEX.contains(&suffix) || suffix == "Reference" {
        return Some(suffix.to_string());
    }
    let lowered: String = first.to_ascii_lowercase().to_string() + chars.as_str();
    PRIMITIVES.contains(&lowered.as_str()).then_some(lowered)
}

/// Whether `name` looks like a resource type (capitalised, not a datatype or System type).
pub(crate) fn is_resource_type_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && !COMPLEX.contains(&name)
        && !SYSTEM.contains(&name)
}

/// Direct supertype of a FHIR type.
fn parent(name: &str) -> Option<&'static str> {
    Some(match name {
        "code" | "id" | "markdown" => "string",
        "url" | "canonical" | "oid" | "uuid" => "uri",
        "positiveInt" | "unsignedInt" => "integer",
        "Age" | "Count" | "Distance" | "Duration" | "MoneyQuantity" | "SimpleQuantity" => {
            "Quantity"
        }
        "Resource" | "Element" => return None,
        "DomainResource" => "Resource",
        n if PLAIN_RESOURCES.contains(&n) => "Resource",
        n if PRIMITIVES.contains(&n) || COMPLEX.contains(&n) => "Element",
        n if is_resource_type_name(n) => "DomainResource",
        _ => return None,
    })
}

/// `actual` is `wanted` or one of its subtypes.
pub(crate) fn fhir_is_a(actual: &str, wanted: &str) -> bool {
    let mut cur = Some(actual);
    // The chain is at most 4 long (code -> string -> Element); the bound guards typos.
    for _ in 0..8 {
        match cur {
            Some(t) if t == wanted => return true,
            Some(t) => cur = parent(t),
            None => return false,
        }
    }
    false
}

/// The System type a FHIR primitive maps to.
pub(crate) fn system_type_of(fhir: &str) -> Option<&'static str> {
    Some(match fhir {
        "boolean" => "Boolean",
        "integer" | "positiveInt" | "unsignedInt" => "Integer",
        "decimal" => "Decimal",
        "date" => "Date",
        "dateTime" | "instant" => "DateTime",
        "time" => "Time",
        "Quantity" | "Age" | "Count" | "Distance" | "Duration" | "SimpleQuantity"
        | "MoneyQuantity" => "Quantity",
        n if PRIMITIVES.contains(&n) => "String",
        _ => return None,
    })
}

/// Namespace a type specifier is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Namespace {
    Fhir,
    System,
    /// Unqualified: FHIR first, then System (the FHIRPath resolution order).
    Either,
}

impl TypeSpec {
    pub(crate) fn namespace_kind(&self) -> Namespace {
        match self.namespace.as_deref() {
            Some("FHIR") => Namespace::Fhir,
            Some("System") => Namespace::System,
            _ => Namespace::Either,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtype_relation() {
        let yes = [
            ("code", "string"),
            ("Age", "Quantity"),
            ("Organization", "DomainResource"),
            ("Organization", "Resource"),
            ("Bundle", "Resource"),
            ("uuid", "uri"),
            ("Reference", "Element"),
        ];
        for (a, w) in yes {
            assert!(fhir_is_a(a, w), "{a} is {w}");
        }
        let no = [
            ("string", "code"),
            ("Bundle", "DomainResource"),
            ("Quantity", "Age"),
            ("Organization", "Practitioner"),
        ];
        for (a, w) in no {
            assert!(!fhir_is_a(a, w), "{a} is not {w}");
        }
    }

    #[test]
    fn choice_suffixes() {
        assert_eq!(choice_suffix_type("Quantity").as_deref(), Some("Quantity"));
        assert_eq!(choice_suffix_type("DateTime").as_deref(), Some("dateTime"));
        assert_eq!(
            choice_suffix_type("Base64Binary").as_deref(),
            Some("base64Binary")
        );
        assert_eq!(choice_suffix_type("Set"), None);
        assert_eq!(choice_suffix_type("string"), None);
    }
}
